"""Human tasks: list them from the projection (never deserializing a workflow), complete, claim."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, delete, or_, select
from sqlalchemy.orm import Session

from engine import forms, instances, registry
from engine.clock import utcnow
from engine.errors import ConcurrentUpdateError, NotFoundError, NotPermittedError, TaskAlreadyCompletedError
from engine.models import Task, TaskGroup, TaskState
from engine.users import Actor, can_work
from engine.workflow import runtime


def get(session: Session, task_id: int) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise NotFoundError(f"任务 {task_id} 不存在")
    return task


def form_for(session: Session, task: Task) -> forms.Form:
    """The task's form, read from its pinned spec (no workflow is deserialized)."""
    instance = instances.get(session, task.instance_id)
    bundle = registry.bundle_for(session, instance)
    return forms.form_of(bundle.task_spec(task.process_key, task.bpmn_id).extensions or {})


def complete(
    session: Session, task_id: int, *, actor: Actor, data: Mapping[str, Any], outcome: str | None = None
) -> Task:
    """Validate the form, complete the task and run its process to the next wait state, in the
    caller's transaction. Raises TaskAlreadyCompletedError / ConcurrentUpdateError when someone
    else got there first, NotPermittedError, FormValidationError, WorkflowScriptError."""
    task = get(session, task_id)
    if task.state != TaskState.OPEN:
        raise TaskAlreadyCompletedError()
    if not can_work(actor, task):
        raise NotPermittedError()
    instance = instances.get(session, task.instance_id)
    loaded = instances.load(session, instance, actor)
    spiff_task = runtime.find_task(loaded.workflow, task.spiff_task_id)
    if spiff_task is None or not runtime.is_ready_user_task(spiff_task):
        raise ConcurrentUpdateError()
    form = forms.form_of(spiff_task.task_spec.extensions or {})
    values = forms.validate(form, data)
    now = utcnow()
    task.state = TaskState.COMPLETED
    task.completed_at = now
    task.completed_by = actor.username
    task.form_data = forms.to_json(values)
    task.outcome = outcome or _outcome(values)
    task.draft = None
    session.execute(delete(TaskGroup).where(TaskGroup.task_id == task.id))
    runtime.complete(loaded.workflow, spiff_task, values)
    instances.save(
        session,
        loaded,
        actor=actor,
        action="task.complete",
        object_type="task",
        object_id=str(task.id),
        detail={"bpmn_id": task.bpmn_id, "name": task.name, "data": task.form_data},
    )
    return task


def _outcome(values: Mapping[str, Any]) -> str | None:
    """By convention an enum field named `decision` or `outcome` records the task's outcome."""
    for key in ("decision", "outcome", "result"):
        if isinstance(values.get(key), str):
            return str(values[key])
    return None


def claim(session: Session, task_id: int, *, actor: Actor) -> Task:
    """Take an unassigned group task; raises TaskAlreadyCompletedError, NotPermittedError."""
    task = get(session, task_id)
    if task.state != TaskState.OPEN:
        raise TaskAlreadyCompletedError()
    if not can_work(actor, task):
        raise NotPermittedError()
    if task.assignee and task.assignee != actor.username:
        raise ConcurrentUpdateError("该任务已被他人认领，请刷新")
    task.assignee = actor.username
    return task


def inbox_query(actor: Actor) -> Select[tuple[Task]]:
    """Open tasks assigned to the actor, or unassigned in one of their groups, in their bureau."""
    groups = select(TaskGroup.task_id).where(TaskGroup.group_code.in_(sorted(actor.roles)))
    query = select(Task).where(
        Task.state == TaskState.OPEN,
        or_(Task.assignee == actor.username, (Task.assignee.is_(None) & Task.id.in_(groups))),
    )
    if actor.bureau:
        query = query.where(or_(Task.unit_code.is_(None), Task.unit_code == actor.bureau))
    return query


def list_open(
    session: Session, *, actor: Actor | None = None, role: str | None = None, limit: int = 200
) -> list[Task]:
    """Open tasks: the actor's inbox, or all open tasks of a role, soonest due first."""
    if actor is not None:
        query = inbox_query(actor)
    else:
        query = select(Task).where(Task.state == TaskState.OPEN)
        if role:
            query = query.where(Task.id.in_(select(TaskGroup.task_id).where(TaskGroup.group_code == role)))
    query = query.order_by(Task.due_at.is_(None), Task.due_at, Task.id).limit(limit)
    return list(session.scalars(query))


def list_for_instance(session: Session, instance_id: int) -> list[Task]:
    return list(session.scalars(select(Task).where(Task.instance_id == instance_id).order_by(Task.id)))


def list_overdue(session: Session, *, limit: int = 200) -> list[Task]:
    """Open tasks whose due instant has passed, most overdue first."""
    query = (
        select(Task)
        .where(Task.state == TaskState.OPEN, Task.due_at.is_not(None), Task.due_at < utcnow())
        .order_by(Task.due_at, Task.id)
        .limit(limit)
    )
    return list(session.scalars(query))
