"""CamundaParser extended with what SpiffWorkflow ignores: task assignment attributes, forms as
plain dicts (user tasks and start events), bare ISO 8601 timer literals, the legacy activiti prefix."""

from __future__ import annotations

import re
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowDataException
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator, full_tag
from SpiffWorkflow.bpmn.parser.ProcessParser import ProcessParser
from SpiffWorkflow.bpmn.specs.defaults import (
    BoundaryEvent,
    CallActivity,
    EndEvent,
    IntermediateCatchEvent,
    IntermediateThrowEvent,
    StartEvent,
)
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.event_parsers import (
    CamundaBoundaryEventParser,
    CamundaEndEventParser,
    CamundaIntermediateCatchEventParser,
    CamundaIntermediateThrowEventParser,
    CamundaStartEventParser,
)
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS, UserTaskParser
from SpiffWorkflow.camunda.specs.user_task import UserTask
from SpiffWorkflow.util.task import TaskState

ACTIVITI_NS = "http://activiti.org/bpmn"
USER_TASK_ATTRIBUTES = (
    "assignee",
    "candidateGroups",
    "candidateUsers",
    "dueDate",
    "followUpDate",
    "priority",
    "formKey",
)

_DURATION = r"P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?"
_DATETIME = r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
ISO_LITERAL = re.compile(
    rf"^(({_DURATION})|({_DATETIME})|(R\d*/(({_DURATION})|({_DATETIME}))(/({_DURATION}))?))$"
)


def is_iso_literal(text: str) -> bool:
    """True for a bare ISO 8601 duration, instant or cycle as a modeller writes it (P5D, PT24H, …)."""
    return bool(ISO_LITERAL.match(text.strip()))


def _camunda(name: str) -> str:
    return f"{{{CAMUNDA_MODEL_NS}}}{name}"


def read_form(node: etree._Element) -> dict[str, Any] | None:
    """The camunda:formData of a user task or start event as plain data, or None without one."""
    fields = node.findall(f"./{{*}}extensionElements/{_camunda('formData')}/{_camunda('formField')}")
    form_key = node.get(_camunda("formKey"))
    if not fields and form_key is None:
        return None
    out = []
    for field in fields:
        properties = {
            p.get("id") or "": p.get("value") or ""
            for p in field.findall(f"./{_camunda('properties')}/{_camunda('property')}")
        }
        constraints = {
            c.get("name") or "": c.get("config")
            for c in field.findall(f"./{_camunda('validation')}/{_camunda('constraint')}")
        }
        options = [[v.get("id") or "", v.get("name") or ""] for v in field.findall(f"./{_camunda('value')}")]
        out.append(
            {
                "id": field.get("id") or "",
                "label": field.get("label") or field.get("id") or "",
                "type": field.get("type") or "string",
                "default": field.get("defaultValue"),
                "properties": properties,
                "constraints": constraints,
                "options": options,
            }
        )
    return {"key": form_key or "", "fields": out}


class YbjgUserTaskParser(UserTaskParser):
    """Copies the Camunda assignment attributes and the form into the task spec's extensions."""

    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        extensions: dict[str, Any] = super().parse_extensions(node)
        for name in USER_TASK_ATTRIBUTES:
            value = self.node.get(_camunda(name))
            if value is not None:
                extensions[name] = value
        form = read_form(self.node)
        if form is not None:
            extensions["form"] = form
        return extensions


def read_properties(node: etree._Element) -> dict[str, str]:
    """camunda:properties directly under the element's extensionElements."""
    return {
        p.get("name") or "": p.get("value") or ""
        for p in node.findall(f"./{{*}}extensionElements/{_camunda('properties')}/{_camunda('property')}")
    }


class _LiteralTimers:
    """Events: camunda:properties and the form become extensions (Spiff reads neither on events);
    a timer typed as a bare ISO 8601 literal is that literal, as in Camunda; else Python."""

    node: etree._Element

    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        extensions = read_properties(self.node)
        form = read_form(self.node)
        if form is not None:
            extensions["form"] = form  # type: ignore[assignment]
        return extensions

    def parse_timer_event(self, event: Any) -> Any:
        definition = super().parse_timer_event(event)  # type: ignore[misc]
        expression = (definition.expression or "").strip()
        if is_iso_literal(expression):
            definition.expression = repr(expression)
        return definition


