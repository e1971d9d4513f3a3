"""Process instances: start one, load it, save it with its task projection, legal clocks,
next timer and an audit event — all inside the caller's transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from engine import audit, cases, clocks, deadlines, forms, functions, referrals, registry
from engine.clock import utcnow
from engine.errors import ConcurrentUpdateError, InputError, NotFoundError, WorkflowScriptError
from engine.models import (
    AuditEvent,
    ClockStatus,
    InstanceStatus,
    MessageWait,
    ProcessInstance,
    Task,
    TaskGroup,
    TaskState,
)
from engine.roles import role_for_lane, split_list
from engine.users import Actor
from engine.workflow import runtime, sandbox
from engine.workflow.parser import is_iso_literal

MAX_SETTLE_ROUNDS = 10


@dataclass
class Loaded:
    """An instance with its live workflow and legal clocks, ready to be changed and saved."""

    instance: ProcessInstance
    workflow: runtime.BpmnWorkflow
    book: clocks.ClockBook
    state_before: str | None
    handovers: Handovers


def start(
    session: Session,
    key: str,
    *,
    actor: Actor,
    variables: Mapping[str, Any] | None = None,
    case_id: int | None = None,
    unit_code: str | None = None,
    handover: Mapping[str, Any] | None = None,
) -> ProcessInstance:
    """Start the newest version of process `key` and run it to its first wait state. The start
    data always holds `handover`: {} for an ordinary start, else what the handing-over process
    passed (its `entry` and facts; see Handovers) — never user input, so not form-validated."""
    pins = registry.pins_for_start(session, key)
    instance = ProcessInstance(
        definition_id=pins[key],
        process_key=key,
        spec_pins=pins,
        case_id=case_id,
        unit_code=unit_code or actor.bureau,
        status=InstanceStatus.RUNNING,
        state="",
        serializer_version=runtime.SERIALIZER_VERSION,
        started_by=actor.username,
        started_at=utcnow(),
    )
    session.add(instance)
    session.flush()  # the id is needed by clocks, tasks and the audit event
    book = clocks.load_book(session, None, actor.username)
    handovers = Handovers(instance)
    wf = runtime.create(
        registry.bundle_for(session, instance), _script_engine(session, instance, book, actor, handovers)
    )
    start_form = _start_form(wf)
    values = forms.validate(start_form, variables or {}) if start_form.fields else dict(variables or {})
    runtime.set_start_data(wf, {**values, "handover": dict(handover or {})})
    loaded = Loaded(instance, wf, book, None, handovers)
    runtime.run(wf)
    save(
        session,
        loaded,
        actor=actor,
        action="instance.start",
        detail={"key": key, "variables": forms.to_json(values)},
    )
    return instance


def _start_form(wf: runtime.BpmnWorkflow) -> forms.Form:
    return forms.form_of(runtime.start_extensions(wf))


SCRIPT_TIME_LIMIT = 3.0  # seconds per expression or script; a lock wait for a 文号 counts too


def _script_engine(
    session: Session, instance: ProcessInstance, book: clocks.ClockBook, actor: Actor, handovers: Handovers
) -> Any:
    helpers = (
        functions.build(book)
        | cases.CaseOps(session, instance, actor.username).functions()
        | referrals.ReferralOps(session, instance, actor.username).functions()
        | handovers.functions()
    )
    return sandbox.make_script_engine(helpers=helpers, time_limit=SCRIPT_TIME_LIMIT)


def get(session: Session, instance_id: int) -> ProcessInstance:
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFoundError(f"流程实例 {instance_id} 不存在")
    return instance


def load(session: Session, instance: ProcessInstance, actor: Actor) -> Loaded:
    """Deserialize an instance's workflow with its pinned specs, sandbox and legal clocks."""
    book = clocks.load_book(session, instance.id, actor.username)
    handovers = Handovers(instance)
    engine = _script_engine(session, instance, book, actor, handovers)
    wf = runtime.load(
        instance.state, instance.serializer_version, registry.bundle_for(session, instance), engine
    )
    return Loaded(instance, wf, book, instance.state, handovers)


def save(
    session: Session,
    loaded: Loaded,
    *,
    actor: Actor,
    action: str,
    detail: Mapping[str, Any] | None = None,
    object_type: str = "instance",
    object_id: str | None = None,
) -> None:
    """Persist state, clocks, projection and next timer; append the audit event. Raises
    ConcurrentUpdateError when another transaction saved the instance first."""
    try:
        with session.no_autoflush:
            _write(session, loaded)
        session.flush()  # the lock_version guard runs here: a concurrent save fails now, not at commit
    except StaleDataError:
        raise ConcurrentUpdateError() from None
    instance = loaded.instance
    audit.record(
        session,
        actor=actor.username,
        client_addr=actor.client_addr,
        action=action,
        object_type=object_type,
        object_id=object_id or str(instance.id),
        instance_id=instance.id,
        case_id=instance.case_id,
        before=loaded.state_before,
        after=instance.state,
        detail=dict(detail or {}),
    )
    _carry_out(session, loaded, actor)


