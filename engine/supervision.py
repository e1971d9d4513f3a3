"""超期督办: every open user task and running legal clock that is overdue or due within N working
days, grouped and filtered by process, stage, officer, unit and institution. Reads projections
only: the deadline_items table engine/deadlines.py keeps in step — never a workflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from engine import audit, calendar, reminders
from engine.clock import to_beijing, utcnow
from engine.errors import InputError, NotFoundError, NotPermittedError, TaskAlreadyCompletedError
from engine.models import (
    AuditEvent,
    Case,
    DeadlineItem,
    Notification,
    Task,
    TaskState,
    User,
)
from engine.users import Actor

GroupBy = Literal["process", "stage", "officer", "unit", "institution"]
GROUPS: tuple[GroupBy, ...] = ("process", "stage", "officer", "unit", "institution")
# Who reads the board and may 催办: 督办, 科室负责人, 分管领导, 局长 (each sees only their own 区局).
BOARD_ROLES = ("supervisor", "section_chief", "deputy_director", "director")


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
    officer: str  # the assignee (a username), the candidate role when unclaimed; a clock's starter
    unit: str  # the officer's 科室, else the 区局
    bureau: str
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


def _filtered(f: BoardFilter, threshold: datetime) -> Select[Any]:
    query = select(*(DeadlineItem.__table__.c[name] for name in BoardRow.__dataclass_fields__)).where(
        DeadlineItem.due_at <= threshold
    )
    for name in ("process", "stage", "officer", "unit"):
        value = getattr(f, name)
        if value:
            query = query.where(DeadlineItem.__table__.c[name] == value)
    if f.institution:
        query = query.where(DeadlineItem.institution.like(f"%{f.institution[:100]}%"))
    if f.bureau:
        query = query.where(DeadlineItem.bureau.in_([f.bureau, ""]))
    return query


def board(
    session: Session, f: BoardFilter, *, limit: int = 100, offset: int = 0
) -> tuple[list[BoardRow], int]:
    """The items due by the filter's horizon, most overdue first, and how many there are."""
    query = _filtered(f, _threshold(session, f, utcnow()))
    total = session.scalar(query.with_only_columns(func.count()).order_by(None)) or 0
    page = query.order_by(DeadlineItem.due_at, DeadlineItem.kind, DeadlineItem.item_id)
    rows = session.execute(page.limit(limit).offset(offset)).all()
    return [BoardRow(**row._mapping) for row in rows], total


def counts(session: Session, f: BoardFilter, group: GroupBy) -> list[tuple[str, int, int]]:
    """(group value, overdue count, due-soon count) per value of `group`, most overdue first ("" is
    an item without one, e.g. a case without an institution)."""
    now = utcnow()
    column = DeadlineItem.__table__.c[group]
    overdue = func.sum(case((DeadlineItem.due_at < now, 1), else_=0))
    query = (
        _filtered(f, _threshold(session, f, now))
        .with_only_columns(column, func.count(), overdue)
        .group_by(column)
        .order_by(overdue.desc(), func.count().desc(), column)
    )
    return [
        (str(value or ""), int(over or 0), int(total) - int(over or 0))
        for value, total, over in session.execute(query)
    ]


# --- 催办 -----------------------------------------------------------------------------------------
def urge(session: Session, task_id: int, *, actor: Actor, message: str) -> list[Notification]:
    """催办: tell whoever works an open task (its assignee, or its candidate group when unclaimed) to
    get on with it: a bell entry and an email each, audited on the task (the case timeline shows it).
    Raises NotPermittedError, InputError, TaskAlreadyCompletedError, NotFoundError."""
    task = session.get(Task, task_id)
    if task is None:
        raise NotFoundError(f"任务 {task_id} 不存在")
    if task.state != TaskState.OPEN:
        raise TaskAlreadyCompletedError("该任务已办结，无需催办")
    if not actor.roles & set(BOARD_ROLES):
        raise NotPermittedError("只有督办人员和局、科室负责人可以催办")
    if actor.bureau and task.unit_code and task.unit_code != actor.bureau:
        raise NotPermittedError("只能催办本局的任务")
    text = " ".join(message.split())
    if not text:
        raise InputError("请填写催办意见")
    if len(text) > reminders.MAX_MESSAGE:
        raise InputError(f"催办意见不能超过 {reminders.MAX_MESSAGE} 字")
    recipients = reminders.Directory(session).workers(task)
    if not recipients:
        raise InputError("该任务暂无可催办的办理人")
    sender = session.scalars(select(User.full_name).where(User.username == actor.username)).first()
    case = session.get(Case, task.case_id) if task.case_id else None
    cal = calendar.load_calendar(session)
    what = reminders.describe(case, f"任务「{task.name}」")
    body = f"{sender or actor.username}催办{what}：{text}\n期限：{reminders.due_line(cal, task.due_at)}"
    audit.record(
        session, actor=actor.username, client_addr=actor.client_addr, action="task.urge", object_type="task",
        object_id=str(task.id), case_id=task.case_id, instance_id=task.instance_id,
        detail={"bpmn_id": task.bpmn_id, "name": task.name, "reason": text, "to": recipients},
    )  # fmt: skip
    title = f"【催办】{task.name}" + (f" {case.number}" if case is not None and case.number else "")
    notes = [
        reminders.notify(
            session,
            recipient=r,
            kind="urge",
            title=title,
            body=body,
            task_id=task.id,
            case_id=task.case_id,
            created_by=actor.username,
        )
        for r in recipients
    ]
    return [n for n in notes if n is not None]


@dataclass(frozen=True)
class Urge:
    at: datetime
    actor: str
    message: str
    to: list[str]


def urges_of(session: Session, task_id: int) -> list[Urge]:
    """The 催办 of a task, oldest first, as the audit trail recorded them."""
    events = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.object_type == "task",
            AuditEvent.object_id == str(task_id),
            AuditEvent.action == "task.urge",
        )
        .order_by(AuditEvent.seq)
    )
    return [
        Urge(e.occurred_at, e.actor, str(e.detail.get("reason", "")), list(e.detail.get("to") or []))
        for e in events
    ]
