"""SpiffWorkflow at run time: build specs from XML, create, step, serialize without the spec,
read ready user tasks and pending timers. The rest of the engine sees plain values only."""

from __future__ import annotations

import gc
import io
import json
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.specs.data_spec import TaskDataReference
from SpiffWorkflow.bpmn.specs.event_definitions import timer as _timer_module
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition as _BaseMessage
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.serializer import DEFAULT_CONFIG
from SpiffWorkflow.camunda.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.camunda.specs.multiinstance_task import (
    ParallelMultiInstanceTask as _CamundaParallel,
)
from SpiffWorkflow.camunda.specs.multiinstance_task import (
    SequentialMultiInstanceTask as _CamundaSequential,
)
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState as SpiffState

from engine.clock import utcnow
from engine.errors import DomainError, FormValidationError, SandboxError, WorkflowScriptError
from engine.workflow.parser import YbjgParser, parse_xml


class _EngineDatetime(datetime):
    """SpiffWorkflow's timers read `datetime.now` from their module: make that our clock."""

    @classmethod
    def now(cls, tz: Any = None) -> _EngineDatetime:  # type: ignore[override]
        instant = utcnow() if tz is None else utcnow().astimezone(tz)
        return cls.fromtimestamp(instant.timestamp(), tz or UTC)


_timer_module.datetime = _EngineDatetime  # type: ignore[misc]


class _StateConverter(BpmnWorkflowConverter):
    """The workflow's state without its specs: those come from the registry by pinned version."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct


def _make_serializer() -> BpmnWorkflowSerializer:
    config = dict(DEFAULT_CONFIG)
    config[BpmnWorkflow] = _StateConverter
    registry = BpmnWorkflowSerializer.configure(config)
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda d: Decimal(d["value"]), "Decimal")
    registry.register(
        datetime, lambda v: {"value": v.isoformat()}, lambda d: datetime.fromisoformat(d["value"]), "datetime"
    )
    registry.register(
        date, lambda v: {"value": v.isoformat()}, lambda d: date.fromisoformat(d["value"]), "date"
    )
    return BpmnWorkflowSerializer(registry)


_SERIALIZER = _make_serializer()
_ENCODER = create_encoder(_SERIALIZER.registry)
SERIALIZER_VERSION = _SERIALIZER.VERSION


@dataclass(frozen=True)
class SourceFile:
    """One BPMN or DMN file as stored by the registry."""

    name: str
    xml: str
    kind: str  # "bpmn" or "dmn"


class SpecBundle:
    """The parsed specs an instance runs on: its root process, called processes and decisions."""

    def __init__(self, root_key: str, files: Iterable[SourceFile]) -> None:
        parser = YbjgParser()
        for f in files:
            node = parse_xml(f.xml)
            if f.kind == "dmn":
                parser.add_dmn_xml(node, filename=f.name)
            else:
                parser.add_bpmn_xml(node, filename=f.name)
        self.root_key = root_key
        self.spec = parser.get_spec(root_key)
        self.subprocess_specs = parser.get_subprocess_specs(root_key)
        # Spiff rewrites specs at run time (Camunda multi-instance tasks, event subprocesses once
        # triggered), so no two workflows may share spec objects: each run gets its own copy.
        # A pickle of the freshly parsed objects, made here in-process (never read from outside):
        # a faithful copy, where Spiff's spec serializer loses event subprocess wiring. What Spiff
        # only reads (forms, extensions, decision tables) is shared by every copy, not copied:
        # that is most of the objects, and copying is most of a task completion's cost.
        self._shared = _read_only_parts(self.all_specs())
        buffer = io.BytesIO()
        _SharingPickler(buffer, self._shared).dump((self.spec, self.subprocess_specs))
        self._frozen = buffer.getvalue()

    def all_specs(self) -> list[Any]:
        return [self.spec, *self.subprocess_specs.values()]

    def specs_for_run(self) -> tuple[Any, dict[str, Any]]:
        """A private copy of the specs for one workflow."""
        # Unpickling allocates thousands of objects, each allocation counting towards a garbage
        # collection that walks the whole heap; none of them can be garbage yet.
        collecting = gc.isenabled()
        gc.disable()
        try:
            spec, subprocess_specs = _SharingUnpickler(io.BytesIO(self._frozen), self._shared).load()
        finally:
            if collecting:
                gc.enable()
        _rewire_loops([spec, *subprocess_specs.values()])
        return spec, subprocess_specs

    def task_spec(self, process_key: str, bpmn_id: str) -> Any:
        spec = self.spec if process_key == self.spec.name else self.subprocess_specs[process_key]
        return spec.task_specs[bpmn_id]


def _read_only_parts(specs: Iterable[Any]) -> dict[int, Any]:
    """The parts of task specs that Spiff never changes at run time, by object id."""
    parts: dict[int, Any] = {}
    for spec in specs:
        for ts in spec.task_specs.values():
            for name in _READ_ONLY_ATTRIBUTES:
                value = getattr(ts, name, None)
                if value is not None:
                    parts[id(value)] = value
    return parts


_READ_ONLY_ATTRIBUTES = ("extensions", "form", "dmnEngine")


class _SharingPickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, shared: dict[int, Any]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._shared_ids = shared

    def persistent_id(self, obj: Any) -> int | None:
        return id(obj) if id(obj) in self._shared_ids else None


class _SharingUnpickler(pickle.Unpickler):
    """Reads only the bundle's own bytes (made in this process, never from outside)."""

    def __init__(self, file: io.BytesIO, shared: dict[int, Any]) -> None:
        super().__init__(file)
        self._shared = shared

    def persistent_load(self, pid: Any) -> Any:
        return self._shared[pid]