class Handovers:
    """`start_process(key, entry, ref='', same_case=True, facts=None, **variables)` for scripts: a
    hand-over to another process, recorded while the step runs and carried out by `save` in the
    same transaction — a new instance of the newest version of `key` on this instance's case (with
    same_case=False it opens its own), started with the start-form `variables` and, in its start
    data, `handover` = {entry, ref, source_instance, source_process, **facts}. Idempotent: one
    instance per (this instance, key, ref), however often the step runs."""

    def __init__(self, instance: ProcessInstance) -> None:
        self.instance = instance
        self.requests: dict[str, dict[str, Any]] = {}

    def start_process(
        self,
        key: str,
        entry: str = "",
        ref: str = "",
        same_case: bool = True,
        facts: Mapping[str, Any] | None = None,
        **variables: Any,
    ) -> str:
        if same_case and self.instance.case_id is None:
            raise InputError("本流程尚未登记案件，不能在同一案件上转入其他流程：请先调用 open_case(...)")
        digest = hashlib.sha256(str(ref).encode()).hexdigest()[:16]
        handover_key = f"{self.instance.id}:{key}:{digest}"[:64]
        self.requests[handover_key] = {
            "key": str(key), "entry": str(entry), "ref": str(ref), "same_case": bool(same_case),
            "facts": dict(facts or {}), "variables": dict(variables),
        }  # fmt: skip
        return handover_key

    def functions(self) -> dict[str, Any]:
        return {"start_process": self.start_process}


def _carry_out(session: Session, loaded: Loaded, actor: Actor) -> None:
    """Start the instances this step handed over to (once each), audited on the source instance."""
    source = loaded.instance
    requests, loaded.handovers.requests = loaded.handovers.requests, {}
    for handover_key, request in requests.items():
        done = session.scalar(
            select(AuditEvent.id).where(
                AuditEvent.instance_id == source.id,
                AuditEvent.action == "instance.handover",
                AuditEvent.object_id == handover_key,
            )
        )
        if done is not None:
            continue
        started = start(
            session,
            request["key"],
            actor=actor,
            variables=request["variables"],
            case_id=source.case_id if request["same_case"] else None,
            unit_code=source.unit_code,
            handover={
                **request["facts"],
                "entry": request["entry"],
                "ref": request["ref"],
                "source_instance": source.id,
                "source_process": source.process_key,
            },
        )
        audit.record(
            session,
            actor=actor.username,
            client_addr=actor.client_addr,
            action="instance.handover",
            object_type="handover",
            object_id=handover_key,
            instance_id=source.id,
            case_id=started.case_id,
            detail={"process": request["key"], "entry": request["entry"], "ref": request["ref"],
                    "started_instance": started.id},
        )  # fmt: skip


def _write(session: Session, loaded: Loaded) -> None:
    instance, wf, book = loaded.instance, loaded.workflow, loaded.book
    clocks_moved = bool(book.moved)
    _settle(wf, book)
    now = utcnow()
    if runtime.is_completed(wf):
        instance.status = InstanceStatus.COMPLETED
        instance.ended_at = now
        for name, state in book.clocks.items():
            if state.status != ClockStatus.STOPPED:
                book.stop(name)
    clocks.save_book(session, book, instance.id, instance.case_id)
    instance.state = runtime.dump(wf)
    instance.serializer_version = runtime.SERIALIZER_VERSION
    next_timer = runtime.next_timer_at(wf) if instance.status == InstanceStatus.RUNNING else None
    instance.next_timer_at = None if clocks.is_never(next_timer) else next_timer
    instance.updated_at = now
    flag_modified(instance, "state")  # always UPDATE, so the lock_version guard always runs
    _project(session, instance, wf, now, clocks_moved)
    # The board's rows of this instance and of its case (a stage or institution may have changed).
    deadlines.refresh(session, instance_ids=[instance.id], case_ids=[instance.case_id])


def _settle(wf: runtime.BpmnWorkflow, book: clocks.ClockBook) -> None:
    """A clock moved by a script re-times the waiting timers that read clocks; a timer that is
    now due fires at once. Bounded, so a script that keeps moving clocks cannot spin."""
    for _ in range(MAX_SETTLE_ROUNDS):
        if not book.moved:
            return
        book.moved.clear()
        runtime.reschedule_timers(wf, mentioning="clock_due")
        due = runtime.next_timer_at(wf)
        if due is not None and due <= utcnow():
            runtime.run(wf)
    raise WorkflowScriptError("法定期限反复变更，流程无法稳定（请检查脚本）")


