"""The inbox (待办) and done list (已办): filtered, sorted, paginated reads of the task projection
joined with the case record. Never deserializes a workflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.models import Case, Task, TaskState
from engine.tasks import inbox_query
from engine.users import Actor

DueFilter = Literal["", "overdue", "soon", "later"]
SORTS = {
    "due": (Task.due_at.is_(None), Task.due_at, Task.id),
    "-priority": (Task.priority.desc(), Task.due_at, Task.id),
    "created": (Task.created_at, Task.id),
    "-created": (Task.created_at.desc(), Task.id.desc()),
}
SOON = timedelta(days=3)


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


def _filtered(query: Select[tuple[Task]], f: InboxFilter, actor: Actor, now: datetime) -> Select[tuple[Task]]:
    if f.process:  # one key, or several separated by commas (a process and its embedded subprocesses)
        query = query.where(Task.process_key.in_(f.process.split(",")))
    if f.stage:
        query = query.where(Task.stage == f.stage)
    if f.due == "overdue":
        query = query.where(Task.due_at < now)
    elif f.due == "soon":
        query = query.where(Task.due_at >= now, Task.due_at < now + SOON)
    elif f.due == "later":
        query = query.where(or_(Task.due_at.is_(None), Task.due_at >= now + SOON))
    if f.party:
        like = f"%{f.party.strip()[:100]}%"
        query = query.where(
            Task.case_id.in_(select(Case.id).where(or_(Case.party_name.like(like), Case.number.like(like))))
        )
    if f.mine_only:
        query = query.where(Task.assignee == actor.username)
    return query


def inbox(session: Session, actor: Actor, f: InboxFilter, *, page: int = 1, per_page: int = 20) -> Page:
    """The actor's open tasks (assigned to them, or unclaimed in their groups) as one page."""
    now = utcnow()
    query = _filtered(inbox_query(actor), f, actor, now)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    page = max(1, page)
    # The page's ids first (read from the index), then only those rows: ordering whole rows would
    # fetch every matching task from the table to keep 20.
    ids = list(
        session.scalars(
            query.with_only_columns(Task.id)
            .order_by(*SORTS.get(f.sort, SORTS["due"]))
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
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
