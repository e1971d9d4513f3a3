"""案卷: one page per case — record, process diagram, legal clocks, evidence, comments, timeline of every
step, audit trail — and case search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    send_from_directory,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge

from engine import audit, casefile, comments, diagram, evidence, search
from engine.errors import DomainError, FormValidationError, InputError
from engine.models import Case, ProcessInstance
from webui.auth import actor, roles_required
from webui.db import get_session, unit_of_work

bp = Blueprint("cases", __name__, url_prefix="/cases")

# Who may add evidence: the roles that work cases. Everyone of the bureau may read and download it.
EVIDENCE_ROLES = (
    "officer",
    "section_chief",
    "legal_reviewer",
    "legal_counsel",
    "deputy_director",
    "director",
    "hearing_officer",
)
VIEWER_FILES = (
    "bpmn-navigated-viewer.production.min.js",
    "bpmn-viewer.production.min.js",
    "assets/diagram-js.css",
    "assets/bpmn-js.css",
)


def visible_case(case_id: int) -> Case:
    """The case, if it belongs to the user's bureau (403 otherwise, never the data)."""
    case = get_session().get(Case, case_id)
    if case is None:
        abort(404)
    if actor().bureau and case.unit_code != actor().bureau:
        abort(403)
    return case


def evidence_store() -> evidence.EvidenceStore:
    """Where evidence files live: YBJG_EVIDENCE_DIR (webui/config.py; a test may set app.config)."""
    root = current_app.config.get("YBJG_EVIDENCE_DIR") or current_app.config["YBJG"].evidence_dir
    return evidence.EvidenceStore(root)


def evidence_max_bytes() -> int:
    limit = int(current_app.config.get("YBJG_EVIDENCE_MAX_BYTES") or evidence.DEFAULT_MAX_BYTES)
    request_limit = current_app.config.get("MAX_CONTENT_LENGTH")
    return min(limit, int(request_limit)) if request_limit else limit


def _render(
    case: Case,
    *,
    evidence_errors: dict[str, str] | None = None,
    evidence_values: dict[str, str] | None = None,
    comment_error: str | None = None,
    comment_value: str = "",
    status: int = 200,
) -> ResponseReturnValue:
    s = get_session()
    me = actor()
    timeline = casefile.timeline(s, case)
    files = evidence.list_for_case(s, case.id)
    notes = comments.list_for_case(s, case.id)
    events = audit.list_events(s, case_id=case.id, limit=200)
    names = {e.actor for e in timeline} | {c.author for c in notes} | {e.actor for e in events}
    names |= {v.uploaded_by for item in files for v in item.versions}
    return render_template(
        "case.html",
        case=case,
        instances=casefile.instances_of(s, case.id),
        steps=casefile.steps(s, case.id),
        clocks=casefile.clocks(s, case.id),
        timeline=timeline,
        events=events,
        evidence_items=files,
        evidence_kinds=evidence.KINDS,
        evidence_allowed=evidence.ALLOWED_TEXT,
        evidence_limit=evidence.human_size(evidence_max_bytes()),
        evidence_errors=evidence_errors or {},
        evidence_values=evidence_values or {},
        can_upload=current_user.has_role(*EVIDENCE_ROLES),
        comments=notes,
        comment_error=comment_error,
        comment_value=comment_value,
        people=casefile.people(s, names),
        action_label=casefile.action_label,
        human_size=evidence.human_size,
        me=me,
    ), status


@bp.get("/<id:case_id>")
@login_required
def show(case_id: int) -> ResponseReturnValue:
    return _render(visible_case(case_id))


# --- evidence -------------------------------------------------------------------------------------
@bp.post("/<id:case_id>/evidence")
@roles_required(*EVIDENCE_ROLES)
def upload_evidence(case_id: int) -> ResponseReturnValue:
    case = visible_case(case_id)
    values = {"title": request.form.get("title", "")[:300], "kind": request.form.get("kind", "")[:64]}
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _render(
            case, evidence_errors={"file": "请选择要上传的文件"}, evidence_values=values, status=400
        )
    try:
        with unit_of_work() as s:
            row = evidence.upload(
                s,
                evidence_store(),
                case.id,
                upload.stream,
                file_name=upload.filename,
                title=values["title"],
                kind=values["kind"],
                actor=actor(),
                max_bytes=evidence_max_bytes(),
            )
            title, version = row.title, row.version
    except FormValidationError as exc:
        return _render(case, evidence_errors=exc.errors, evidence_values=values, status=400)
    except evidence.EvidenceRejectedError as exc:
        return _render(case, evidence_errors={"file": exc.detail}, evidence_values=values, status=400)
    flash(f"证据「{title}」已上传（第 {version} 版）")
    return redirect(url_for("cases.show", case_id=case.id, _anchor="evidence"))


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    """The request body passed MAX_CONTENT_LENGTH before the form was read (so before the CSRF check):
    show the case page with the message next to the file field; nothing was stored."""
    limit = evidence.human_size(int(current_app.config.get("MAX_CONTENT_LENGTH") or 0))
    message = f"文件过大：上传内容超过上限 {limit}，请压缩或分卷后再上传"
    case_id = (request.view_args or {}).get("case_id")
    if request.endpoint == "cases.upload_evidence" and current_user.is_authenticated and case_id:
        case = get_session().get(Case, case_id)
        if case is not None and (not actor().bureau or case.unit_code == actor().bureau):
            return _render(case, evidence_errors={"file": message}, status=413)
    return render_template("error.html", status=413, message=message), 413


