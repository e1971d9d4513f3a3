"""线索受理: the public 举报投诉 page (no sign-in; rate-limited in the database) with the reporter's
status check, and the officers' intake pages — 智能监管疑点 import, transfers from other agencies
with their documents, the reporter's identity for the handling officers, and 信息抄告."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from engine import infocopy, intake, ratelimit, suspicions, transfers
from engine.errors import FormValidationError, InputError, RateLimitedError
from engine.models import Case
from webui.auth import actor, roles_required
from webui.db import get_session, unit_of_work
from webui.views.cases import evidence_max_bytes, evidence_store, visible_case

bp = Blueprint("intake", __name__)

INTAKE_ROLES = ("officer", "section_chief")
HOUR = timedelta(hours=1)
DEFAULT_LIMITS = {"YBJG_REPORT_PER_ADDRESS": 5, "YBJG_REPORT_TOTAL": 200, "YBJG_LOOKUP_PER_ADDRESS": 30}


def _limit(name: str) -> int:
    return int(current_app.config.get(name) or DEFAULT_LIMITS[name])


def _bucket(prefix: str) -> str:
    return ratelimit.address_bucket(prefix, request.remote_addr, current_app.config["SECRET_KEY"])


def _report_limits() -> list[ratelimit.Limit]:
    return [
        ratelimit.Limit(
            _bucket("report"), _limit("YBJG_REPORT_PER_ADDRESS"), HOUR,
            "您提交举报过于频繁，请一小时后再试。情况紧急的，请拨打医保基金监管举报电话。",
        ),
        ratelimit.Limit(
            "report:all", _limit("YBJG_REPORT_TOTAL"), HOUR,
            "当前提交举报的人数较多，请稍后再试。情况紧急的，请拨打医保基金监管举报电话。",
        ),
    ]  # fmt: skip


# --- public: 举报投诉 ------------------------------------------------------------------------------
def _report_form(values: dict[str, str], errors: dict[str, str], status: int = 200) -> ResponseReturnValue:
    return render_template(
        "intake_report.html",
        values=values,
        errors=errors,
        matters=intake.MATTERS,
        bureaus=intake.bureaus(get_session()),
        file_types="、".join(t.upper() for t in intake.FILE_TYPES),
        max_files=intake.MAX_FILES,
        max_mb=intake.MAX_FILE_BYTES // (1024 * 1024),
    ), status


@bp.get("/report")
def report_form() -> ResponseReturnValue:
    return _report_form({}, {})


@bp.post("/report")
def report_submit() -> ResponseReturnValue:
    fields = ("bureau", "institution", "matter", "description", "name", "phone", "email")
    values = {k: request.form.get(k, "")[:6000] for k in fields}
    files = [f for f in request.files.getlist("attachments") if f and f.filename]
    attachments = [intake.Attachment(f.filename or "", f.stream) for f in files]
    try:
        with unit_of_work() as s:
            ratelimit.hit(s, _report_limits())
            receipt = intake.submit(s, evidence_store(), values, attachments)
    except RateLimitedError as exc:
        return _report_form(values, {"form": exc.detail}, 429)
    except FormValidationError as exc:
        return _report_form(values, exc.errors, 400)
    return render_template("intake_receipt.html", receipt=receipt)


@bp.route("/report/status", methods=["GET", "POST"])
def report_status() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("intake_status.html", values={}, status=None, error=None)
    values = {k: request.form.get(k, "")[:64] for k in ("receipt_number", "query_code")}
    limit = ratelimit.Limit(
        _bucket("lookup"), _limit("YBJG_LOOKUP_PER_ADDRESS"), HOUR, "查询过于频繁，请一小时后再试"
    )
    try:
        with unit_of_work() as s:
            ratelimit.hit(s, [limit])  # committed even when the code is wrong: guessing is limited
            found = intake.lookup(s, values["receipt_number"], values["query_code"])
    except RateLimitedError as exc:
        return render_template("intake_status.html", values=values, status=None, error=exc.detail), 429
    if found is None:
        error = "受理编号或查询码不正确，请核对后重新输入"
        return render_template("intake_status.html", values=values, status=None, error=error), 404
    return render_template("intake_status.html", values=values, status=found, error=None)


# --- officers: 智能监管疑点 ------------------------------------------------------------------------
@bp.route("/intake/suspicions", methods=["GET", "POST"])
@roles_required(*INTAKE_ROLES)
def import_suspicions() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("intake_suspicions.html", result=None, error=None, file_name="")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_template(
            "intake_suspicions.html", result=None, error="请选择要导入的 CSV 或 JSON 文件", file_name=""
        ), 400
    name = upload.filename
    data = upload.stream.read(suspicions.MAX_BYTES + 1)
    try:
        with unit_of_work() as s:
            result = suspicions.import_file(s, data, name, actor=actor())
    except InputError as exc:
        return render_template("intake_suspicions.html", result=None, error=exc.detail, file_name=name), 400
    status = 200 if not result.errors else 422
    return render_template("intake_suspicions.html", result=result, error=None, file_name=name), status


# --- officers: 移交案件 -------------------------------------------------------------------------------
def _transfer_form(values: dict[str, Any], errors: dict[str, str], status: int = 200) -> ResponseReturnValue:
    form = transfers.start_form(get_session(), transfers.PROCESS_KEY)
    return render_template(
        "intake_transfer.html",
        form=form,
        values=values,
        errors=errors,
        documents_field=transfers.DOCUMENTS_FIELD,
    ), status


@bp.get("/intake/transfers/new")
@roles_required(*INTAKE_ROLES)
def transfer_form() -> ResponseReturnValue:
    return _transfer_form({}, {})


@bp.post("/intake/transfers")
@roles_required(*INTAKE_ROLES)
def transfer_submit() -> ResponseReturnValue:
    values = {k: v[:6000] for k, v in request.form.items() if k != "csrf_token"}
    files = [f for f in request.files.getlist(transfers.DOCUMENTS_FIELD) if f and f.filename]
    documents = [transfers.Document(f.filename or "", f.stream) for f in files]
    try:
        with unit_of_work() as s:
            instance = transfers.enter(
                s, evidence_store(), values, documents, actor=actor(), max_bytes=evidence_max_bytes()
            )
            case_id = instance.case_id
    except FormValidationError as exc:
        errors = dict(exc.errors)
        if documents and transfers.DOCUMENTS_FIELD not in errors:
            errors[transfers.DOCUMENTS_FIELD] = "表单有误，文件未保存：请改正后重新选择文件"
        return _transfer_form(values, errors, 400)
    flash("移交案件已登记，来文材料已存入案卷，审查任务已派发")
    return redirect(url_for("cases.show", case_id=case_id))


# --- officers: the case's intake panel, the reporter, 信息抄告 ---------------------------------------
def intake_panel(case: Case) -> dict[str, Any]:
    """What the case page's 线索受理 panel shows (never who reported)."""
    s = get_session()
    me = actor()
    return {
        "reports": intake.reports_for_case(s, case.id),
        "may_see_identity": intake.may_see_identity(s, case.id, me),
        "copies": infocopy.copies_for_case(s, case.id),
        "can_copy": current_user.has_role(*INTAKE_ROLES),
    }


