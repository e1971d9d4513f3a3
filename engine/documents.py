"""Official documents (文书): issue one for a case — allocate its 文号 in the caller's transaction,
render it through a Renderer (the .docx generator lives in integrations/ and is wired in by the web
layer), store the bytes once under a fresh key, record the Document row with its SHA-256, and audit.
What a template may print comes from engine.document_context (projection tables only)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit, cases, deadlines, document_context, instances, numbering, registry
from engine.clock import utcnow
from engine.db import ROOT
from engine.errors import DomainError, InputError, NotFoundError, NotPermittedError
from engine.models import Case, Document, ProcessInstance, Task
from engine.roles import split_list
from engine.users import SYSTEM, Actor
from engine.workflow import runtime

DEFAULT_STORE = ROOT / "instance" / "documents"

# The kinds we have templates for, with the kind code of their 文号 sequence (one per unit and year).
KINDS: dict[str, str] = {
    "立案审批表": "立",
    "行政处罚事先告知书": "告",
    "听证告知书": "听告",
    "法制审核意见书": "法审",
    "集体讨论记录": "集",
    "行政处罚决定书": "罚",
    "送达回证": "送",
    "结案报告": "结",
    "涉嫌犯罪案件移送书": "移",
}
FILING_KIND = "立案审批表"

# Documents whose 文号 a process script may already have drawn (document_number('罚') …), and the
# process variable it went into: the document then carries that number instead of a second one.
PROCESS_NUMBERS = {
    "行政处罚事先告知书": "notice_number",
    "行政处罚决定书": "decision_number",
    "涉嫌犯罪案件移送书": "referral_no",
}

# Who works cases and so may issue documents; 督办, 流程管理员 and 系统管理员 only read them.
CASE_ROLES = frozenset(
    {
        "officer",
        "section_chief",
        "deputy_director",
        "director",
        "legal_reviewer",
        "legal_counsel",
        "discussion_member",
        "hearing_officer",
    }
)


class Renderer(Protocol):
    """Turns a kind of document and its context into the bytes of a .docx file."""

    def render(self, kind: str, context: Mapping[str, Any]) -> bytes: ...


class DocumentFileError(DomainError):
    """The stored file is missing or no longer matches the SHA-256 recorded when it was issued."""

    message = "文书文件缺失或已被改动，请联系管理员"


@dataclass(frozen=True)
class TaskDocuments:
    """What a task's spec names (`documents` property) and which of those have a template."""

    named: list[str]
    available: list[str]


def may_generate(actor: Actor) -> bool:
    """True when the actor holds a role that works cases (and so may issue documents)."""
    return bool(actor.roles & CASE_ROLES)


def issue(
    session: Session,
    case_id: int,
    kind: str,
    *,
    actor: Actor,
    renderer: Renderer,
    store: Path = DEFAULT_STORE,
    task_id: int | None = None,
) -> Document:
    """Number, render, store and record one document of `kind` for a case, in the caller's
    transaction (never commits): a rollback gives the 文号 back. Raises InputError (unknown kind,
    task of another case, a second 立案审批表), NotFoundError, NotPermittedError."""
    code = KINDS.get(kind)
    if code is None:
        raise InputError(f"没有「{kind}」的文书模板，可制作：{'、'.join(KINDS)}")
    case = cases.get(session, case_id)
    _ensure_same_bureau(actor, case.unit_code)
    if not may_generate(actor):
        raise NotPermittedError("您没有制作文书的权限（需办案相关角色）")
    task = _task_of_case(session, task_id, case.id) if task_id is not None else None

    had_number = bool(case.number)
    drawn = _process_number(session, case, kind, code, task)
    number = drawn or _number_for(session, case, kind, code)
    now = utcnow()
    context = document_context.build(session, case.id, kind=kind, number=number, now=now, task=task)
    data = renderer.render(kind, context)
    digest = hashlib.sha256(data).hexdigest()
    # A fresh key per document: files are never overwritten, and a rolled-back issue leaves only an
    # orphan file that no row points to (harmless, and the number it carried is given back).
    storage_key = f"{case.id}/{uuid.uuid4().hex}.docx"
    _write_once(store, storage_key, data)

    document = Document(
        case_id=case.id,
        instance_id=task.instance_id if task else None,
        task_id=task.id if task else None,
        kind=kind,
        number=number,
        title=f"{kind}（{number}）",
        file_name=_file_name(kind, number),
        size=len(data),
        sha256=digest,
        storage_key=storage_key,
        created_by=actor.username,
        created_at=now,
    )
    session.add(document)
    session.flush()  # the audit event names the document's id
    audit.record(
        session,
        actor=actor.username,
        client_addr=actor.client_addr,
        action="document.generate",
        object_type="document",
        object_id=str(document.id),
        case_id=case.id,
        instance_id=document.instance_id,
        after=data,
        detail={
            "kind": kind,
            "number": number,
            "sha256": digest,
            "size": len(data),
            "task_id": task_id,
            "case_number_assigned": kind == FILING_KIND and not had_number,
            "number_from_process": drawn is not None,
        },
    )
    return document