@dataclass(frozen=True)
class ReadyTask:
    """A READY user task as the engine projects it."""

    id: str
    process_key: str
    bpmn_id: str
    name: str
    lane: str | None
    extensions: Mapping[str, Any]


def create(bundle: SpecBundle, script_engine: PythonScriptEngine) -> BpmnWorkflow:
    spec, subs = bundle.specs_for_run()
    return BpmnWorkflow(spec, subs, script_engine=script_engine)


def set_start_data(wf: BpmnWorkflow, values: Mapping[str, Any]) -> None:
    """Put the start form's values (or start variables) into the workflow before it runs."""
    for task in wf.get_tasks(state=SpiffState.READY):
        task.set_data(**dict(values))


def start_extensions(wf: BpmnWorkflow) -> dict[str, Any]:
    """Extensions of the process's none start event (its start form lives there)."""
    for ts in wf.spec.start.outputs:
        if getattr(ts, "event_definition", None) is not None and ts.extensions:
            return dict(ts.extensions)
    return {}


def parse_instant(value: str, now: datetime) -> datetime:
    """An ISO instant, or an ISO duration counted from `now`, as aware UTC."""
    value = value.strip()
    if value.upper().startswith("P"):
        parsed = TimerEventDefinition.parse_iso_duration(value)
        return now + TimerEventDefinition.get_timedelta_from_start(parsed, now)
    instant = TimerEventDefinition.get_datetime(value)
    return datetime.fromtimestamp(instant.timestamp(), UTC)


def dump(wf: BpmnWorkflow) -> str:
    """JSON of the workflow state without its specs."""
    _SERIALIZER.registry._encoder_mode = True  # as BpmnWorkflowSerializer.serialize_json does
    try:
        dct = _SERIALIZER.to_dict(wf)
    finally:
        _SERIALIZER.registry._encoder_mode = False
    return json.dumps(dct, cls=_ENCODER, ensure_ascii=False, separators=(",", ":"))


