"""The process diagram of one instance as its case page shows it: the XML of the instance's own pinned
definition version, and a state per BPMN element — done (passed), current (waiting there now) or
overdue (an open task past its due instant) — plus the sequence flows taken."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import instances
from engine.clock import utcnow
from engine.errors import NotFoundError
from engine.models import Definition, ProcessInstance, Task, TaskState
from engine.users import Actor
from engine.workflow import runtime
from engine.workflow.parser import parse_xml

State = Literal["done", "current", "overdue"]
_RANK: dict[str, int] = {"done": 0, "current": 1, "overdue": 2}
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


@dataclass(frozen=True)
class Outline:
    """What the diagram needs from a definition's XML."""

    containers: frozenset[str]  # process and subprocess ids: elements of other files are not drawn here
    names: dict[str, str]  # element id -> name
    flows: dict[tuple[str, str], tuple[str, ...]]  # (source id, target id) -> sequence flow ids
    calls: dict[str, tuple[str, ...]]  # called process key -> call activity ids
    boundary: frozenset[str]  # boundary event ids (armed ones are not "current")
    has_layout: bool = True  # False when the file has no diagram interchange (BPMN DI) to draw


@dataclass(frozen=True)
class Diagram:
    instance_id: int
    process_key: str
    version: int
    name: str
    xml: str
    states: dict[str, str]
    flows: list[str]  # sequence flows taken
    names: dict[str, str]  # names of the elements that have a state
    has_layout: bool


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


_OUTLINES: dict[tuple[int, str], Outline] = {}
_OUTLINE_CACHE_SIZE = 64
_OUTLINES_LOCK = threading.Lock()


def _parse_outline(xml: str) -> Outline:
    root = parse_xml(xml)
    containers: set[str] = set()
    names: dict[str, str] = {}
    flows: dict[tuple[str, str], list[str]] = {}
    calls: dict[str, list[str]] = {}
    boundary: set[str] = set()
    has_layout = any(
        isinstance(el.tag, str) and etree.QName(el.tag).localname in ("BPMNShape", "BPMNEdge")
        for el in root.iter()
    )
    for el in root.iter():
        if not isinstance(el.tag, str) or etree.QName(el.tag).namespace != BPMN_NS:
            continue
        kind, el_id = _local(el.tag), el.get("id")
        if not el_id:
            continue
        if el.get("name"):
            names[el_id] = el.get("name", "")
        if kind in ("process", "subProcess", "transaction", "adHocSubProcess"):
            containers.add(el_id)
        elif kind == "sequenceFlow":
            flows.setdefault((el.get("sourceRef", ""), el.get("targetRef", "")), []).append(el_id)
        elif kind == "callActivity" and el.get("calledElement"):
            calls.setdefault(el.get("calledElement", ""), []).append(el_id)
        elif kind == "boundaryEvent":
            boundary.add(el_id)
    return Outline(
        frozenset(containers),
        names,
        {k: tuple(v) for k, v in flows.items()},
        {k: tuple(v) for k, v in calls.items()},
        frozenset(boundary),
        has_layout,
    )


def outline(definition: Definition) -> Outline:
    """The parsed outline of a deployed definition (cached per version: deployed XML never changes)."""
    key = (definition.id, definition.sha256)
    with _OUTLINES_LOCK:
        found = _OUTLINES.get(key)
    if found is None:
        found = _parse_outline(definition.xml)
        with _OUTLINES_LOCK:
            if len(_OUTLINES) >= _OUTLINE_CACHE_SIZE:
                _OUTLINES.pop(next(iter(_OUTLINES)))
            _OUTLINES[key] = found
    return found


def definition_of(session: Session, instance: ProcessInstance) -> Definition:
    """The definition version the instance was started on (its pin), never the newest."""
    definition = session.get(Definition, instance.definition_id)
    if definition is None:
        raise NotFoundError(f"流程定义 {instance.definition_id} 不存在")
    return definition


def element_states(
    session: Session, instance: ProcessInstance, actor: Actor, *, now: datetime | None = None
) -> tuple[dict[str, str], list[str]]:
    """{bpmn id: 'done' | 'current' | 'overdue'} for the elements of the instance's own definition,
    and the ids of the sequence flows taken. Reads the workflow; never changes it."""
    shape = outline(definition_of(session, instance))
    now = now or utcnow()
    states: dict[str, str] = {}

    def mark(bpmn_id: str, state: State) -> None:
        if _RANK[state] > _RANK.get(states.get(bpmn_id, ""), -1):
            states[bpmn_id] = state

    loaded = instances.load(session, instance, actor)
    nodes, edges = runtime.visited(loaded.workflow)
    done = {bpmn_id for container, bpmn_id in nodes if container in shape.containers}
    for bpmn_id in done:
        mark(bpmn_id, "done")
    taken: set[str] = set()
    for container, source, target in edges:
        if container not in shape.containers:
            continue
        taken.update(shape.flows.get((source, target), ()))
        # Reached but not completed: a task or catch event waiting, a subprocess or call running.
        if target not in done and target not in shape.boundary:
            mark(target, "current")

    open_tasks = session.scalars(
        select(Task).where(Task.instance_id == instance.id, Task.state == TaskState.OPEN)
    )
    for task in open_tasks:
        state: State = "overdue" if task.due_at is not None and task.due_at < now else "current"
        if task.process_key in shape.containers:
            mark(task.bpmn_id, state)
        else:  # a task of a called process: show it on the call activity that runs it
            for call_id in shape.calls.get(task.process_key, ()):
                mark(call_id, state)
    return states, sorted(taken)


def for_instance(session: Session, instance: ProcessInstance, actor: Actor) -> Diagram:
    """The instance's pinned XML with its element states."""
    definition = definition_of(session, instance)
    states, flows = element_states(session, instance, actor)
    shape = outline(definition)
    return Diagram(
        instance_id=instance.id,
        process_key=definition.key,
        version=definition.version,
        name=definition.name,
        xml=definition.xml,
        states=states,
        flows=flows,
        names={k: shape.names.get(k, k) for k in states},
        has_layout=shape.has_layout,
    )


def element_names(session: Session, instance: ProcessInstance) -> dict[str, str]:
    """Element id -> name across every definition the instance pins (for readable timelines)."""
    names: dict[str, str] = {}
    for definition_id in sorted(set((instance.spec_pins or {}).values()) | {instance.definition_id}):
        definition = session.get(Definition, definition_id)
        if definition is not None and definition.kind == "process":
            for key, value in outline(definition).names.items():
                names.setdefault(key, value)
    return names
