"""Case search (案件查询): by number, party, violation type, officer, opening date and status, within
the searcher's own bureau, newest first, one page at a time."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Select, Text, cast, func, or_, select
from sqlalchemy.orm import Session

from engine.cases import CASE_STATUSES
from engine.clock import BEIJING
from engine.models import Case, Task, User
from engine.users import Actor

PER_PAGE = 20
MAX_TEXT = 100


@dataclass(frozen=True)
class CaseQuery:
    number: str = ""
    party: str = ""
    violation: str = ""
    officer: str = ""
    opened_from: date | None = None
    opened_to: date | None = None
    status: str = ""

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, f.name) in ("", None) for f in fields(self))


@dataclass(frozen=True)
class CaseRow:
    case: Case
    officers: list[str]  # usernames of those who completed one of its tasks


@dataclass(frozen=True)
class Page:
    rows: list[CaseRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def parse_query(args: Mapping[str, str]) -> tuple[CaseQuery, dict[str, str]]:
    """A CaseQuery from form/query-string values, and Chinese messages for the fields that were wrong
    (those fields are left out of the query, the rest still apply)."""
    errors: dict[str, str] = {}

    def text(name: str) -> str:
        value = " ".join(str(args.get(name, "") or "").split())
        if len(value) > MAX_TEXT:
            errors[name] = f"最多 {MAX_TEXT} 个字"
            return ""
        return value

    def day(name: str) -> date | None:
        raw = str(args.get(name, "") or "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            errors[name] = "日期格式应为 年-月-日，如 2024-09-23"
            return None

    status = str(args.get("status", "") or "").strip()
    if status and status not in CASE_STATUSES:
        errors["status"] = "请从列表中选择案件状态"
        status = ""
    opened_from, opened_to = day("opened_from"), day("opened_to")
    if opened_from and opened_to and opened_from > opened_to:
        errors["opened_to"] = "结束日期不能早于开始日期"
        opened_to = None
    query = CaseQuery(
        number=text("number"),
        party=text("party"),
        violation=text("violation"),
        officer=text("officer"),
        opened_from=opened_from,
        opened_to=opened_to,
        status=status,
    )
    return query, errors


def _like(term: str) -> str:
    escaped = term.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped}%"


def _contains(column: ColumnElement[str], term: str) -> ColumnElement[bool]:
    return column.like(_like(term), escape="/")


def _violation_matches(term: str) -> ColumnElement[bool]:
    # violation_types is a JSON list; its stored text has non-ASCII escaped (\uXXXX) by the JSON
    # serializer, so look for the escaped form as well as the plain one.
    as_text = cast(Case.violation_types, Text)
    escaped = json.dumps(term)[1:-1]
    return or_(_contains(as_text, term), _contains(as_text, escaped))


def _beijing_midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=BEIJING)


def build(q: CaseQuery, actor: Actor) -> Select[tuple[Case]]:
    """The query for `q` within the actor's bureau (all bureaus only for a bureau-less system actor)."""
    query = select(Case)
    if actor.bureau:
        query = query.where(Case.unit_code == actor.bureau)
    if q.number:
        query = query.where(_contains(Case.number, q.number))
    if q.party:
        query = query.where(_contains(Case.party_name, q.party))
    if q.violation:
        query = query.where(_violation_matches(q.violation))
    if q.officer:
        people = select(User.username).where(
            or_(_contains(User.username, q.officer), _contains(User.full_name, q.officer))
        )
        worked = select(Task.case_id).where(
            Task.case_id.is_not(None), or_(Task.completed_by.in_(people), Task.assignee.in_(people))
        )
        query = query.where(Case.id.in_(worked))
    if q.opened_from:
        query = query.where(Case.opened_at >= _beijing_midnight(q.opened_from))
    if q.opened_to:
        query = query.where(Case.opened_at < _beijing_midnight(q.opened_to + timedelta(days=1)))
    if q.status:
        query = query.where(Case.status == q.status)
    return query


def search(session: Session, actor: Actor, q: CaseQuery, *, page: int = 1, per_page: int = PER_PAGE) -> Page:
    """One page of the cases matching `q` in the actor's bureau, newest first."""
    query = build(q, actor)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, min(page, max(1, -(-total // per_page))))
    ordered = (
        query.order_by(Case.opened_at.desc(), Case.id.desc()).limit(per_page).offset((page - 1) * per_page)
    )
    cases = list(session.scalars(ordered))
    return Page(_with_officers(session, cases), total, page, per_page)


def _with_officers(session: Session, cases: list[Case]) -> list[CaseRow]:
    ids = [c.id for c in cases]
    officers: dict[int, list[str]] = {}
    if ids:
        pairs = session.execute(
            select(Task.case_id, Task.completed_by)
            .where(Task.case_id.in_(ids), Task.completed_by.is_not(None))
            .distinct()
            .order_by(Task.case_id, Task.completed_by)
        )
        for case_id, username in pairs:
            officers.setdefault(case_id, []).append(username)
    return [CaseRow(c, officers.get(c.id, [])) for c in cases]