def load(
    state: str, serializer_version: str, bundle: SpecBundle, script_engine: PythonScriptEngine
) -> BpmnWorkflow:
    """Restore a workflow saved by `dump`, re-attaching the bundle's specs and a script engine."""
    dct = json.loads(state)
    dct[_SERIALIZER.VERSION_KEY] = serializer_version
    _SERIALIZER.migrate(dct)
    dct["spec"], dct["subprocess_specs"] = bundle.specs_for_run()
    wf = _SERIALIZER.from_dict(dct)
    wf.script_engine = script_engine
    _rewire_triggered_event_subprocesses(wf)
    return wf


_CAMUNDA_LOOPS = (_CamundaParallel, _CamundaSequential)


def _rewire_loops(specs: Iterable[Any]) -> None:
    """Re-apply what Spiff does to multi-instance specs only when the task starts, so that a
    reloaded multi-instance goes on as it began:
    - the child's completion is connected to its parent (else a reloaded loop never ends);
    - a Camunda collection loop (camunda:collection / elementVariable) reads and writes the same
      collection: Spiff parses it as output only and makes it the input at start. Without that a
      reloaded sequential loop ends after its current item, a parallel one appends its results
      to the collection instead of writing them in place."""
    for spec in specs:
        for ts in spec.task_specs.values():
            if isinstance(ts, LoopTask):
                child = spec.task_specs[ts.task_spec]
                if not child.completed_event.is_connected(ts.merge_child):
                    child.completed_event.connect(ts.merge_child)
            if isinstance(ts, _CAMUNDA_LOOPS) and ts.cardinality is None and ts.data_input is None:
                if ts.data_output is not None:
                    ts.data_input = TaskDataReference(ts.data_output.bpmn_id)
                if ts.output_item is not None:
                    ts.input_item = TaskDataReference(ts.output_item.bpmn_id)


def _rewire_triggered_event_subprocesses(wf: BpmnWorkflow) -> None:
    """Spiff wires a triggered event subprocess into the spec at run time (BpmnStartTask.trigger_wf);
    our state carries no spec, so the wiring is re-applied for each one present in the task tree."""
    for task in wf.get_tasks():
        spec = task.task_spec
        start = getattr(spec._wf_spec, "start", None)
        if (
            start is not None
            and spec.name in getattr(start, "trigger_specs", ())
            and start not in spec.inputs
        ):
            start.connect(spec)
            spec.connect(spec._wf_spec.end)


def run(wf: BpmnWorkflow) -> None:
    """Run engine steps until only user tasks and waits remain, firing timers already due.
    (do_engine_steps refreshes timers only at its end, so a due timer would fire one call late.)"""
    try:
        wf.refresh_timers()
        wf.do_engine_steps()
        while _interrupt(wf) or _has_ready_engine_task(wf):
            wf.refresh_timers()
            wf.do_engine_steps()
    except _FAILURES as exc:
        raise _failure(exc) from exc


def _has_ready_engine_task(wf: BpmnWorkflow) -> bool:
    return any(not t.task_spec.manual for t in wf.get_tasks(state=SpiffState.READY))


def _interrupt(wf: BpmnWorkflow) -> bool:
    """SpiffWorkflow 3.2 ignores isInterrupting on event subprocesses. As BPMN says, an interrupting
    event subprocess that has started cancels everything else of the process it belongs to (its
    flow, subprocesses and the other event subprocesses); the process ends when it ends.
    Returns whether anything changed."""
    changed = False
    for process in [wf, *wf.subprocesses.values()]:
        interrupting = _interrupting_event_subprocess(wf, process)
        if interrupting is None or process.completed:
            continue
        for child in list(process.task_tree.children):
            if child is not interrupting and not _all_finished(child):
                child.cancel()
                changed = True
        if _all_finished(process.task_tree):
            # Spiff ends a process at its End task, which the cancelled flow no longer reaches.
            process._mark_complete(interrupting)
            process.completed_event(process)  # a calling activity continues
            changed = True
    return changed


