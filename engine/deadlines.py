"""The `deadline_items` projection the 超期督办 board reads: one row per open user task with a due date
and per running legal clock, carrying the process, stage, officer, unit, 区局, institution and case
number it is grouped and filtered by. `refresh` recomputes the rows of what a change touched (an
instance, a case, an officer) from tasks, legal_clocks, cases, process_instances and users and
writes only the differences, in the caller's transaction; `rebuild` fills the table from scratch
(the Alembic revision, benchmarks)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased

from engine.models import Case, ClockStatus, DeadlineItem, LegalClock, ProcessInstance, Task, TaskState, User

COLUMNS = (
    "kind", "item_id", "instance_id", "name", "process", "stage", "officer", "unit", "bureau",
    "institution", "case_id", "case_number", "due_at", "due_unverified",
)  # fmt: skip


def _tasks(where: ColumnElement[bool]) -> Select[Any]:
    worker = aliased(User)
    return (
        select(
            literal("task").label("kind"),
            Task.id.label("item_id"),
            Task.instance_id.label("instance_id"),
            Task.name.label("name"),
            ProcessInstance.process_key.label("process"),  # not Task's: that names an embedded subprocess
            Task.stage.label("stage"),
            func.coalesce(Task.assignee, Task.role, "").label("officer"),
            func.coalesce(worker.unit_code, Task.unit_code, "").label("unit"),
            func.coalesce(Task.unit_code, "").label("bureau"),
            func.coalesce(Case.party_name, "").label("institution"),
            Task.case_id.label("case_id"),
            Case.number.label("case_number"),
            Task.due_at.label("due_at"),
            Task.due_unverified.label("due_unverified"),
        )
        .join(ProcessInstance, ProcessInstance.id == Task.instance_id)
        .outerjoin(Case, Case.id == Task.case_id)
        .outerjoin(worker, worker.username == Task.assignee)
        .where(Task.state == TaskState.OPEN, Task.due_at.is_not(None), where)
    )


def _clocks(where: ColumnElement[bool]) -> Select[Any]:
    starter = aliased(User)
    return (
        select(
            literal("clock").label("kind"),
            LegalClock.id.label("item_id"),
            LegalClock.instance_id.label("instance_id"),
            LegalClock.name.label("name"),
            ProcessInstance.process_key.label("process"),
            func.coalesce(Case.stage, "").label("stage"),
            ProcessInstance.started_by.label("officer"),
            func.coalesce(starter.unit_code, ProcessInstance.unit_code, "").label("unit"),
            func.coalesce(ProcessInstance.unit_code, "").label("bureau"),
            func.coalesce(Case.party_name, "").label("institution"),
            LegalClock.case_id.label("case_id"),
            Case.number.label("case_number"),
            LegalClock.due_at.label("due_at"),
            LegalClock.due_unverified.label("due_unverified"),
        )
        .join(ProcessInstance, ProcessInstance.id == LegalClock.instance_id)
        .outerjoin(Case, Case.id == LegalClock.case_id)
        .outerjoin(starter, starter.username == ProcessInstance.started_by)
        .where(LegalClock.status == ClockStatus.RUNNING, LegalClock.due_at.is_not(None), where)
    )


def refresh(
    session: Session,
    *,
    instance_ids: Collection[int] = (),
    case_ids: Collection[int | None] = (),
    officers: Collection[str] = (),
) -> None:
    """Bring the rows of these instances, cases and officers (assignee or clock starter) in line with
    the tables they project. Most calls change nothing and then write nothing."""
    instances = sorted(set(instance_ids))
    cases = sorted({c for c in case_ids if c is not None})
    people = sorted(set(officers))
    if not (instances or cases or people):
        return

    def among(instance_col: Any, case_col: Any, officer_col: Any) -> ColumnElement[bool]:
        terms = []
        if instances:
            terms.append(instance_col.in_(instances))
        if cases:
            terms.append(case_col.in_(cases))
        if people:
            terms.append(officer_col.in_(people))
        return or_(false(), *terms)

    session.flush()
    wanted = {
        (row.kind, row.item_id): row._mapping
        for source in (
            _tasks(among(Task.instance_id, Task.case_id, Task.assignee)),
            _clocks(among(LegalClock.instance_id, LegalClock.case_id, ProcessInstance.started_by)),
        )
        for row in session.execute(source)
    }
    have = session.scalars(
        select(DeadlineItem).where(
            among(DeadlineItem.instance_id, DeadlineItem.case_id, DeadlineItem.officer)
        )
    ).all()
    for item in have:
        values = wanted.pop((item.kind, item.item_id), None)
        if values is None:
            session.delete(item)
            continue
        for name in COLUMNS:
            if getattr(item, name) != values[name]:
                setattr(item, name, values[name])
    session.add_all(DeadlineItem(**{name: values[name] for name in COLUMNS}) for values in wanted.values())


def rebuild(connection: Connection) -> int:
    """Fill deadline_items from scratch (every open task and running clock); returns the row count."""
    connection.execute(delete(DeadlineItem))
    for source in (_tasks(true()), _clocks(true())):
        connection.execute(insert(DeadlineItem).from_select(list(COLUMNS), source))
    return connection.scalar(select(func.count()).select_from(DeadlineItem)) or 0
