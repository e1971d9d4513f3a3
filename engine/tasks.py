"""Human tasks: list them from the projection (never deserializing a workflow), complete, claim."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, or_, select, true
from sqlalchemy.orm import Session

from engine import audit, deadlines, forms, instances, registry
from engine.clock import utcnow
from engine.db import unindexed
from engine.errors import (
    ConcurrentUpdateError,
    InputError,
    NotFoundError,
    NotPermittedError,
    TaskAlreadyCompletedError,
)
from engine.models import Task, TaskGroup, TaskState
from engine.roles import split_list
from engine.users import Actor, actor_for, can_work
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
    _audit(session, task, actor, "task.claim")
    deadlines.refresh(session, instance_ids=[task.instance_id])
    return task


def inbox_branches(
    actor: Actor, *, mine_only: bool = False, by_index: bool = True
) -> list[ColumnElement[bool]]:
    """The actor's open tasks as disjoint conditions, each an equality prefix of ix_tasks_inbox
    (state, assignee, unit_code): assigned to the actor, or unclaimed in one of their groups; in
    their bureau or in none. A query ORing them scans every open task; one branch per index range
    reads only the actor's entries, and a due-date filter narrows each range further.
    by_index=False keeps SQLite off that index, for a query another condition narrows better."""
    groups = select(TaskGroup.task_id).where(TaskGroup.group_code.in_(sorted(actor.roles)))
    state = Task.state if by_index else unindexed(Task.state)
    owners: list[ColumnElement[bool]] = [Task.assignee == actor.username]
    if not mine_only:
        # `id + 0`: test membership while reading the index range, never fetch each group task by
        # its id (SQLite picks that with statistics: one random row read per task of the group).
        owners.append(and_(Task.assignee.is_(None), (Task.id + 0).in_(groups)))
    units: list[ColumnElement[bool]] = (
        [Task.unit_code.is_(None), Task.unit_code == actor.bureau] if actor.bureau else [true()]
    )
    return [and_(state == TaskState.OPEN, owner, unit) for owner in owners for unit in units]


def inbox_query(actor: Actor) -> Select[tuple[Task]]:
    """Open tasks assigned to the actor, or unassigned in one of their groups, in their bureau."""
    return select(Task).where(or_(*inbox_branches(actor)))


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


def _open_task(session: Session, task_id: int) -> Task:
    task = get(session, task_id)
    if task.state != TaskState.OPEN:
        raise TaskAlreadyCompletedError()
    return task


def _audit(session: Session, task: Task, actor: Actor, action: str, **detail: Any) -> None:
    audit.record(
        session,
        actor=actor.username,
        client_addr=actor.client_addr,
        action=action,
        object_type="task",
        object_id=str(task.id),
        case_id=task.case_id,
        instance_id=task.instance_id,
        detail={"bpmn_id": task.bpmn_id, "name": task.name, **detail},
    )


def unclaim(session: Session, task_id: int, *, actor: Actor) -> Task:
    """Give a claimed task back to its group; only its assignee may."""
    task = _open_task(session, task_id)
    if task.assignee != actor.username:
        raise NotPermittedError("只有任务的认领人可以退回认领")
    task.assignee = None
    _audit(session, task, actor, "task.unclaim")
    deadlines.refresh(session, instance_ids=[task.instance_id])
    return task


def reassign(session: Session, task_id: int, *, actor: Actor, to_user: str, reason: str) -> Task:
    """转办: hand a task to another officer who may work it, with a reason."""
    task = _open_task(session, task_id)
    if not can_work(actor, task):
        raise NotPermittedError()
    if not reason.strip():
        raise InputError("请填写转办理由")
    target = actor_for(session, to_user)
    unassigned = Task(
        unit_code=task.unit_code, candidate_groups=task.candidate_groups, candidate_users=task.candidate_users
    )
    if not can_work(target, unassigned):
        raise InputError(f"用户「{to_user}」没有办理该任务的角色或不在本单位")
    before = task.assignee
    task.assignee = target.username
    _audit(session, task, actor, "task.reassign", to=target.username, before=before, reason=reason.strip())
    deadlines.refresh(session, instance_ids=[task.instance_id])
    return task


def save_draft(session: Session, task_id: int, *, actor: Actor, data: Mapping[str, Any]) -> Task:
    """Keep the officer's unfinished input (unvalidated) without completing the task."""
    task = _open_task(session, task_id)
    if not can_work(actor, task):
        raise NotPermittedError()
    task.draft = {
        str(k): (v if isinstance(v, str | int | float | bool | None) else str(v)) for k, v in data.items()
    }
    return task


