"""A readable comparison of two versions of a BPMN or DMN file: the elements added, removed and changed,
and for a changed element each property that differs — name, camunda attributes (role, assignee,
deadlines), form fields, timers, conditions, scripts, lane membership, decision-table cells. Diagram
layout (BPMN DI / DMN DI) is ignored: moving a shape is not a change of the procedure."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from engine.workflow.parser import parse_xml

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SEMANTIC_NAMESPACES = (
    BPMN_NS,
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
)
PREFIXES = {
    "http://camunda.org/schema/1.0/bpmn": "camunda",
    "http://camunda.org/schema/1.0/dmn": "camunda",
    "http://www.w3.org/2001/XMLSchema-instance": "xsi",
}
# Parts of an element rather than elements of their own, even when they carry an id.
PARTS = {
    "conditionExpression", "timerEventDefinition", "messageEventDefinition", "errorEventDefinition",
    "signalEventDefinition", "escalationEventDefinition", "terminateEventDefinition",
    "conditionalEventDefinition", "compensateEventDefinition", "linkEventDefinition",
    "inputEntry", "outputEntry", "inputExpression", "literalExpression", "multiInstanceLoopCharacteristics",
}  # fmt: skip
# Child references that only repeat what the sequence flows say.
NOISE = {"incoming", "outgoing"}
TYPE_NAMES = {
    "process": "流程", "userTask": "用户任务", "serviceTask": "服务任务", "scriptTask": "脚本任务",
    "businessRuleTask": "业务规则任务", "sendTask": "发送任务", "receiveTask": "接收任务", "task": "任务",
    "manualTask": "人工任务", "callActivity": "调用活动", "subProcess": "子流程", "startEvent": "开始事件",
    "endEvent": "结束事件", "boundaryEvent": "边界事件", "intermediateCatchEvent": "中间捕获事件",
    "intermediateThrowEvent": "中间抛出事件", "exclusiveGateway": "排他网关", "parallelGateway": "并行网关",
    "inclusiveGateway": "包容网关", "eventBasedGateway": "事件网关", "sequenceFlow": "连线", "lane": "泳道",
    "laneSet": "泳道集", "participant": "参与者", "collaboration": "协作", "message": "消息",
    "decision": "决策", "decisionTable": "决策表", "rule": "规则", "input": "输入列", "output": "输出列",
}  # fmt: skip


@dataclass(frozen=True)
class PropertyChange:
    key: str
    old: str | None
    new: str | None


@dataclass
class ElementChange:
    kind: str  # "added", "removed" or "changed"
    id: str
    type: str  # Chinese element type
    name: str
    props: list[PropertyChange] = field(default_factory=list)


def _qname(tag: str) -> str:
    q = etree.QName(tag)
    prefix = PREFIXES.get(q.namespace or "")
    return f"{prefix}:{q.localname}" if prefix else q.localname


def _is_element(node: etree._Element) -> bool:
    if not isinstance(node.tag, str):
        return False
    q = etree.QName(node.tag)
    return q.namespace in SEMANTIC_NAMESPACES and bool(node.get("id")) and q.localname not in PARTS


def _child_key(child: etree._Element, siblings: list[etree._Element]) -> str:
    name = _qname(child.tag)
    ident = child.get("id") or child.get("name")
    if ident and etree.QName(child.tag).namespace not in SEMANTIC_NAMESPACES:
        return f"{name}[{ident}]"  # camunda:formField[amount], camunda:property[widget]
    same = [s for s in siblings if s.tag == child.tag]
    return f"{name}[{same.index(child) + 1}]" if len(same) > 1 else name


def _properties(node: etree._Element) -> dict[str, str]:
    """The element's own attributes and text, and those of its parts, as path -> value."""
    props: dict[str, str] = {}

    def walk(current: etree._Element, path: str) -> None:
        for attr, value in current.attrib.items():
            if current is node and attr == "id":
                continue
            props[f"{path}@{_qname(attr)}" if path else _qname(attr)] = value
        text = (current.text or "").strip()
        if text and current is not node:
            props[path] = text
        children = [c for c in current if isinstance(c.tag, str)]
        refs = [c for c in children if etree.QName(c.tag).localname == "flowNodeRef"]
        if refs:
            props[f"{path}/flowNodeRef" if path else "flowNodeRef"] = ", ".join(
                sorted((r.text or "").strip() for r in refs)
            )
        for child in children:
            local = etree.QName(child.tag).localname
            if _is_element(child) or local in NOISE or local == "flowNodeRef":
                continue
            key = _child_key(child, children)
            walk(child, f"{path}/{key}" if path else key)

    walk(node, "")
    return props


def _elements(xml: str) -> dict[str, tuple[str, str, dict[str, str]]]:
    root = parse_xml(xml)
    out = {}
    for node in root.iter():
        if _is_element(node):
            local = etree.QName(node.tag).localname
            if local in ("definitions",):
                continue
            name = node.get("name") or node.get("label") or ""
            out[node.get("id") or ""] = (TYPE_NAMES.get(local, local), name, _properties(node))
    return out


def _readable(key: str) -> str:
    return key.replace("extensionElements/", "").replace("camunda:formData/", "")


def compare(old_xml: str, new_xml: str) -> list[ElementChange]:
    """What changed from `old_xml` to `new_xml`, element by element, in document order of the new file
    (removed elements last). Raises ValueError / XMLSyntaxError on unreadable XML."""
    old, new = _elements(old_xml), _elements(new_xml)
    changes: list[ElementChange] = []
    for eid, (etype, name, props) in new.items():
        if eid not in old:
            changes.append(ElementChange("added", eid, etype, name))
            continue
        before = old[eid][2]
        diffs = [
            PropertyChange(_readable(key), before.get(key), props.get(key))
            for key in sorted(set(before) | set(props))
            if before.get(key) != props.get(key)
        ]
        if diffs or old[eid][0] != etype:
            if old[eid][0] != etype:
                diffs.insert(0, PropertyChange("类型", old[eid][0], etype))
            changes.append(ElementChange("changed", eid, etype, name or old[eid][1], diffs))
    for eid, (etype, name, _) in old.items():
        if eid not in new:
            changes.append(ElementChange("removed", eid, etype, name))
    return changes
