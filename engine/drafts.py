"""Modeller drafts: a process owner's unfinished edit of one BPMN/DMN file, kept per user until it is
deployed or discarded; and what the modeller opens — the draft, else the newest deployed file."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine import audit, registry
from engine.clock import utcnow
from engine.errors import DefinitionInvalidError, InputError, NotFoundError
from engine.models import Definition, ProcessDraft
from engine.users import Actor
from engine.workflow.parser import ACTIVITI_NS
from engine.workflow.validate import MAX_FILE_BYTES, Problem, read_file

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
FILE_NAME = re.compile(r"^[A-Za-z0-9_\-\u4e00-\u9fff][A-Za-z0-9_.\-\u4e00-\u9fff]{0,120}\.(bpmn|dmn)$")


@dataclass(frozen=True)
class Source:
    """What the modeller opens: XML, and where it came from."""

    file_name: str
    kind: str  # "bpmn" or "dmn"
    xml: str
    draft: ProcessDraft | None
    base: Definition | None  # the newest deployed version of the file


def kind_of(file_name: str) -> str:
    """ "bpmn" or "dmn" from a file name; InputError for anything else."""
    if not FILE_NAME.match(file_name or ""):
        raise InputError("文件名须以 .bpmn 或 .dmn 结尾，只含字母、数字、汉字、下划线、连字符和点")
    return file_name.rsplit(".", 1)[1]


def normalize(data: bytes) -> bytes:
    """Files of older Camunda / Activiti modellers use the activiti namespace for the same attributes:
    store them in the camunda namespace, so that the modeller's properties panel and downloads see them."""
    return data.replace(ACTIVITI_NS.encode(), CAMUNDA_NS.encode())


def check_readable(file_name: str, data: bytes) -> list[Problem]:
    """Problems that stop a file even from being opened: size, DTD/entities, XML syntax, not BPMN/DMN."""
    if len(data) > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // (1024 * 1024)
        return [Problem(file_name, "", f"文件过大（{len(data) / 1024 / 1024:.1f} MB），上限 {limit} MB")]
    _, problems = read_file(file_name, data)
    return problems


def source(session: Session, file_name: str, owner: str) -> Source:
    """The owner's draft of `file_name`, else the newest deployed version. NotFoundError when neither."""
    kind = kind_of(file_name)
    draft = find(session, file_name, owner)
    base = registry.latest_file(session, file_name)
    if draft is not None:
        return Source(file_name, kind, draft.xml, draft, base)
    if base is None:
        raise NotFoundError(f"文件「{file_name}」既没有草稿也未部署")
    return Source(file_name, kind, base.xml, None, base)


def find(session: Session, file_name: str, owner: str) -> ProcessDraft | None:
    return session.scalars(
        select(ProcessDraft).where(ProcessDraft.owner == owner, ProcessDraft.file_name == file_name)
    ).first()


def list_for(session: Session, owner: str) -> list[ProcessDraft]:
    return list(
        session.scalars(
            select(ProcessDraft).where(ProcessDraft.owner == owner).order_by(ProcessDraft.updated_at.desc())
        )
    )


def save(session: Session, file_name: str, xml: str, *, actor: Actor) -> ProcessDraft:
    """Create or replace the actor's draft of `file_name`; refuses unreadable or unsafe XML
    (DefinitionInvalidError). Drafts are never run, so other problems wait for validation."""
    kind = kind_of(file_name)
    data = normalize(xml.encode("utf-8"))
    problems = check_readable(file_name, data)
    if problems:
        raise DefinitionInvalidError([(p.file, p.element, p.message) for p in problems])
    text = data.decode("utf-8")
    draft = find(session, file_name, actor.username)
    base = registry.latest_file(session, file_name)
    if draft is None:
        draft = ProcessDraft(owner=actor.username, file_name=file_name, kind=kind)
        session.add(draft)
    draft.xml = text
    draft.base_sha256 = base.sha256 if base is not None else ""
    draft.updated_at = utcnow()
    session.flush()  # the id goes into the audit event
    audit.record(
        session,
        actor=actor.username,
        client_addr=actor.client_addr,
        action="definition.draft",
        object_type="draft",
        object_id=str(draft.id),
        detail={"file": file_name, "sha256": hashlib.sha256(data).hexdigest()},
    )
    return draft


def discard(session: Session, file_name: str, *, actor: Actor) -> bool:
    """Delete the actor's draft of `file_name`; False when there was none."""
    draft = find(session, file_name, actor.username)
    if draft is None:
        return False
    session.execute(delete(ProcessDraft).where(ProcessDraft.id == draft.id))
    audit.record(
        session,
        actor=actor.username,
        client_addr=actor.client_addr,
        action="definition.draft_discard",
        object_type="draft",
        object_id=str(draft.id),
        detail={"file": file_name},
    )
    return True


def deploy(session: Session, file_name: str, xml: str, *, actor: Actor) -> list[Definition]:
    """Validate and deploy one file as edited (new versions of every changed key in it), then drop
    the actor's draft of it. Raises DefinitionInvalidError with every problem; changes nothing then."""
    kind_of(file_name)
    data = normalize(xml.encode("utf-8"))
    problems = check_readable(file_name, data)
    if problems:
        raise DefinitionInvalidError([(p.file, p.element, p.message) for p in problems])
    created = registry.deploy(session, [registry.Upload(file_name, data)], actor=actor.username)
    draft = find(session, file_name, actor.username)
    if draft is not None:
        session.delete(draft)
    return created


def validate(session: Session, file_name: str, xml: str) -> list[Problem]:
    """Every problem the registry would refuse the file for (nothing is stored)."""
    kind_of(file_name)
    data = normalize(xml.encode("utf-8"))
    problems = check_readable(file_name, data)
    if problems:
        return problems
    _, problems = registry.check(session, [registry.Upload(file_name, data)])
    return problems
