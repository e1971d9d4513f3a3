"""Official numbers (文号), e.g. 渝北医保罚〔2026〕12号: one sequence per kind, unit and year, with no
gaps and no duplicates. The sequence row stays locked until the caller's transaction ends, so a
rolled-back step gives its number back and two concurrent steps never share one."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine.clock import to_beijing, utcnow
from engine.models import NumberSequence, Unit


def next_number(session: Session, kind: str, unit_code: str, year: int | None = None) -> int:
    """Issue the next number of `kind` for `unit_code` and `year` (default: this Beijing year)."""
    year = year or to_beijing(utcnow()).year
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert  # type: ignore[union-attr]
    session.execute(
        insert(NumberSequence)
        .values(kind=kind, unit_code=unit_code, year=year, last=0)
        .on_conflict_do_nothing(index_elements=["kind", "unit_code", "year"])
    )
    key = (
        (NumberSequence.kind == kind)
        & (NumberSequence.unit_code == unit_code)
        & (NumberSequence.year == year)
    )
    session.execute(
        update(NumberSequence).where(key).values(last=NumberSequence.last + 1)
    )  # takes the row lock
    return int(session.scalars(select(NumberSequence.last).where(key)).one())


def format_number(session: Session, kind: str, unit_code: str | None, year: int | None = None) -> str:
    """The next 文号 of `kind`, e.g. 渝北医保立〔2024〕3号 (prefix from the unit or its bureau)."""
    year = year or to_beijing(utcnow()).year
    code = unit_code or "-"
    prefix = _prefix(session, unit_code)
    return f"{prefix}{kind}〔{year}〕{next_number(session, kind, code, year)}号"


def _prefix(session: Session, unit_code: str | None) -> str:
    code = unit_code
    for _ in range(10):
        unit = session.get(Unit, code) if code else None
        if unit is None:
            return "医保"
        if unit.doc_prefix:
            return unit.doc_prefix
        code = unit.parent_code
    return "医保"