def return_targets(session: Session, task: Task) -> list[str]:
    """The earlier user tasks this task may be sent back to (its `returnTo` property)."""
    instance = instances.get(session, task.instance_id)
    spec = registry.bundle_for(session, instance).task_spec(task.process_key, task.bpmn_id)
    return split_list((spec.extensions or {}).get("returnTo"))


def send_back(session: Session, task_id: int, *, actor: Actor, target: str, reason: str) -> Task:
    """退回: send the case back to an earlier user task the BPMN allows; returns the new task."""
    task = _open_task(session, task_id)
    if not can_work(actor, task):
        raise NotPermittedError()
    if target not in return_targets(session, task):
        raise InputError("该任务不允许退回到所选环节")
    if not reason.strip():
        raise InputError("请填写退回理由")
    loaded = instances.load(session, instances.get(session, task.instance_id), actor)
    earlier = runtime.last_completed(loaded.workflow, target)
    if earlier is None:
        raise InputError("所选环节尚未办理过，无法退回")
    task.outcome = "returned"
    runtime.reset_to(loaded.workflow, earlier)
    instances.save(
        session,
        loaded,
        actor=actor,
        action="task.return",
        object_type="task",
        object_id=str(task.id),
        detail={"bpmn_id": task.bpmn_id, "to": target, "reason": reason.strip()},
    )
    return _newest_open(session, task.instance_id, target)


def withdraw(session: Session, task_id: int, *, actor: Actor, reason: str = "") -> Task:
    """撤回: the officer who completed a task takes it back while the next steps are untouched."""
    task = get(session, task_id)
    if task.state != TaskState.COMPLETED or task.completed_by != actor.username:
        raise NotPermittedError("只能撤回本人已办理的任务")
    later = session.scalars(
        select(Task).where(
            Task.instance_id == task.instance_id, Task.created_at >= task.completed_at, Task.id > task.id
        )
    ).all()
    if not later or any(t.state != TaskState.OPEN or t.assignee or t.draft for t in later):
        raise ConcurrentUpdateError("后续环节已被处理，无法撤回")
    loaded = instances.load(session, instances.get(session, task.instance_id), actor)
    spiff_task = runtime.find_task(loaded.workflow, task.spiff_task_id)
    if spiff_task is None:
        raise ConcurrentUpdateError("后续环节已被处理，无法撤回")
    runtime.reset_to(loaded.workflow, spiff_task)
    instances.save(
        session,
        loaded,
        actor=actor,
        action="task.withdraw",
        object_type="task",
        object_id=str(task.id),
        detail={"bpmn_id": task.bpmn_id, "reason": reason.strip()},
    )
    return _newest_open(session, task.instance_id, task.bpmn_id)


def _newest_open(session: Session, instance_id: int, bpmn_id: str) -> Task:
    query = (
        select(Task)
        .where(Task.instance_id == instance_id, Task.bpmn_id == bpmn_id, Task.state == TaskState.OPEN)
        .order_by(Task.id.desc())
    )
    task = session.scalars(query).first()
    if task is None:
        raise ConcurrentUpdateError()
    return task


def list_done(session: Session, *, actor: Actor, limit: int = 200) -> list[Task]:
    """已办: tasks the actor completed, newest first."""
    query = (
        select(Task)
        .where(Task.completed_by == actor.username, Task.state == TaskState.COMPLETED)
        .order_by(Task.completed_at.desc(), Task.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def context_values(session: Session, task: Task, actor: Actor) -> dict[str, Any]:
    """The process data a task sees (for read-only display fields); deserializes one workflow."""
    instance = instances.get(session, task.instance_id)
    loaded = instances.load(session, instance, actor)
    spiff_task = runtime.find_task(loaded.workflow, task.spiff_task_id)
    data = runtime.task_data(spiff_task) if spiff_task is not None else runtime.workflow_data(loaded.workflow)
    return {k: v for k, v in data.items() if isinstance(k, str) and not k.startswith("_")}