def _interrupting_event_subprocess(wf: BpmnWorkflow, process: Any) -> SpiffTask | None:
    """The started interrupting event subprocess of a process, if any."""
    for child in process.task_tree.children:
        sub = wf.subprocesses.get(child.id)
        if sub is None or child.has_state(SpiffState.CANCELLED):
            continue
        if not any(getattr(ts, "interrupting", False) for ts in sub.spec.start.outputs):
            continue
        if any(
            getattr(t.task_spec, "interrupting", False) for t in sub.get_tasks(state=SpiffState.COMPLETED)
        ):
            return child
    return None


def _all_finished(task: SpiffTask) -> bool:
    return task.has_state(SpiffState.FINISHED_MASK) and all(_all_finished(c) for c in task.children)


_FAILURES = (SpiffWorkflowException, SandboxError)  # Spiff calls some evaluations unwrapped


def _failure(exc: BaseException) -> DomainError:
    """What a failed step raises: the field errors of a script's reject() (the officer corrects
    the form), else a WorkflowScriptError saying where and why (a defect for the administrator)."""
    cause = _root_cause(exc)
    if isinstance(cause, FormValidationError):
        return FormValidationError(dict(cause.errors))
    return WorkflowScriptError(_describe(exc))


def _describe(exc: BaseException) -> str:
    """Where it failed and why: Spiff's wrapper hides the real error in the exception chain."""
    task = getattr(exc, "task", None) or getattr(exc, "sender", None)
    where = getattr(getattr(task, "task_spec", None), "bpmn_id", None) or getattr(task, "name", "")
    text = f"{where}: {exc}" if where else str(exc)
    cause = _root_cause(exc)
    if cause is not exc and str(cause) not in text:
        text += f"（{type(cause).__name__}: {cause}）"
    return text


def _root_cause(exc: BaseException) -> BaseException:
    seen = {id(exc)}
    current = exc
    while True:
        nxt = current.__cause__ or current.__context__ or getattr(current, "exception", None)
        if nxt is None or id(nxt) in seen:
            return current
        seen.add(id(nxt))
        current = nxt


def ready_user_tasks(wf: BpmnWorkflow) -> list[ReadyTask]:
    return [_ready(t) for t in wf.get_tasks(state=SpiffState.READY, manual=True)]


def _ready(t: SpiffTask) -> ReadyTask:
    ts = t.task_spec
    return ReadyTask(
        id=str(t.id),
        process_key=t.workflow.spec.name,
        bpmn_id=ts.bpmn_id or ts.name,
        name=ts.bpmn_name or ts.bpmn_id or ts.name,
        lane=ts.lane,
        extensions=dict(getattr(ts, "extensions", None) or {}),
    )


def find_task(wf: BpmnWorkflow, task_id: str) -> SpiffTask | None:
    try:
        return wf.get_task_from_id(UUID(task_id))
    except (ValueError, KeyError, WorkflowException):
        return None


def is_ready_user_task(task: SpiffTask) -> bool:
    return task.state == SpiffState.READY and bool(task.task_spec.manual)


def complete(wf: BpmnWorkflow, task: SpiffTask, data: Mapping[str, Any]) -> None:
    """Merge `data` into a READY user task, run it and step the workflow onwards."""
    task.set_data(**dict(data))
    try:
        task.run()
    except _FAILURES as exc:
        raise _failure(exc) from exc
    run(wf)


def last_completed(wf: BpmnWorkflow, bpmn_id: str) -> SpiffTask | None:
    """The most recently completed task of a BPMN element (None when it never ran)."""
    done = [
        t
        for t in wf.get_tasks(state=SpiffState.COMPLETED)
        if t.task_spec.bpmn_id == bpmn_id and t.task_spec.manual
    ]
    return max(done, key=lambda t: t.last_state_change) if done else None


def reset_to(wf: BpmnWorkflow, task: SpiffTask) -> None:
    """Make an earlier user task READY again, dropping what ran after it (退回 / 撤回)."""
    try:
        wf.reset_from_task_id(task.id)
        run(wf)
    except _FAILURES as exc:
        raise _failure(exc) from exc


