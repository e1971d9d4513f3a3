"""Reading BPMN files: namespaces, element kinds, a safe parser, processes as layout scopes, DI checks."""

from __future__ import annotations

from lxml import etree

from tools import diagram as dg

MODEL = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}
GATEWAYS = {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway"}
SUBPROCESSES = {"subProcess", "transaction", "adHocSubProcess"}
ACTIVITIES = {
    "task", "userTask", "manualTask", "serviceTask", "scriptTask", "businessRuleTask", "sendTask",
    "receiveTask", "callActivity",
}  # fmt: skip
FLOW_NODES = EVENTS | GATEWAYS | SUBPROCESSES | ACTIVITIES


def parse(data: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    return etree.fromstring(data, parser)


def local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def children(el: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in el if isinstance(child.tag, str) and child.tag == f"{{{MODEL}}}{name}"]


def read_lanes(process: etree._Element) -> tuple[list[dg.Lane], dict[str, str]]:
    """The process's lanes (nested lanes as children) and each flow node's innermost lane."""
    lane_of: dict[str, str] = {}

    def lanes_in(lane_set: etree._Element | None) -> list[dg.Lane]:
        out = []
        for el in children(lane_set, "lane") if lane_set is not None else []:
            for ref in children(el, "flowNodeRef"):
                lane_of[(ref.text or "").strip()] = el.get("id")
            nested = children(el, "childLaneSet")
            out.append(dg.Lane(el.get("id"), el.get("name", ""), lanes_in(nested[0] if nested else None)))
        return out

    lane_sets = children(process, "laneSet")
    return lanes_in(lane_sets[0] if lane_sets else None), lane_of


def read_scope(container: etree._Element, lane_of: dict[str, str]) -> dg.Scope:
    nodes, flows = [], []
    defaults = {el.get("default") for el in container if isinstance(el.tag, str) and el.get("default")}
    for el in container:
        name = local(el)
        if el.tag == f"{{{MODEL}}}sequenceFlow":
            flow_id = el.get("id")
            flows.append(
                dg.Flow(
                    flow_id, el.get("sourceRef"), el.get("targetRef"), el.get("name", ""), flow_id in defaults
                )
            )
        elif isinstance(el.tag, str) and el.tag.startswith(f"{{{MODEL}}}") and name in FLOW_NODES:
            node = dg.Node(el.get("id"), _kind(name), el.get("name", ""), lane_of.get(el.get("id")))
            if name == "boundaryEvent":
                node.host = el.get("attachedToRef")
            if name in SUBPROCESSES:
                node.inner = read_scope(el, lane_of)
                node.triggered = el.get("triggeredByEvent") == "true"
            nodes.append(node)
    return dg.Scope(nodes, flows)


def _kind(name: str) -> str:
    if name == "startEvent":
        return "start"
    if name == "boundaryEvent":
        return "boundary"
    if name in EVENTS:
        return "event"
    if name in GATEWAYS:
        return "gateway"
    return "subprocess" if name in SUBPROCESSES else "activity"


def missing_di(root: etree._Element) -> list[str]:
    """Flow nodes, sequence flows, participants and lanes without exactly one shape or edge."""
    counts: dict[str, int] = {}
    for el in root.iter(f"{{{BPMNDI}}}BPMNShape", f"{{{BPMNDI}}}BPMNEdge"):
        counts[el.get("bpmnElement")] = counts.get(el.get("bpmnElement"), 0) + 1
    problems = []
    for process in children(root, "process"):
        for el in process.iter():
            name = local(el)
            in_model = isinstance(el.tag, str) and el.tag.startswith(f"{{{MODEL}}}")
            if in_model and (name in FLOW_NODES or name in ("sequenceFlow", "lane")):
                n = counts.get(el.get("id"), 0)
                if n != 1:
                    problems.append(f"{name} {el.get('id')}: {'no' if n == 0 else n} {_di_kind(name)}")
    return problems


def _di_kind(name: str) -> str:
    return "edges" if name == "sequenceFlow" else "shapes"
