"""超期督办: every open user task and running legal clock that is overdue or due within N working
days, grouped and filtered by process, stage, officer, unit and institution. Reads projections
only (tasks, legal_clocks, cases, process_instances) — never a workflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Select, case, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from engine import calendar
from engine.clock import to_beijing, utcnow
from engine.models import Case, ClockStatus, LegalClock, ProcessInstance, Task, TaskState

GroupBy = Literal["process", "stage", "officer", "unit", "institution"]
GROUPS: tuple[GroupBy, ...] = ("process", "stage", "officer", "unit", "institution")


@dataclass(frozen=True)
class BoardFilter:
    within_workdays: int = 3  # due within N working days (overdue items are always included)
    only_overdue: bool = False
    process: str = ""
    stage: str = ""
    officer: str = ""
    unit: str = ""
    institution: str = ""
    bureau: str | None = None  # the viewer's 区局: they see only their own


@dataclass(frozen=True)
class BoardRow:
    kind: str  # "task" or "clock"
    item_id: int
    name: str
    process: str
    stage: str
    officer: str
    unit: str
    institution: str
    case_id: int | None
    case_number: str | None
    due_at: datetime
    due_unverified: bool


def _threshold(session: Session, f: BoardFilter, now: datetime) -> datetime:
    if f.only_overdue:
        return now
    cal = calendar.load_calendar(session)
    return calendar.add_workdays(cal, to_beijing(now).date(), max(0, f.within_workdays)).due_at


def _items(f: BoardFilter, threshold: datetime) -> Select[tuple[object, ...]]:
    tasks = (
        select(
            literal("task").label("kind"),
            Task.id.label("item_id"),
            Task.name.label("name"),
            Task.process_key.label("process"),
            Task.stage.label("stage"),
            func.coalesce(Task.assignee, Task.role).label("officer"),
            func.coalesce(Task.unit_code, "").label("unit"),
            func.coalesce(Case.party_name, "").label("institution"),
            Task.case_id.label("case_id"),
            Case.number.label("case_number"),
            Task.due_at.label("due_at"),
            Task.due_unverified.label("due_unverified"),
        )
        .outerjoin(Case, Case.id == Task.case_id)
        .where(Task.state == TaskState.OPEN, Task.due_at.is_not(None), Task.due_at <= threshold)
    )
    clocks = (
        select(
            literal("clock").label("kind"),
            LegalClock.id.label("item_id"),
            LegalClock.name.label("name"),
            ProcessInstance.process_key.label("process"),
            func.coalesce(Case.stage, "").label("stage"),
            literal("").label("officer"),
            func.coalesce(ProcessInstance.unit_code, "").label("unit"),
            func.coalesce(Case.party_name, "").label("institution"),
            LegalClock.case_id.label("case_id"),
            Case.number.label("case_number"),
            LegalClock.due_at.label("due_at"),
            LegalClock.due_unverified.label("due_unverified"),
        )
        .join(ProcessInstance, ProcessInstance.id == LegalClock.instance_id)
        .outerjoin(Case, Case.id == LegalClock.case_id)
        .where(LegalClock.status == ClockStatus.RUNNING, LegalClock.due_at <= threshold)
    )
    return union_all(tasks, clocks).subquery("items")  # type: ignore[return-value]


def _filtered(items, f: BoardFilter):  # type: ignore[no-untyped-def]
    query = select(items)
    for name in ("process", "stage", "officer", "unit"):
        value = getattr(f, name)
        if value:
            query = query.where(items.c[name] == value)
    if f.institution:
        query = query.where(items.c.institution.like(f"%{f.institution[:100]}%"))
    if f.bureau:
        query = query.where(or_(items.c.unit == f.bureau, items.c.unit == ""))
    return query


def board(
    session: Session, f: BoardFilter, *, limit: int = 100, offset: int = 0
) -> tuple[list[BoardRow], int]:
    """The items due by the filter's horizon, most overdue first, and how many there are."""
    now = utcnow()
    query = _filtered(_items(f, _threshold(session, f, now)), f)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by("due_at", "kind", "item_id").limit(limit).offset(offset)).all()
    return [BoardRow(**row._mapping) for row in rows], total


def counts(session: Session, f: BoardFilter, group: GroupBy) -> list[tuple[str, int, int]]:
    """(group value, overdue count, due-soon count) per value of `group`, most overdue first."""
    now = utcnow()
    items = _filtered(_items(f, _threshold(session, f, now)), f).subquery()
    overdue = func.sum(case((items.c.due_at < now, 1), else_=0))
    query = (
        select(items.c[group], func.count(), overdue)
        .group_by(items.c[group])
        .order_by(overdue.desc(), func.count().desc(), items.c[group])
    )
    return [
        (str(value or "—"), int(over or 0), int(total) - int(over or 0))
        for value, total, over in session.execute(query)
    ]