def evaluate(wf: BpmnWorkflow, task: SpiffTask, expression: str) -> Any:
    """Evaluate an expression in a task's data context with the workflow's (sandboxed) engine."""
    try:
        return wf.script_engine.evaluate(task, expression)
    except _FAILURES as exc:
        raise _failure(exc) from exc


def task_data(task: SpiffTask) -> dict[str, Any]:
    return dict(task.data)


def workflow_data(wf: BpmnWorkflow) -> dict[str, Any]:
    """The data of the last completed task: what the process knows at this point."""
    last = wf.last_task
    return dict(last.data) if last is not None else dict(wf.data)


def is_completed(wf: BpmnWorkflow) -> bool:
    return bool(wf.completed)


def visited(wf: BpmnWorkflow) -> tuple[set[tuple[str, str]], set[tuple[str, str, str]]]:
    """What a run went through, for coverage: completed flow nodes as (container, bpmn id) and
    taken sequence flows as (container, source id, target id). The container is the process, or
    the embedded / event / called subprocess, the element belongs to."""
    nodes: set[tuple[str, str]] = set()
    edges: set[tuple[str, str, str]] = set()
    for task in wf.get_tasks():
        if task.state != SpiffState.COMPLETED or not task.task_spec.bpmn_id:
            continue
        container = task.workflow.spec.name
        nodes.add((container, task.task_spec.bpmn_id))
        for child in _next_bpmn_tasks(task):
            edges.add((container, task.task_spec.bpmn_id, child.task_spec.bpmn_id))
    return nodes, edges


def _next_bpmn_tasks(task: SpiffTask) -> list[SpiffTask]:
    """The nearest descendants that are BPMN elements (skipping Spiff's internal split/join tasks)."""
    out: list[SpiffTask] = []
    for child in task.children:
        if child.task_spec.bpmn_id:
            if child.state in (
                SpiffState.COMPLETED,
                SpiffState.READY,
                SpiffState.WAITING,
                SpiffState.STARTED,
            ):
                out.append(child)
        else:
            out.extend(_next_bpmn_tasks(child))
    return out


def next_timer_at(wf: BpmnWorkflow) -> datetime | None:
    """The earliest instant a waiting timer (in any subprocess) is due, or None."""
    instants = [_timer_due(t) for t in _waiting_timer_tasks(wf)]
    due = [i for i in instants if i is not None]
    return min(due) if due else None


def _waiting_timer_tasks(wf: BpmnWorkflow) -> list[SpiffTask]:
    return [
        t
        for t in wf.event_manager.tasks.values()
        if isinstance(getattr(t.task_spec, "event_definition", None), TimerEventDefinition)
    ]


def _timer_due(task: SpiffTask) -> datetime | None:
    value = task._get_internal_data("event_value")
    if value is None:
        return None
    if isinstance(value, dict):  # a cycle: {"cycles", "next", "duration"}
        return datetime.fromisoformat(value["next"]) if value.get("cycles") != 0 else None
    parsed = TimerEventDefinition.get_datetime(value)
    return datetime.fromtimestamp(parsed.timestamp(), UTC)


def pending_timers(wf: BpmnWorkflow) -> list[tuple[str, datetime | None]]:
    """(bpmn id, due instant) of every waiting timer."""
    return [(t.task_spec.bpmn_id or t.task_spec.name, _timer_due(t)) for t in _waiting_timer_tasks(wf)]


def reschedule_timers(wf: BpmnWorkflow, mentioning: str | None = None) -> int:
    """Forget the computed due instant of waiting date timers (all, or those whose expression
    mentions `mentioning`) so that they are evaluated again: used when a legal clock moves."""
    count = 0
    for t in _waiting_timer_tasks(wf):
        expression = t.task_spec.event_definition.expression or ""
        if mentioning is None or mentioning in expression:
            t.internal_data.pop("event_value", None)
            count += 1
    if count:
        wf.refresh_timers()
    return count