@bp.get("/<id:case_id>/evidence/<id:evidence_id>")
@login_required
def download_evidence(case_id: int, evidence_id: int) -> ResponseReturnValue:
    visible_case(case_id)
    with unit_of_work() as s:
        row, stream = evidence.open_for_download(
            s, evidence_store(), evidence_id, case_id=case_id, actor=actor()
        )
        name, content_type, sha256 = row.file_name, row.content_type, row.sha256
    response = send_file(
        stream, mimetype=content_type, as_attachment=True, download_name=name, conditional=False, etag=False
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-SHA256"] = sha256
    return response


# --- comments -------------------------------------------------------------------------------------
@bp.post("/<id:case_id>/comments")
@login_required
def add_comment(case_id: int) -> ResponseReturnValue:
    case = visible_case(case_id)
    body = request.form.get("body", "")[:5000]
    try:
        with unit_of_work() as s:
            comments.add(s, case.id, body, actor=actor())
    except InputError as exc:
        return _render(case, comment_error=exc.detail, comment_value=body, status=400)
    flash("意见已发表")
    return redirect(url_for("cases.show", case_id=case.id, _anchor="comments"))


# --- diagram --------------------------------------------------------------------------------------
def _case_instance(case_id: int, instance_id: int) -> ProcessInstance:
    visible_case(case_id)
    instance = get_session().get(ProcessInstance, instance_id)
    if instance is None or instance.case_id != case_id:
        abort(404)
    return instance


@bp.get("/<id:case_id>/diagram/<id:instance_id>.bpmn")
@login_required
def diagram_xml(case_id: int, instance_id: int) -> ResponseReturnValue:
    """The XML of the definition version this instance runs on (its pin, not the newest)."""
    instance = _case_instance(case_id, instance_id)
    definition = diagram.definition_of(get_session(), instance)
    response = Response(definition.xml, mimetype="application/xml")
    response.headers["Cache-Control"] = "private, max-age=3600"  # a deployed version never changes
    response.headers["X-Definition-Version"] = f"{definition.key}:{definition.version}"
    return response


@bp.get("/<id:case_id>/diagram/<id:instance_id>.json")
@login_required
def diagram_json(case_id: int, instance_id: int) -> ResponseReturnValue:
    """The pinned XML and the element states (done / current / overdue) for the bpmn-js viewer."""
    instance = _case_instance(case_id, instance_id)
    try:
        d = diagram.for_instance(get_session(), instance, actor())
    except DomainError as exc:
        return jsonify({"error": f"流程图无法显示：{exc.detail}"}), 500
    response = jsonify(
        {
            "instance_id": d.instance_id,
            "key": d.process_key,
            "version": d.version,
            "name": d.name,
            "xml": d.xml,
            "states": d.states,
            "flows": d.flows,
            "names": d.names,
            "has_layout": d.has_layout,
        }
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/assets/bpmn-js/<path:filename>")
@login_required
def bpmn_js_asset(filename: str) -> ResponseReturnValue:
    """The bpmn-js viewer bundle and its CSS, from node_modules (installed by the setup step)."""
    if filename not in VIEWER_FILES and not filename.startswith("assets/bpmn-font/"):
        abort(404)
    dist = current_app.config.get("YBJG_BPMN_JS_DIST") or (
        Path(current_app.root_path).parent / "node_modules" / "bpmn-js" / "dist"
    )
    return send_from_directory(dist, filename, max_age=86400)


# --- search ---------------------------------------------------------------------------------------
@bp.get("/search")
@login_required
def search_cases() -> ResponseReturnValue:
    query, errors = search.parse_query(request.args)
    raw = request.args.get("page", "1")
    page_no = int(raw) if raw.isdigit() and 0 < int(raw) < 100000 else 1
    s = get_session()
    page = search.search(s, actor(), query, page=page_no)
    officers = {u for row in page.rows for u in row.officers}
    args: dict[str, Any] = {k: request.args.get(k, "") for k in search.CaseQuery.__dataclass_fields__}
    args["opened_from"] = request.args.get("opened_from", "")
    args["opened_to"] = request.args.get("opened_to", "")
    return render_template(
        "case_search.html",
        page=page,
        q=query,
        values=args,
        errors=errors,
        people=casefile.people(s, officers),
    ), (400 if errors else 200)
