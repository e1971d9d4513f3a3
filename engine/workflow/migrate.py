"""Moving a running workflow onto another version of its specs, with SpiffWorkflow's own spec diff:
task specs are aligned by BPMN id (or, failing that, by structure); the steps that wait now are
re-predicted from the new spec; a timer whose expression did not change keeps its due instant."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff
from SpiffWorkflow.camunda.serializer import DEFAULT_CONFIG
from SpiffWorkflow.util.task import TaskState as SpiffState

from engine.workflow import runtime

# Spec converters only: SpecDiff compares two task specs by their serialized form.
_SPEC_REGISTRY = BpmnWorkflowSerializer.configure(dict(DEFAULT_CONFIG))
CURRENT = SpiffState.READY | SpiffState.WAITING | SpiffState.STARTED
_RESET = SpiffState.READY | SpiffState.WAITING

# What SpiffWorkflow calls the attributes of a task spec, as a process owner reads them.
ATTRIBUTE_NAMES = {
    "extensions": "办理角色、期限或表单",
    "lane": "泳道（角色）",
    "bpmn_name": "名称",
    "event_definition": "事件定义（定时器、消息）",
    "typename": "元素类型",
    "outputs": "后续连线",
    "inputs": "前序连线",
    "cond_task_specs": "条件",
    "default_task_spec": "默认连线",
    "data_input_associations": "输入数据",
    "data_output_associations": "输出数据",
}


@dataclass(frozen=True)
class Step:
    """A step the workflow is at now."""

    bpmn_id: str
    name: str
    changes: tuple[str, ...] = ()  # what changed in its definition (Chinese), empty when nothing


@dataclass
class Outcome:
    """The result of moving one workflow: problems (Chinese) when it cannot move; else its new state."""

    steps: list[Step] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    retimed: list[str] = field(default_factory=list)  # timers computed again from the new definition
    kept_timers: list[str] = field(default_factory=list)  # timers that keep their due instant
    state: str | None = None


def _label(spec: Any) -> str:
    bpmn_id = spec.bpmn_id or spec.name
    name = spec.bpmn_name or ""
    return f"「{name}」（{bpmn_id}）" if name else f"「{bpmn_id}」"


def _describe_changes(attributes: list[str]) -> tuple[str, ...]:
    return tuple(sorted({ATTRIBUTE_NAMES.get(a, a) for a in attributes}))


def _timer_expression(task: Any) -> str | None:
    definition = getattr(task.task_spec, "event_definition", None)
    if isinstance(definition, TimerEventDefinition):
        return str(definition.expression or "")
    return None


def _learn_subclasses(specs: list[Any]) -> None:
    """Our parser's own task spec classes (subclasses of Spiff's) compare like their Spiff base:
    the spec diff serializes both versions, and an unknown class would not serialize."""
    for spec in specs:
        for ts in spec.task_specs.values():
            cls = type(ts)
            if cls in _SPEC_REGISTRY.typenames:
                continue
            base = next((b for b in cls.__mro__[1:] if b in _SPEC_REGISTRY.typenames), None)
            if base is not None:
                _SPEC_REGISTRY.typenames[cls] = _SPEC_REGISTRY.typenames[base]


def migrate(wf: runtime.BpmnWorkflow, bundle: runtime.SpecBundle) -> Outcome:
    """Move `wf` (changed in place: discard it afterwards) onto `bundle`'s specs. The outcome lists
    the current steps and, when the move is impossible, why; otherwise the migrated state (JSON)."""
    out = Outcome()
    spec, subprocess_specs = bundle.specs_for_run()
    _learn_subclasses([wf.spec, *wf.subprocess_specs.values(), spec, *subprocess_specs.values()])
    pairs: list[tuple[Any, WorkflowDiff, Any]] = []
    top = SpecDiff(_SPEC_REGISTRY, wf.spec, spec)
    pairs.append((wf, WorkflowDiff(wf, top), spec))
    diffs = {id(wf): top}
    for sp in wf.subprocesses.values():
        new_spec = subprocess_specs.get(sp.spec.name)
        if new_spec is None:
            out.problems.append(f"子流程「{sp.spec.name}」在新版本中不存在")
            continue
        sub_diff = SpecDiff(_SPEC_REGISTRY, sp.spec, new_spec)
        diffs[id(sp)] = sub_diff
        pairs.append((sp, WorkflowDiff(sp, sub_diff), new_spec))

    for workflow, wdiff, _ in pairs:
        changed = diffs[id(workflow)].changed
        for task in workflow.get_tasks(state=CURRENT, skip_subprocesses=True):
            ts = task.task_spec
            if not ts.bpmn_id:
                continue  # Spiff's internal split/join tasks
            if wdiff.alignment.get(task) is None:
                out.problems.append(f"当前环节{_label(ts)}在新版本中不存在")
            out.steps.append(
                Step(ts.bpmn_id, ts.bpmn_name or ts.bpmn_id, _describe_changes(changed.get(ts, [])))
            )
    if out.problems:
        return out

    timers = {t.id: (_timer_expression(t), t.internal_data.get("event_value")) for t in _waiting_timers(wf)}
    for workflow, wdiff, new_spec in pairs:
        workflow.spec = new_spec
        for task in workflow.tasks.values():
            aligned = wdiff.alignment.get(task)
            if aligned is not None:
                task.task_spec = aligned
    wf.subprocess_specs = subprocess_specs
    for workflow, _, _ in pairs:
        for task in list(workflow.get_tasks(state=_RESET, skip_subprocesses=True)):
            if task.id in workflow.tasks:  # an earlier reset may have dropped it already
                task.reset_branch(task.data)  # keep its data; re-predict what follows from the new spec
        if workflow.last_task is not None and workflow.last_task.id not in workflow.tasks:
            workflow.last_task = None

    leftovers = sorted(
        {
            _label(task.task_spec)
            for workflow, _, new_spec in pairs
            for task in workflow.tasks.values()
            if new_spec.task_specs.get(task.task_spec.name) is not task.task_spec
        }
    )
    if leftovers:
        out.problems += [f"已走过的环节{label}在新版本中已删除，办理记录无法保留" for label in leftovers]
        return out

    for task in _waiting_timers(wf):
        expression, due = timers.get(task.id, (None, None))
        label = task.task_spec.bpmn_name or task.task_spec.bpmn_id or task.task_spec.name
        if due is not None and expression == _timer_expression(task):
            task.internal_data["event_value"] = due
            out.kept_timers.append(label)
        else:
            task.internal_data.pop("event_value", None)
            out.retimed.append(label)

    state = runtime.dump(wf)
    try:  # the new state must load with the new specs exactly as a later request will load it
        runtime.load(state, runtime.SERIALIZER_VERSION, bundle, wf.script_engine)
    except Exception as exc:  # any failure here means: do not move this instance
        out.problems.append(f"迁移后的流程状态无法加载：{type(exc).__name__}: {exc}")
        return out
    out.state = state
    return out


def _waiting_timers(wf: runtime.BpmnWorkflow) -> list[Any]:
    return [t for t in wf.get_tasks(state=SpiffState.WAITING) if _timer_expression(t) is not None]
