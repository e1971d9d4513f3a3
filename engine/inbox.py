"""The inbox (待办) and done list (已办): filtered, sorted, paginated reads of the task projection
joined with the case record. Never deserializes a workflow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, or_, select, union_all
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.models import Case, Task, TaskState
from engine.tasks import inbox_branches, inbox_query
from engine.users import Actor

DueFilter = Literal["", "overdue", "soon", "later"]
SortKeys = Callable[[Any], tuple[ColumnElement[Any], ...]]
SORTS: dict[str, SortKeys] = {  # over the columns id, due_at, priority, created_at of a subquery
    "due": lambda c: (c.due_at.is_(None), c.due_at, c.id),
    "-priority": lambda c: (c.priority.desc(), c.due_at.is_(None), c.due_at, c.id),
    "created": lambda c: (c.created_at, c.id),
    "-created": lambda c: (c.created_at.desc(), c.id.desc()),
}
SOON = timedelta(days=3)
FEW_CASES = 200  # a party filter matching at most this many cases reads their tasks by case


@dataclass(frozen=True)
class InboxFilter:
    process: str = ""
    stage: str = ""
    due: DueFilter = ""
    party: str = ""
    mine_only: bool = False
    sort: str = "due"


@dataclass(frozen=True)
class InboxRow:
    task: Task
    case_number: str | None
    party_name: str | None
    case_stage: str | None


@dataclass(frozen=True)
class Page:
    rows: list[InboxRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _filters(f: InboxFilter, now: datetime) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if f.process:  # one key, or several separated by commas (a process and its embedded subprocesses)
        out.append(Task.process_key.in_(f.process.split(",")))
    if f.stage:
        out.append(Task.stage == f.stage)
    if f.due == "overdue":
        out.append(Task.due_at < now)
    elif f.due == "soon":
        out.append(and_(Task.due_at >= now, Task.due_at < now + SOON))
    elif f.due == "later":
        out.append(or_(Task.due_at.is_(None), Task.due_at >= now + SOON))
    return out


def _party_cases(session: Session, party: str) -> tuple[ColumnElement[bool], bool]:
    """The party filter (当事人 or 案号, any part of it). A few matching cases: their ids, so the
    query reads those cases' tasks by ix_tasks_case_id. Many: a CTE of the case ids, one scan of
    the case records shared by every branch (both databases materialize a CTE used twice)."""
    part = party.strip()[:100]  # autoescape: a typed % or _ is a character, not a wildcard
    matching = select(Case.id).where(
        or_(Case.party_name.contains(part, autoescape=True), Case.number.contains(part, autoescape=True))
    )
    ids = list(session.scalars(matching.limit(FEW_CASES + 1)))
    if len(ids) <= FEW_CASES:
        return Task.case_id.in_(ids), True
    return Task.case_id.in_(select(matching.cte("parties").c.id)), False


def inbox(session: Session, actor: Actor, f: InboxFilter, *, page: int = 1, per_page: int = 20) -> Page:
    """The actor's open tasks (assigned to them, or unclaimed in their groups) as one page.

    One query per branch of `inbox_branches`, glued by UNION ALL (the branches are disjoint), so
    each reads its own range of ix_tasks_inbox; the page's ids and the total come from one pass
    (a window count), then only those 20 rows are read from the table. Filtered to the tasks of
    a few cases, one query reads those cases' tasks instead."""
    page = max(1, page)
    filters = _filters(f, utcnow())
    columns = (Task.id, Task.due_at, Task.priority, Task.created_at)
    few = False
    if f.party:
        cases, few = _party_cases(session, f.party)
        filters.append(cases)
    branches = inbox_branches(actor, mine_only=f.mine_only, by_index=not few)
    if few:  # one query over those cases' tasks, not one per index range
        branches = [or_(*branches)]
    matching = union_all(*(select(*columns).where(branch, *filters) for branch in branches)).subquery()
    order = SORTS.get(f.sort, SORTS["due"])
    rows = session.execute(
        select(matching.c.id, func.count().over())
        .order_by(*order(matching.c))
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    # Past the last page (or nothing at all) there is no row to carry the total: count alone.
    total = rows[0][1] if rows else session.scalar(select(func.count()).select_from(matching)) or 0
    ids = [row[0] for row in rows]
    by_id = {t.id: t for t in session.scalars(select(Task).where(Task.id.in_(ids)))} if ids else {}
    return Page(_with_cases(session, [by_id[i] for i in ids]), total, page, per_page)


def done(session: Session, actor: Actor, *, page: int = 1, per_page: int = 20) -> Page:
    """已办: tasks the actor completed, newest first."""
    query = select(Task).where(Task.completed_by == actor.username, Task.state == TaskState.COMPLETED)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, page)
    ordered = (
        query.order_by(Task.completed_at.desc(), Task.id.desc()).limit(per_page).offset((page - 1) * per_page)
    )
    return Page(_with_cases(session, list(session.scalars(ordered))), total, page, per_page)


def _with_cases(session: Session, rows: list[Task]) -> list[InboxRow]:
    ids = {t.case_id for t in rows if t.case_id is not None}
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(ids)))} if ids else {}
    out = []
    for t in rows:
        c = cases.get(t.case_id) if t.case_id is not None else None
        out.append(InboxRow(t, c.number if c else None, c.party_name if c else None, c.stage if c else None))
    return out


def facets(session: Session, actor: Actor) -> tuple[list[str], list[str]]:
    """The processes and stages present in the actor's inbox, for the filter drop-downs."""
    base = inbox_query(actor).subquery()
    processes = sorted(p for p in session.scalars(select(base.c.process_key).distinct()) if p)
    stages = sorted(s for s in session.scalars(select(base.c.stage).distinct()) if s)
    return processes, stages
