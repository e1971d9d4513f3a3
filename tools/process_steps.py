"""The steps of a BPMN process in reading order (for the catalogue), and Camunda extension look-ups."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from tools.bpmn_xml import FLOW_NODES, MODEL, SUBPROCESSES, local, parse
from tools.markdown import cell

CAMUNDA = ("http://camunda.org/schema/1.0/bpmn", "http://activiti.org/bpmn")  # and the legacy prefix


def camunda(el: etree._Element, name: str) -> str | None:
    return next((el.get(f"{{{ns}}}{name}") for ns in CAMUNDA if el.get(f"{{{ns}}}{name}") is not None), None)


def extensions(el: etree._Element, name: str) -> list[etree._Element]:
    """camunda:<name> elements under el's extensionElements (not those of nested flow nodes)."""
    found = []
    for ext in el.findall(f"{{{MODEL}}}extensionElements"):
        found += [e for e in ext.iter() if isinstance(e.tag, str) and local(e) == name]
    return found


@dataclass
class Step:
    number: str
    el: etree._Element
    lane: str = ""

    @property
    def title(self) -> str:
        name = self.el.get("name") or ""
        return f"{cell(name)} (`{self.el.get('id')}`)" if name else f"`{self.el.get('id')}`"


@dataclass
class Process:
    file: str
    el: etree._Element
    messages: dict[str, str]
    steps: list[Step] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.el.get("id")

    @property
    def name(self) -> str:
        return self.el.get("name") or self.key


def read_processes(path: Path, rel: str) -> list[Process]:
    root = parse(path.read_bytes())
    messages = {m.get("id"): m.get("name") or m.get("id") for m in root if local(m) in ("message", "signal")}
    messages.update(
        {e.get("id"): e.get("errorCode") or e.get("name") or e.get("id") for e in root if local(e) == "error"}
    )
    out = []
    for el in (p for p in root if local(p) == "process"):
        lane_of = {
            (ref.text or "").strip(): lane.get("name") or lane.get("id")
            for lane in el.iter(f"{{{MODEL}}}lane")
            for ref in lane.findall(f"{{{MODEL}}}flowNodeRef")
        }
        process = Process(rel, el, messages)
        process.steps = _reading_order(el, "", lane_of)
        out.append(process)
    return out


def _flow_nodes(container: etree._Element) -> list[etree._Element]:
    return [
        c
        for c in container
        if isinstance(c.tag, str) and c.tag.startswith(f"{{{MODEL}}}") and local(c) in FLOW_NODES
    ]


def _reading_order(container: etree._Element, prefix: str, lane_of: dict[str, str]) -> list[Step]:
    """Steps as a reader follows them: depth first from the start events along the flows (document order),
    boundary events right after their activity, the paths they open after the main path, event
    subprocesses last. Gateways are left out (see Branches); subprocess steps are numbered 5.1, 5.2, ..."""
    nodes = _flow_nodes(container)
    by_id = {n.get("id"): n for n in nodes}
    succ: dict[str, list[str]] = {n.get("id"): [] for n in nodes}
    has_in = set()
    for flow in (c for c in container if local(c) == "sequenceFlow"):
        if flow.get("sourceRef") in succ and flow.get("targetRef") in by_id:
            succ[flow.get("sourceRef")].append(flow.get("targetRef"))
            has_in.add(flow.get("targetRef"))
    attached: dict[str, list[str]] = {}
    for n in nodes:
        if local(n) == "boundaryEvent":
            attached.setdefault(n.get("attachedToRef"), []).append(n.get("id"))
    triggered = [n.get("id") for n in nodes if n.get("triggeredByEvent") == "true"]
    order: list[str] = []
    later: list[str] = []

    def walk(start: str) -> None:
        stack = [start]
        while stack:
            n = stack.pop()
            if n in order:
                continue
            order.append(n)
            for b in attached.get(n, []):
                order.append(b)
                later.extend(succ[b])
            stack.extend(reversed([t for t in succ[n] if t not in order]))

    starts = [i for i, n in by_id.items() if local(n) == "startEvent"]
    for root in [*starts, *(i for i in by_id if i not in has_in and local(by_id[i]) != "boundaryEvent")]:
        if root not in triggered:
            walk(root)
    while later:
        walk(later.pop(0))
    for rest in [*triggered, *by_id]:
        if rest not in order and local(by_id[rest]) != "boundaryEvent":
            walk(rest)
    order += [i for i in by_id if i not in order]

    steps, number, letter = [], 0, 0
    for i in order:
        el = by_id[i]
        if local(el) in (
            "exclusiveGateway",
            "parallelGateway",
            "inclusiveGateway",
            "eventBasedGateway",
            "complexGateway",
        ):
            continue
        if local(el) == "boundaryEvent":
            letter += 1
            label = f"{prefix}{number}{chr(ord('a') + letter - 1)}"
        else:
            number, letter = number + 1, 0
            label = f"{prefix}{number}"
        steps.append(Step(label, el, lane_of.get(i, "")))
        if local(el) in SUBPROCESSES:
            steps += _reading_order(el, f"{label}.", lane_of)
    return steps