@bp.get("/cases/<id:case_id>/reporter")
@roles_required(*INTAKE_ROLES)
def reporter(case_id: int) -> ResponseReturnValue:
    case = visible_case(case_id)
    with unit_of_work() as s:
        rows = intake.reporter_identities(s, case.id, actor())
        people = [(r.receipt_number, i.name, i.phone, i.email) for r, i in rows]
    response = current_app.make_response(render_template("intake_reporter.html", case=case, people=people))
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _copy_form(case: Case, chosen: list[str], note: str, errors: dict[str, str], status: int = 200) -> Any:
    s = get_session()
    return render_template(
        "intake_infocopy.html",
        case=case,
        agencies=infocopy.agencies(s),
        chosen=chosen,
        note=note,
        errors=errors,
        copies=infocopy.copies_for_case(s, case.id),
    ), status


@bp.get("/cases/<id:case_id>/info-copies")
@roles_required(*INTAKE_ROLES)
def info_copy_form(case_id: int) -> ResponseReturnValue:
    case = visible_case(case_id)
    return _copy_form(case, infocopy.suggested(get_session(), case), "", {})


@bp.post("/cases/<id:case_id>/info-copies")
@roles_required(*INTAKE_ROLES)
def info_copy_send(case_id: int) -> ResponseReturnValue:
    case = visible_case(case_id)
    chosen = [c[:32] for c in request.form.getlist("agencies")][:20]
    note = request.form.get("note", "")[:3000]
    try:
        with unit_of_work() as s:
            rows = infocopy.send(s, case.id, chosen, note, actor=actor())
            names = "、".join(r.agency for r in rows)
    except FormValidationError as exc:
        return _copy_form(case, chosen, note, exc.errors, 400)
    flash(f"信息抄告已提交发送：{names}（每个单位每案只抄告一次）")
    return redirect(url_for("cases.show", case_id=case.id, _anchor="intake"))


@bp.app_context_processor
def _panel() -> dict[str, Any]:
    return {"intake_panel": intake_panel}
