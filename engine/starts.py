"""发起流程: which deployed processes a person may start by hand, their start forms, and the start.

A process is started by hand when its none start event lies in a lane whose role the person holds
(or the process names the role in camunda:candidateStarterGroups), and no other deployed process
calls it (legal_review and collective_discussion run only as call activities). A process whose start
needs more than its form (incoming_transfer: the sender's documents) keeps its own entry page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lxml import etree
from sqlalchemy.orm import Session

from engine import forms, instances, registry
from engine.errors import InputError, NotPermittedError
from engine.models import Definition, ProcessInstance
from engine.roles import role_for_lane, split_list
from engine.users import Actor
from engine.workflow import runtime, sandbox

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
# Processes entered through their own page, because their start stores files beside the form.
OWN_ENTRY = {"incoming_transfer"}


@dataclass(frozen=True)
class Startable:
    key: str
    name: str
    event: str  # the start event's name, e.g. 线索登记
    roles: frozenset[str]
    own_entry: bool


def catalogue(session: Session) -> list[Startable]:
    """Every deployed process that people start by hand, with the roles that may start it."""
    definitions = [d for d in registry.latest_definitions(session) if d.kind == "process"]
    trees = {d.key: _parsed(d.sha256, d.xml) for d in definitions}
    called = {
        el.get("calledElement")
        for tree in {id(t): t for t in trees.values()}.values()
        for el in tree.iter(f"{{{BPMN}}}callActivity")
    }
    out = []
    for d in definitions:
        if d.key in called:
            continue
        found = _start_of(trees[d.key], d)
        if found is not None and found.roles:
            out.append(found)
    return out


@lru_cache(maxsize=64)
def _parsed(sha256: str, xml: str) -> etree._Element:
    return etree.fromstring(xml.encode())


def _start_of(tree: etree._Element, d: Definition) -> Startable | None:
    process = next((p for p in tree.iter(f"{{{BPMN}}}process") if p.get("id") == d.key), None)
    if process is None:
        return None
    for event in process.findall(f"./{{{BPMN}}}startEvent"):
        if any(child.tag.endswith("EventDefinition") for child in event):
            continue  # a message, timer or signal start: the system starts it
        roles = set(split_list(process.get(f"{{{CAMUNDA}}}candidateStarterGroups")))
        roles |= set(split_list(event.get(f"{{{CAMUNDA}}}candidateStarterGroups")))
        for lane in process.iter(f"{{{BPMN}}}lane"):
            if event.get("id") in {(r.text or "").strip() for r in lane.findall(f"{{{BPMN}}}flowNodeRef")}:
                role = role_for_lane(lane.get("name"))
                if role:
                    roles.add(role)
        name = process.get("name") or d.name or d.key
        return Startable(d.key, name, event.get("name") or name, frozenset(roles), d.key in OWN_ENTRY)
    return None


def startable(session: Session, actor: Actor) -> list[Startable]:
    """The processes `actor` may start, in catalogue order."""
    return [p for p in catalogue(session) if p.roles & actor.roles]


def get(session: Session, key: str, actor: Actor) -> Startable:
    """The process `key` if `actor` may start it here (NotPermittedError otherwise)."""
    found = next((p for p in catalogue(session) if p.key == key), None)
    if found is None:
        registry.get_latest(session, key)  # NotFoundError for an unknown key
        raise NotPermittedError("该流程由系统或其他流程发起，不能手工发起")
    if not found.roles & actor.roles:
        raise NotPermittedError("您的角色不能发起该流程")
    return found


def start_form(session: Session, key: str) -> forms.Form:
    """The start form of the newest version of process `key`."""
    bundle = registry.bundles.get(session, key, registry.pins_for_start(session, key))
    wf = runtime.create(bundle, sandbox.make_script_engine(helpers={}, time_limit=1.0))
    return forms.form_of(runtime.start_extensions(wf))


def start(session: Session, key: str, values: Mapping[str, Any], *, actor: Actor) -> ProcessInstance:
    """Start `key` for `actor` (their bureau owns it) with already validated start-form values;
    instances.start validates again and audits it as instance.start."""
    process = get(session, key, actor)
    if process.own_entry:
        raise InputError(f"「{process.name}」请从其专用登记页面发起（需上传材料）")
    return instances.start(session, key, actor=actor, variables=values)
