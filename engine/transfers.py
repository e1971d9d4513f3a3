"""Cases handed over by other agencies (审计线索移交, cases the police or a court return): an officer
enters the sender's letter and documents; the documents become evidence of the case (SHA-256,
type and size checks) and the `incoming_transfer` process starts, all in one transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from engine import audit, evidence, forms, instances, registry
from engine.errors import FormValidationError
from engine.models import ProcessInstance
from engine.users import Actor
from engine.workflow import runtime, sandbox

PROCESS_KEY = "incoming_transfer"
DOCUMENTS_FIELD = "sender_documents"
MAX_FILES = 20


@dataclass(frozen=True)
class Document:
    file_name: str
    stream: BinaryIO


def start_form(session: Session, key: str) -> forms.Form:
    """The start form of the newest version of process `key`."""
    bundle = registry.bundles.get(session, key, registry.pins_for_start(session, key))
    wf = runtime.create(bundle, sandbox.make_script_engine(helpers={}, time_limit=1.0))
    return forms.form_of(runtime.start_extensions(wf))


def enter(
    session: Session,
    store: evidence.EvidenceStore,
    submitted: Mapping[str, Any],
    documents: Sequence[Document],
    *,
    actor: Actor,
    max_bytes: int = evidence.DEFAULT_MAX_BYTES,
) -> ProcessInstance:
    """Start incoming_transfer with the form values and store the sender's documents as evidence
    of the new case. Raises FormValidationError (fields and documents together)."""
    form = start_form(session, PROCESS_KEY)
    editable = {f.id for f in form.fields if not f.readonly}
    values = {k: v for k, v in submitted.items() if k in editable and k != DOCUMENTS_FIELD}
    names = [evidence.safe_file_name(d.file_name) for d in documents]
    errors: dict[str, str] = {}
    if not documents:
        errors[DOCUMENTS_FIELD] = "请上传来文及随附材料（至少一个文件）"
    elif len(documents) > MAX_FILES:
        errors[DOCUMENTS_FIELD] = f"一次最多上传 {MAX_FILES} 个文件"
    else:
        for name in names:
            try:
                evidence.extension_of(name)
            except evidence.EvidenceRejectedError as exc:
                errors[DOCUMENTS_FIELD] = f"「{name}」：{exc.detail}"
                break
    try:
        values = forms.validate(form, {**values, DOCUMENTS_FIELD: "、".join(names) or None})
    except FormValidationError as exc:
        errors = exc.errors | errors
    if errors:
        raise FormValidationError(errors)
    instance = instances.start(session, PROCESS_KEY, actor=actor, variables=values)
    assert instance.case_id is not None  # register_transfer opens the case
    for document, name in zip(documents, names, strict=True):
        try:
            evidence.upload(
                session, store, instance.case_id, document.stream, file_name=name,
                title=f"来文材料：{name.rsplit('.', 1)[0]}", kind="书证", actor=actor, max_bytes=max_bytes,
            )  # fmt: skip
        except evidence.EvidenceRejectedError as exc:
            raise FormValidationError({DOCUMENTS_FIELD: f"「{name}」：{exc.detail}"}) from None
    audit.record(
        session,
        actor=actor.username,
        client_addr=actor.client_addr,
        action="transfer.enter",
        object_type="case",
        object_id=str(instance.case_id),
        case_id=instance.case_id,
        instance_id=instance.id,
        detail={"sender": values.get("sender_name"), "doc_no": values.get("sender_doc_no"), "files": names},
    )
    return instance