def _project(
    session: Session, instance: ProcessInstance, wf: runtime.BpmnWorkflow, now: datetime, clocks_moved: bool
) -> None:
    ready = {t.id: t for t in runtime.ready_user_tasks(wf)}
    open_rows = {
        row.spiff_task_id: row
        for row in session.scalars(
            select(Task).where(Task.instance_id == instance.id, Task.state == TaskState.OPEN)
        )
    }
    closed = [row for sid, row in open_rows.items() if sid not in ready]
    for row in closed:
        row.state = TaskState.CANCELLED
        row.completed_at = now
    closed_ids = [row.id for row in closed]
    if closed_ids:
        session.execute(delete(TaskGroup).where(TaskGroup.task_id.in_(closed_ids)))
    for sid, ready_task in ready.items():
        if sid not in open_rows:
            _insert_task(session, instance, wf, ready_task, now)
        elif clocks_moved:
            _retime_task(wf, open_rows[sid], ready_task, now)
    _project_messages(session, instance, wf)


def _retime_task(wf: runtime.BpmnWorkflow, row: Task, ready: runtime.ReadyTask, now: datetime) -> None:
    """A legal clock moved (extended, suspended, resumed): an open task whose due date reads a
    clock follows it."""
    text = ready.extensions.get("dueDate") or ""
    if "clock_due" in text:
        row.due_at, row.due_unverified = _time_value(wf, runtime.find_task(wf, ready.id), text, now)


def _project_messages(session: Session, instance: ProcessInstance, wf: runtime.BpmnWorkflow) -> None:
    wanted = (
        {(m.name, m.correlation, m.kind) for m in runtime.accepted_messages(wf)}
        if instance.status == InstanceStatus.RUNNING
        else set()
    )
    rows = session.scalars(select(MessageWait).where(MessageWait.instance_id == instance.id)).all()
    have: set[tuple[str, str | None, str]] = set()
    for row in rows:  # most steps change no wait: then nothing is written
        key = (row.name, row.correlation_key, row.kind)
        if key in wanted and key not in have:
            have.add(key)
        else:
            session.delete(row)
    session.add_all(
        MessageWait(instance_id=instance.id, name=name, correlation_key=correlation, kind=kind)
        for name, correlation, kind in wanted - have
    )


def _insert_task(
    session: Session,
    instance: ProcessInstance,
    wf: runtime.BpmnWorkflow,
    ready: runtime.ReadyTask,
    now: datetime,
) -> None:
    ext = ready.extensions
    spiff_task = runtime.find_task(wf, ready.id)
    groups = split_list(ext.get("candidateGroups"))
    lane_role = role_for_lane(ready.lane)
    if not groups and lane_role:
        groups = [lane_role]
    due, unverified = _time_value(wf, spiff_task, ext.get("dueDate"), now)
    follow_up, _ = _time_value(wf, spiff_task, ext.get("followUpDate"), now)
    row = Task(
        instance_id=instance.id,
        case_id=instance.case_id,
        spiff_task_id=ready.id,
        process_key=ready.process_key,
        bpmn_id=ready.bpmn_id,
        name=ready.name,
        stage=str(ext.get("stage") or ""),
        role=groups[0] if groups else "",
        candidate_groups=groups,
        candidate_users=[_resolve_user(spiff_task, u) for u in split_list(ext.get("candidateUsers"))],
        assignee=_resolve_user(spiff_task, ext["assignee"]) if ext.get("assignee") else None,
        unit_code=instance.unit_code,
        state=TaskState.OPEN,
        priority=_priority(wf, spiff_task, ext.get("priority")),
        created_at=now,
        due_at=due,
        due_unverified=unverified,
        follow_up_at=follow_up,
    )
    session.add(row)
    cases.set_stage(session, instance.case_id, row.stage)
    session.flush()  # TaskGroup rows need the task id
    session.add_all(TaskGroup(group_code=g, task_id=row.id) for g in groups)


def _resolve_user(spiff_task: Any, value: str) -> str:
    """`${name}` reads a task-data variable (as Camunda does); anything else is a username."""
    value = value.strip()
    if value.startswith("${") and value.endswith("}"):
        return str(runtime.task_data(spiff_task).get(value[2:-1].strip(), "")) or value
    return value


def _time_value(
    wf: runtime.BpmnWorkflow, spiff_task: Any, text: str | None, now: datetime
) -> tuple[datetime | None, bool]:
    if not text:
        return None, False
    text = text.strip()
    value: Any = text if is_iso_literal(text) else runtime.evaluate(wf, spiff_task, text)
    if value is None:
        return None, False
    instant = runtime.parse_instant(str(value), now)
    if clocks.is_never(instant):  # it reads a suspended clock
        return None, False
    return instant, bool(getattr(value, "unverified", False))


def _priority(wf: runtime.BpmnWorkflow, spiff_task: Any, text: str | None) -> int:
    if not text:
        return 50
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return int(runtime.evaluate(wf, spiff_task, text))
