"""BPMN element coverage of the path tests: which flow nodes and sequence flows of every shipped
file some path test went through."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine import instances
from engine.models import ProcessInstance
from engine.users import SYSTEM
from engine.workflow import runtime

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
FLOW_NODE_TAGS = {
    f"{BPMN}{t}"
    for t in (
        "startEvent endEvent intermediateCatchEvent intermediateThrowEvent boundaryEvent task userTask "
        "manualTask scriptTask serviceTask sendTask receiveTask businessRuleTask callActivity subProcess "
        "transaction exclusiveGateway parallelGateway inclusiveGateway eventBasedGateway complexGateway"
    ).split()
}
CONTAINERS = {f"{BPMN}subProcess", f"{BPMN}transaction"}
JOINS = {f"{BPMN}parallelGateway", f"{BPMN}inclusiveGateway", f"{BPMN}exclusiveGateway"}


@dataclass
class Visits:
    nodes: set[tuple[str, str]] = field(default_factory=set)
    edges: set[tuple[str, str, str]] = field(default_factory=set)
    unfaithful: set[str] = field(default_factory=set)  # process keys whose state changed on restore

    def collect(self, sf: sessionmaker[Session]) -> None:
        """Add what every instance in the database went through, and check that restoring its
        saved state and saving it again changes nothing."""
        with sf() as s:
            for instance in s.scalars(select(ProcessInstance)):
                if not instance.state:
                    continue
                loaded = instances.load(s, instance, SYSTEM)
                nodes, edges = runtime.visited(loaded.workflow)
                self.nodes |= nodes
                self.edges |= edges
                if json.loads(runtime.dump(loaded.workflow)) != json.loads(instance.state):
                    self.unfaithful.add(instance.process_key)


VISITS = Visits()


@dataclass(frozen=True)
class Flow:
    container: str
    id: str
    source: str
    target: str
    file: str


def shipped_elements(
    directory: Path,
) -> tuple[list[tuple[str, str, str]], list[Flow], dict[tuple[str, str], str]]:
    """(file, container, node id) of every flow node, every sequence flow, and each node's tag."""
    nodes: list[tuple[str, str, str]] = []
    flows: list[Flow] = []
    tags: dict[tuple[str, str], str] = {}
    for path in sorted(directory.glob("*.bpmn")):
        root = etree.parse(str(path)).getroot()
        for process in root.iter(f"{BPMN}process"):
            if process.get("isExecutable") == "true":
                _walk(path.name, process.get("id") or "", process, nodes, flows, tags)
    return nodes, flows, tags


def _walk(
    file: str,
    container: str,
    parent: etree._Element,
    nodes: list[tuple[str, str, str]],
    flows: list[Flow],
    tags: dict[tuple[str, str], str],
) -> None:
    for child in parent:
        if child.tag in FLOW_NODE_TAGS:
            nodes.append((file, container, child.get("id") or ""))
            tags[(container, child.get("id") or "")] = child.tag
            if child.tag in CONTAINERS:
                _walk(file, child.get("id") or "", child, nodes, flows, tags)
        elif child.tag == f"{BPMN}sequenceFlow":
            flows.append(
                Flow(
                    container,
                    child.get("id") or "",
                    child.get("sourceRef") or "",
                    child.get("targetRef") or "",
                    file,
                )
            )


def flow_visited(flow: Flow, visits: Visits, tags: dict[tuple[str, str], str]) -> bool:
    """A flow was taken when its target followed its source in the run; into a converging
    gateway, when both ends ran (Spiff keeps one join task for all incoming branches)."""
    if (flow.container, flow.source, flow.target) in visits.edges:
        return True
    into_join = tags.get((flow.container, flow.target)) in JOINS
    return into_join and {(flow.container, flow.source), (flow.container, flow.target)} <= visits.nodes
