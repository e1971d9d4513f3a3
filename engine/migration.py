"""Moving running instances to another version of their process (流程实例迁移): a dry run that says,
per instance, what would happen or why it cannot move; the move itself (one instance per call, in the
caller's transaction, audited, open tasks and timers re-projected); and moving back while nothing has
happened to the instance since."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from engine import instances, registry
from engine.clock import utcnow
from engine.errors import InputError, NotFoundError
from engine.models import (
    AuditEvent,
    Definition,
    InstanceMigration,
    InstanceStatus,
    ProcessInstance,
    Task,
    TaskGroup,
    TaskState,
)
from engine.roles import role_for_lane, split_list
from engine.users import Actor
from engine.workflow import migrate as spiff_migrate
from engine.workflow import runtime


@dataclass
class PlanItem:
    """What moving one instance would do (`ok`), or why it cannot (`reasons`, Chinese)."""

    instance_id: int
    case_id: int | None
    from_version: int
    to_version: int
    ok: bool = False
    reasons: list[str] = field(default_factory=list)
    steps: list[spiff_migrate.Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what changes for the instance (Chinese)


@dataclass
class _Moved:
    item: PlanItem
    state: str | None
    pins: dict[str, int]


def _definition(session: Session, definition_id: int) -> Definition:
    definition = session.get(Definition, definition_id)
    if definition is None or definition.kind != "process":
        raise NotFoundError(f"流程版本 {definition_id} 不存在")
    return definition


def _try(session: Session, instance: ProcessInstance, target: Definition, actor: Actor) -> _Moved:
    current = _definition(session, instance.definition_id)
    item = PlanItem(instance.id, instance.case_id, current.version, target.version)
    moved = _Moved(item, None, {})
    if target.key != instance.process_key:
        item.reasons.append(f"目标版本属于流程「{target.key}」，不是本实例的流程「{instance.process_key}」")
    if instance.status != InstanceStatus.RUNNING:
        item.reasons.append("实例已结束，无需迁移")
    if instance.definition_id == target.id:
        item.reasons.append(f"实例已在第 {target.version} 版上运行")
    if item.reasons:
        return moved
    moved.pins = registry.pins_for(session, target)
    loaded = instances.load(session, instance, actor)
    bundle = registry.bundles.get(session, target.key, moved.pins)
    outcome = spiff_migrate.migrate(loaded.workflow, bundle)
    item.steps = outcome.steps
    item.reasons = outcome.problems
    if outcome.problems:
        return moved
    item.ok = True
    for step in outcome.steps:
        if step.changes:
            item.notes.append(
                f"当前环节「{step.name}」的定义有变化：{'、'.join(step.changes)}，按新版本重新计算"
            )
    if outcome.kept_timers:
        item.notes.append(f"定时器{'、'.join(f'「{t}」' for t in outcome.kept_timers)}保持原到期时间")
    if outcome.retimed:
        item.notes.append(f"定时器{'、'.join(f'「{t}」' for t in outcome.retimed)}按新版本重新计时")
    if not item.notes:
        item.notes.append("当前环节在新版本中没有变化，继续办理")
    moved.state = outcome.state
    return moved


def plan(session: Session, instance_ids: list[int], target_id: int, actor: Actor) -> list[PlanItem]:
    """Dry run: for each instance, what moving it to definition `target_id` would do. Changes nothing."""
    target = _definition(session, target_id)
    items = []
    for instance_id in instance_ids:
        items.append(_try(session, instances.get(session, instance_id), target, actor).item)
    return items


def running_on(session: Session, definition_id: int) -> list[int]:
    """Ids of the running instances started on (or moved to) this version of their process."""
    return list(
        session.scalars(
            select(ProcessInstance.id)
            .where(
                ProcessInstance.definition_id == definition_id,
                ProcessInstance.status == InstanceStatus.RUNNING,
            )
            .order_by(ProcessInstance.id)
        )
    )


def migrate(session: Session, instance_id: int, target_id: int, *, actor: Actor) -> PlanItem:
    """Move one instance to definition `target_id` in the caller's transaction, audited; raises
    InputError (with the reasons) when it cannot move, ConcurrentUpdateError when it changed meanwhile."""
    instance = instances.get(session, instance_id)
    target = _definition(session, target_id)
    moved = _try(session, instance, target, actor)
    if not moved.item.ok or moved.state is None:
        raise InputError(f"实例 {instance_id} 不能迁移：" + "；".join(moved.item.reasons))
    before = {
        "state": instance.state,
        "serializer_version": instance.serializer_version,
        "definition_id": instance.definition_id,
        "pins": dict(instance.spec_pins),
        "tasks": _snapshot(session, instance.id),
    }
    instance.state = moved.state
    instance.serializer_version = runtime.SERIALIZER_VERSION
    instance.definition_id = target.id
    instance.spec_pins = moved.pins
    detail = {
        "key": target.key,
        "from_version": moved.item.from_version,
        "to_version": target.version,
        "notes": moved.item.notes,
    }
    event = _save(session, instance, actor, "instance.migrate", detail, before["state"], reproject=True)
    session.add(
        InstanceMigration(
            instance_id=instance.id,
            from_definition_id=before["definition_id"],
            to_definition_id=target.id,
            from_pins=before["pins"],
            to_pins=moved.pins,
            state_before=before["state"],
            serializer_version_before=before["serializer_version"],
            tasks_before=before["tasks"],
            lock_version_after=instance.lock_version,
            audit_seq=event.seq,
            migrated_by=actor.username,
            migrated_at=utcnow(),
        )
    )
    return moved.item


def _save(
    session: Session,
    instance: ProcessInstance,
    actor: Actor,
    action: str,
    detail: dict[str, Any],
    state_before: str,
    *,
    reproject: bool,
) -> AuditEvent:
    loaded = instances.load(session, instance, actor)
    loaded.state_before = state_before
    runtime.run(loaded.workflow)  # arm re-timed timers (and fire one that is already due)
    if reproject:
        _reproject(session, instance, loaded.workflow)
    instances.save(session, loaded, actor=actor, action=action, detail=detail)
    session.flush()  # the audit event's seq and the new lock_version are read back
    return session.scalars(
        select(AuditEvent)
        .where(AuditEvent.instance_id == instance.id)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).one()


# Columns of an open task row that follow the definition; restored exactly when moving back.
_TASK_FIELDS = ("name", "stage", "role", "candidate_groups", "candidate_users", "priority", "due_at",
                "due_unverified", "follow_up_at", "assignee")  # fmt: skip


def _snapshot(session: Session, instance_id: int) -> dict[str, Any]:
    rows = session.scalars(select(Task).where(Task.instance_id == instance_id, Task.state == TaskState.OPEN))
    return {
        str(row.id): {
            name: (value.isoformat() if isinstance(value, datetime) else value)
            for name in _TASK_FIELDS
            for value in [getattr(row, name)]
        }
        for row in rows
    }


def _reproject(session: Session, instance: ProcessInstance, wf: runtime.BpmnWorkflow) -> None:
    """Open task rows take their role, name, stage, priority and deadlines from the new definition;
    a deadline whose expression did not change stays as it was (counted from the task's arrival)."""
    rows = {
        row.spiff_task_id: row
        for row in session.scalars(
            select(Task).where(Task.instance_id == instance.id, Task.state == TaskState.OPEN)
        )
    }
    for ready in runtime.ready_user_tasks(wf):
        row = rows.get(ready.id)
        if row is None:
            continue  # a new row is inserted by instances.save
        ext = ready.extensions
        spiff_task = runtime.find_task(wf, ready.id)
        groups = split_list(ext.get("candidateGroups"))
        lane_role = role_for_lane(ready.lane)
        if not groups and lane_role:
            groups = [lane_role]
        row.name = ready.name
        row.stage = str(ext.get("stage") or "")
        row.role = groups[0] if groups else ""
        if groups != list(row.candidate_groups or []):
            row.candidate_groups = groups
            session.execute(delete(TaskGroup).where(TaskGroup.task_id == row.id))
            session.add_all(TaskGroup(group_code=g, task_id=row.id) for g in groups)
        row.candidate_users = split_list(ext.get("candidateUsers"))
        # The engine's own rules for deadlines and priority (instances.py), counted from arrival.
        row.due_at, row.due_unverified = instances._time_value(
            wf, spiff_task, ext.get("dueDate"), row.created_at
        )
        row.follow_up_at, _ = instances._time_value(wf, spiff_task, ext.get("followUpDate"), row.created_at)
        row.priority = instances._priority(wf, spiff_task, ext.get("priority"))


def _restore_tasks(session: Session, snapshot: dict[str, Any]) -> None:
    for task_id, values in snapshot.items():
        row = session.get(Task, int(task_id))
        if row is None or row.state != TaskState.OPEN:
            continue
        for name, value in values.items():
            if name in ("due_at", "follow_up_at") and value is not None:
                value = datetime.fromisoformat(value)
            setattr(row, name, value)
        session.execute(delete(TaskGroup).where(TaskGroup.task_id == row.id))
        session.add_all(TaskGroup(group_code=g, task_id=row.id) for g in row.candidate_groups or [])


def last_migration(session: Session, instance_id: int) -> InstanceMigration | None:
    return session.scalars(
        select(InstanceMigration)
        .where(InstanceMigration.instance_id == instance_id)
        .order_by(InstanceMigration.id.desc())
        .limit(1)
    ).first()


def revert_blocker(session: Session, instance: ProcessInstance) -> str | None:
    """Why the last migration of `instance` cannot be undone (Chinese), or None when it can."""
    row = last_migration(session, instance.id)
    if row is None or row.reverted_at is not None:
        return "该实例没有可撤销的迁移"
    last_seq = session.scalar(select(func.max(AuditEvent.seq)).where(AuditEvent.instance_id == instance.id))
    if instance.lock_version != row.lock_version_after or (last_seq or 0) > row.audit_seq:
        return "迁移后该实例已有办理、认领或定时器等操作，不能撤销迁移"
    return None


def revert(session: Session, instance_id: int, *, actor: Actor) -> InstanceMigration:
    """Move an instance back to the version it ran on before its last migration, exactly as it was;
    only while nothing has happened to it since. Raises InputError otherwise."""
    instance = instances.get(session, instance_id)
    blocker = revert_blocker(session, instance)
    if blocker is not None:
        raise InputError(f"实例 {instance_id}：{blocker}")
    row = last_migration(session, instance.id)
    assert row is not None
    state_after = instance.state
    instance.state = row.state_before
    instance.serializer_version = row.serializer_version_before
    instance.definition_id = row.from_definition_id
    instance.spec_pins = dict(row.from_pins)
    _restore_tasks(session, row.tasks_before)
    detail = {
        "key": instance.process_key,
        "from_version": _definition(session, row.to_definition_id).version,
        "to_version": _definition(session, row.from_definition_id).version,
        "migration_id": row.id,
    }
    _save(session, instance, actor, "instance.migrate_back", detail, state_after, reproject=False)
    row.reverted_at = utcnow()
    row.reverted_by = actor.username
    return row


@dataclass(frozen=True)
class HistoryRow:
    migration: InstanceMigration
    from_version: int
    to_version: int
    revertible: bool


def history(session: Session, definition_ids: list[int], *, limit: int = 50) -> list[HistoryRow]:
    """The latest migrations to any of `definition_ids`, newest first, each saying whether it can
    still be moved back."""
    rows = list(
        session.scalars(
            select(InstanceMigration)
            .where(InstanceMigration.to_definition_id.in_(definition_ids))
            .order_by(InstanceMigration.id.desc())
            .limit(limit)
        )
    )
    out = []
    for row in rows:
        instance = session.get(ProcessInstance, row.instance_id)
        revertible = (
            instance is not None
            and last_migration(session, instance.id) is row
            and revert_blocker(session, instance) is None
        )
        versions = (_definition(session, row.from_definition_id), _definition(session, row.to_definition_id))
        out.append(HistoryRow(row, versions[0].version, versions[1].version, revertible))
    return out