def send_message(wf: BpmnWorkflow, name: str, payload: Mapping[str, Any]) -> None:
    """Deliver a BPMN message; the catching event's camunda:resultVariable (default: the message
    name) receives the payload. Raises WorkflowScriptError when nothing takes it."""
    event = BpmnEvent(
        MessageEventDefinition(name), {"payload": dict(payload), "result_var": _result_var(wf, name)}
    )
    try:
        _start_nested_event_subprocesses(wf, name)
        wf.send_event(event)
    except _FAILURES as exc:
        raise _failure(exc) from exc
    run(wf)


def _start_nested_event_subprocesses(wf: BpmnWorkflow, name: str) -> None:
    """Spiff starts message event subprocesses of the top process only; those of a running called
    or embedded process (which accepted_messages offers) are started here, as Spiff does at the top,
    so that the message reaches their start event."""
    for process in wf.get_active_subprocesses():
        if _interrupting_event_subprocess(wf, process) is not None:
            continue
        for spec_name in getattr(process.spec.start, "trigger_specs", ()):
            sub_key = getattr(process.spec.task_specs.get(spec_name), "spec", None)
            if (
                sub_key not in wf.subprocess_specs
                or _event_subprocess_message(wf.subprocess_specs[sub_key]) != name
            ):
                continue
            waiting = any(
                sp.spec.name == sub_key and sp.get_next_task(state=SpiffState.WAITING) is not None
                for sp in wf.subprocesses.values()
                if sp.parent_task_id in {t.id for t in process.task_tree.children}
            )
            if not waiting:
                process.spec.start.trigger_wf(process.task_tree, spec_name)


def _message_specs(wf: BpmnWorkflow) -> list[Any]:
    specs = [wf.spec, *wf.subprocess_specs.values()]
    return [
        ts
        for spec in specs
        for ts in spec.task_specs.values()
        if isinstance(getattr(ts, "event_definition", None), _BaseMessage)
    ]


def _result_var(wf: BpmnWorkflow, name: str) -> str:
    for ts in _message_specs(wf):
        definition = ts.event_definition
        if definition.name == name and getattr(definition, "result_var", None):
            return str(definition.result_var)
    return name


@dataclass(frozen=True)
class MessageWaitView:
    name: str
    kind: str  # "catch": a catch event waits now; "start": an event subprocess can start
    correlation: str | None


def accepted_messages(wf: BpmnWorkflow) -> list[MessageWaitView]:
    """Messages the running workflow takes now, with the correlation value of each waiting event
    (the task-data variable named by the event's `correlate` property)."""
    out: list[MessageWaitView] = []
    for t in wf.event_manager.tasks.values():
        definition = getattr(t.task_spec, "event_definition", None)
        if isinstance(definition, _BaseMessage):
            var = (getattr(t.task_spec, "extensions", None) or {}).get("correlate")
            value = t.data.get(var) if var else None
            out.append(MessageWaitView(definition.name, "catch", None if value is None else str(value)))
    if not wf.completed:
        active = [
            p.spec
            for p in [wf, *wf.get_active_subprocesses()]
            if _interrupting_event_subprocess(wf, p) is None  # an interrupted process starts nothing new
        ]
        for spec in active:
            # Spiff lists a process's event subprocesses in its start task's trigger_specs.
            for name in getattr(spec.start, "trigger_specs", ()):
                sub = getattr(spec.task_specs.get(name), "spec", None)
                if sub in wf.subprocess_specs:
                    start = _event_subprocess_message(wf.subprocess_specs[sub])
                    if start is not None:
                        out.append(MessageWaitView(start, "start", None))
    return out


def _event_subprocess_message(spec: Any) -> str | None:
    for ts in spec.start.outputs:
        definition = getattr(ts, "event_definition", None)
        if isinstance(definition, _BaseMessage):
            return str(definition.name)
    return None


__all__ = ["BpmnWorkflow", "SpiffTask", "ValidationException"]