def read(
    session: Session, document_id: int, *, actor: Actor, store: Path = DEFAULT_STORE
) -> tuple[Document, bytes]:
    """The document and its bytes, checked against the stored SHA-256; audits the download.
    Raises NotFoundError, NotPermittedError (another bureau), DocumentFileError."""
    document = get(session, document_id)
    case = cases.get(session, document.case_id)
    _ensure_same_bureau(actor, case.unit_code)
    path = _path(store, document.storage_key)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentFileError(f"文书「{document.title}」的文件缺失，请联系管理员") from exc
    if hashlib.sha256(data).hexdigest() != document.sha256:
        raise DocumentFileError(f"文书「{document.title}」的文件与登记的 SHA-256 不符，可能已被改动")
    audit.record(
        session,
        actor=actor.username,
        client_addr=actor.client_addr,
        action="document.download",
        object_type="document",
        object_id=str(document.id),
        case_id=case.id,
        instance_id=document.instance_id,
        detail={"kind": document.kind, "number": document.number, "sha256": document.sha256},
    )
    return document, data


def get(session: Session, document_id: int) -> Document:
    document = session.get(Document, document_id)
    if document is None:
        raise NotFoundError(f"文书 {document_id} 不存在")
    return document


def list_for_case(session: Session, case_id: int) -> list[Document]:
    """The case's documents, newest first."""
    query = (
        select(Document)
        .where(Document.case_id == case_id)
        .order_by(Document.created_at.desc(), Document.id.desc())
    )
    return list(session.scalars(query))


def creator_names(session: Session, docs: list[Document]) -> dict[str, str]:
    """Username → full name of the documents' creators (the username itself when unknown)."""
    return document_context.full_names(session, {d.created_by for d in docs})


def documents_for_task(session: Session, task: Task) -> list[str]:
    """The document names the task's spec lists in its `documents` property (comma-separated)."""
    instance = instances.get(session, task.instance_id)
    spec = registry.bundle_for(session, instance).task_spec(task.process_key, task.bpmn_id)
    raw = (spec.extensions or {}).get("documents") or ""
    return split_list(str(raw).replace("，", ",").replace("、", ","))


def task_documents(session: Session, task: Task) -> TaskDocuments:
    """documents_for_task, split into all names and those with a template here."""
    named = documents_for_task(session, task)
    return TaskDocuments(named, [n for n in named if n in KINDS])


# --- numbering and storage ---------------------------------------------------------------------


def _number_for(session: Session, case: Case, kind: str, code: str) -> str:
    """A fresh 文号 of the kind; the 立案审批表 carries the case number (giving the case one if it
    has none yet), so it can be issued once per case."""
    if kind != FILING_KIND:
        return numbering.format_number(session, code, case.unit_code)
    existing = session.scalars(
        select(Document.number).where(Document.case_id == case.id, Document.kind == FILING_KIND)
    ).first()
    if existing is not None:
        raise InputError(f"本案已制作立案审批表（{existing}），立案审批表使用案件文号，只能制作一次")
    if not case.number:
        case.number = numbering.format_number(session, code, case.unit_code)
        deadlines.refresh(session, case_ids=[case.id])  # the board shows the case number
    return str(case.number)


def _process_number(session: Session, case: Case, kind: str, code: str, task: Task | None) -> str | None:
    """The 文号 a process of the case already drew for this document and no document carries yet.
    Reads the process data (deserializes the case's instances), only for the PROCESS_NUMBERS kinds."""
    variable = PROCESS_NUMBERS.get(kind)
    if variable is None:
        return None
    wanted = f"{numbering._prefix(session, case.unit_code)}{code}〔"
    query = (
        select(ProcessInstance).where(ProcessInstance.case_id == case.id).order_by(ProcessInstance.id.desc())
    )
    found = list(session.scalars(query))
    found.sort(key=lambda i: task is None or i.id != task.instance_id)  # the issuing task's instance first
    for instance in found:
        try:
            loaded = instances.load(session, instance, SYSTEM)
        except DomainError:
            continue  # an instance that cannot load has nothing to offer; the document gets a fresh number
        spiff_task = (
            runtime.find_task(loaded.workflow, task.spiff_task_id)
            if task and task.instance_id == instance.id
            else None
        )
        data = (
            runtime.task_data(spiff_task)
            if spiff_task is not None
            else runtime.workflow_data(loaded.workflow)
        )
        value = data.get(variable)
        if isinstance(value, str) and value.startswith(wanted):
            taken = session.scalar(select(Document.id).where(Document.number == value).limit(1))
            return None if taken is not None else value
    return None


def _ensure_same_bureau(actor: Actor, unit_code: str) -> None:
    if actor.bureau and unit_code != actor.bureau:
        raise NotPermittedError("您没有权限访问该案件")


def _task_of_case(session: Session, task_id: int, case_id: int) -> Task:
    task = session.get(Task, task_id)
    if task is None or task.case_id != case_id:
        raise InputError("所选任务不属于本案件")
    return task


def _file_name(kind: str, number: str) -> str:
    return f"{number}{kind}.docx".replace("/", "／")


def _path(store: Path, storage_key: str) -> Path:
    path = (store / storage_key).resolve()
    if not path.is_relative_to(store.resolve()):
        raise DocumentFileError("文书存储路径无效")
    return path


def _write_once(store: Path, storage_key: str, data: bytes) -> None:
    path = _path(store, storage_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("xb") as f:  # "x": an existing file is never overwritten
        f.write(data)