class YbjgStartEventParser(_LiteralTimers, CamundaStartEventParser):
    """The start event of an event subprocess records isInterrupting (BPMN's default: true), which
    Spiff ignores; runtime.run cancels the rest of the process when such a subprocess starts."""

    def create_task(self) -> Any:
        task = super().create_task()
        parent = self.node.getparent()
        if parent is not None and parent.get("triggeredByEvent") == "true":
            task.interrupting = self.node.get("isInterrupting", "true").lower() == "true"
        return task


class YbjgIntermediateCatchEventParser(_LiteralTimers, CamundaIntermediateCatchEventParser):
    pass


class YbjgBoundaryEventParser(_LiteralTimers, CamundaBoundaryEventParser):
    pass


class YbjgIntermediateThrowEventParser(_LiteralTimers, CamundaIntermediateThrowEventParser):
    pass


class YbjgEndEventParser(_LiteralTimers, CamundaEndEventParser):
    pass


class YbjgCallActivity(CallActivity):
    """A call activity (or embedded subprocess) whose called process declares data outputs: Spiff
    reads them from the process's End task, which a terminate end event (or an interrupting event
    subprocess) never reaches. Then they are read from the task that ended the process."""

    def update_data(self, my_task: Any, subworkflow: Any) -> None:
        io = subworkflow.spec.io_specification
        end = subworkflow.get_next_task(subworkflow.task_tree, skip_subprocesses=True, spec_name="End")
        if io is None or not io.data_outputs or (end is not None and end.state == TaskState.COMPLETED):
            super().update_data(my_task, subworkflow)
            return
        last = subworkflow.last_task
        for var in io.data_outputs:
            if last is None or var.bpmn_id not in last.data:
                raise WorkflowDataException(
                    "The Data Output was not available in the subprocess output.",
                    task=my_task,
                    data_output=var,
                )
            var.set(my_task, var.get(last))


class YbjgProcessParser(ProcessParser):
    """An element inside an embedded or event subprocess belongs to the lane it is drawn in (its own
    flowNodeRef), as in Camunda; Spiff would give it the subprocess's lane. The subprocess's lane
    remains the fallback for an element no lane lists."""

    def __init__(self, *args: Any, lane: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, lane=None, **kwargs)
        self.enclosing_lane = lane

    def get_lane_name(self, node_id: str) -> str | None:
        lane: str | None = self.lanes_by_node_id.get(node_id)
        return lane if lane is not None else self.enclosing_lane


class YbjgParser(CamundaParser):
    """The project's parser; validates against the BPMN XSD."""

    PROCESS_PARSER_CLASS = YbjgProcessParser
    OVERRIDE_PARSER_CLASSES = {  # noqa: RUF012
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (YbjgUserTaskParser, UserTask),
        full_tag("startEvent"): (YbjgStartEventParser, StartEvent),
        full_tag("intermediateCatchEvent"): (YbjgIntermediateCatchEventParser, IntermediateCatchEvent),
        full_tag("boundaryEvent"): (YbjgBoundaryEventParser, BoundaryEvent),
        full_tag("intermediateThrowEvent"): (YbjgIntermediateThrowEventParser, IntermediateThrowEvent),
        full_tag("endEvent"): (YbjgEndEventParser, EndEvent),
        full_tag("subProcess"): (
            CamundaParser.OVERRIDE_PARSER_CLASSES[full_tag("subProcess")][0],
            YbjgCallActivity,
        ),
        full_tag("callActivity"): (
            CamundaParser.OVERRIDE_PARSER_CLASSES[full_tag("callActivity")][0],
            YbjgCallActivity,
        ),
    }

    def __init__(self) -> None:
        super().__init__(validator=BpmnValidator())


SAFE_XML_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)


def parse_xml(data: bytes | str) -> etree._Element:
    """Parse untrusted XML: no DTDs (so no XXE, no entity expansion bombs), no network.
    The legacy activiti namespace is read as camunda's. Raises etree.XMLSyntaxError or ValueError."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if b"<!DOCTYPE" in raw[:4096].upper() or b"<!ENTITY" in raw.upper():
        raise ValueError("XML 中不允许 DOCTYPE/ENTITY 声明 (DTDs and entities are refused)")
    if ACTIVITI_NS.encode() in raw:
        raw = raw.replace(ACTIVITI_NS.encode(), CAMUNDA_MODEL_NS.encode())
    return etree.fromstring(raw, SAFE_XML_PARSER)
