"""文书: generate an official document for a case (from the case page or a task page), list a case's
documents, download one (audited). The .docx generator from integrations/ is wired in here."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from engine import documents
from engine.errors import InputError
from engine.models import Case, Document, Task
from integrations.documents import DocxRenderer
from webui.auth import actor
from webui.db import get_session, unit_of_work

bp = Blueprint("documents", __name__)

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def document_store() -> Path:
    """Where generated files live: YBJG_DOCUMENT_DIR (webui/config.py; a test may set app.config)."""
    return Path(current_app.config.get("YBJG_DOCUMENT_DIR") or current_app.config["YBJG"].document_dir)


def _renderer() -> documents.Renderer:
    renderer: documents.Renderer = current_app.extensions.setdefault("ybjg_document_renderer", DocxRenderer())
    return renderer


def _visible_case(case_id: int) -> Case:
    """The case, if it belongs to the user's bureau (403 otherwise, never the data)."""
    case = get_session().get(Case, case_id)
    if case is None:
        abort(404)
    if actor().bureau and case.unit_code != actor().bureau:
        abort(403)
    return case


def _render_list(
    case: Case, *, error: str | None = None, kind: str = "", status: int = 200
) -> ResponseReturnValue:
    return render_template(
        "documents.html", case=case, doc_error=error, doc_kind=kind, doc_back="list"
    ), status


@bp.get("/cases/<id:case_id>/documents")
@login_required
def index(case_id: int) -> ResponseReturnValue:
    """The case's documents, with the form to generate another."""
    return _render_list(_visible_case(case_id))


@bp.post("/cases/<id:case_id>/documents")
@login_required
def generate(case_id: int) -> ResponseReturnValue:
    """Generate one document of the chosen kind; back to the task page when it came from one."""
    case = _visible_case(case_id)
    if not documents.may_generate(actor()):
        abort(403)
    kind = request.form.get("kind", "").strip()[:64]
    raw_task = request.form.get("task_id", "").strip()
    if not kind:
        return _render_list(case, error="请选择要制作的文书", status=400)
    if raw_task and not (raw_task.isdigit() and len(raw_task) < 19):
        return _render_list(case, error="任务编号无效", kind=kind, status=400)
    task_id = int(raw_task) if raw_task else None
    try:
        with unit_of_work() as s:
            document = documents.issue(
                s, case.id, kind, actor=actor(), renderer=_renderer(), store=document_store(), task_id=task_id
            )
            number = document.number
    except InputError as exc:
        return _render_list(_visible_case(case_id), error=exc.detail, kind=kind, status=400)
    flash(f"已生成「{kind}」，文号 {number}")
    if task_id is not None:
        return redirect(url_for("tasks.show", task_id=task_id))
    if request.form.get("back") == "list":
        return redirect(url_for("documents.index", case_id=case_id))
    return redirect(url_for("cases.show", case_id=case_id))


@bp.get("/documents/<id:document_id>/download")
@login_required
def download(document_id: int) -> ResponseReturnValue:
    """The stored .docx, checked against its SHA-256; every download is in the audit trail."""
    with unit_of_work() as s:
        document, data = documents.read(s, document_id, actor=actor(), store=document_store())
        name = document.file_name
    response = send_file(io.BytesIO(data), mimetype=DOCX_MIME, as_attachment=True, download_name=name)
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- for the panels on the case page and the task page ------------------------------------------


@bp.app_template_global()
def case_documents(case: Case) -> list[Document]:
    return documents.list_for_case(get_session(), case.id)


@bp.app_template_global()
def document_creators(docs: list[Document]) -> dict[str, str]:
    return documents.creator_names(get_session(), docs)


@bp.app_template_global()
def document_kinds() -> list[str]:
    return list(documents.KINDS)


@bp.app_template_global()
def can_generate_documents() -> bool:
    return bool(current_user.is_authenticated) and documents.may_generate(actor())


@bp.app_template_global()
def task_documents(task: Task) -> Any:
    if task.case_id is None:
        return documents.TaskDocuments([], [])
    return documents.task_documents(get_session(), task)
