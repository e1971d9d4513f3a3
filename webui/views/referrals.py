"""移送: the referrals of the bureau with their delivery and replies, an officer's form for a paper
reply (with the scan uploaded as evidence), the receiving agencies' signed reply endpoint
`POST /api/referrals/<number>/replies`, and the administrator's table of destinations."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from engine import evidence, referrals
from engine import referral_replies as replies
from engine.errors import DomainError, FormValidationError, NotFoundError
from engine.models import Referral
from engine.users import Actor
from webui.auth import actor, roles_required
from webui.db import get_session, unit_of_work
from webui.errors import status_of
from webui.security import CSRF_EXEMPT
from webui.views.cases import evidence_max_bytes, evidence_store, visible_case

bp = Blueprint("referrals", __name__)

READ_ROLES = ("officer", "section_chief", "deputy_director", "director", "supervisor", "admin")
REPLY_ROLES = ("officer", "section_chief", "deputy_director", "director")
MAX_BODY = 64 * 1024


def _visible(referral_id: int) -> Referral:
    referral = get_session().get(Referral, referral_id)
    if referral is None:
        raise NotFoundError(f"移送 {referral_id} 不存在")
    visible_case(referral.case_id)  # 403 for another bureau's referral
    return referral


@bp.get("/referrals")
@roles_required(*READ_ROLES)
def index() -> ResponseReturnValue:
    s = get_session()
    rows = referrals.list_for_unit(s, actor().bureau)
    return render_template(
        "referrals.html", rows=rows, deliveries={r.id: referrals.delivery_of(s, r) for r in rows},
        channels=referrals.CHANNELS,
    )  # fmt: skip


def _show(
    referral: Referral,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    s = get_session()
    return render_template(
        "referral.html", referral=referral, delivery=referrals.delivery_of(s, referral),
        replies=replies.list_for(s, referral.id), kinds=replies.KINDS, channels=referrals.CHANNELS,
        errors=errors or {}, values=values or {}, can_reply=current_user.has_role(*REPLY_ROLES),
    ), status  # fmt: skip


@bp.get("/referrals/<id:referral_id>")
@roles_required(*READ_ROLES)
def show(referral_id: int) -> ResponseReturnValue:
    return _show(_visible(referral_id))


@bp.post("/referrals/<id:referral_id>/replies")
@roles_required(*REPLY_ROLES)
def record_paper_reply(referral_id: int) -> ResponseReturnValue:
    """An officer records an agency's paper reply; the scan becomes evidence of the case."""
    referral = _visible(referral_id)
    number = referral.number
    values = {k: request.form.get(k, "")[:5000] for k in ("kind", "reason", "reference")}
    scan = request.files.get("scan")
    me = actor()
    try:
        with unit_of_work() as s:
            evidence_id = None
            if scan is not None and scan.filename:
                row = evidence.upload(
                    s, evidence_store(), referral.case_id, scan.stream, file_name=scan.filename,
                    title=f"{referral.destination_name}答复（{values['kind'] or '未注明'}，{number}）",
                    kind="书证", actor=me, max_bytes=evidence_max_bytes(),
                )  # fmt: skip
                evidence_id = row.id
            reply = replies.Reply(values["kind"], values["reason"], values["reference"])
            replies.record(s, number, reply, actor=me, source="paper", evidence_id=evidence_id)
    except evidence.EvidenceRejectedError as exc:
        return _refused(referral, number, me, {"scan": exc.detail}, values)
    except FormValidationError as exc:
        return _refused(referral, number, me, exc.errors, values)
    except DomainError as exc:
        return _refused(referral, number, me, {"kind": exc.detail}, values, status=status_of(exc))
    flash(f"已登记{referral.destination_name}的「{values['kind']}」答复，流程已继续")
    return redirect(url_for("referrals.show", referral_id=referral_id))


def _refused(
    referral: Referral,
    number: str,
    me: Actor,
    errors: dict[str, str],
    values: dict[str, str],
    status: int = 400,
) -> ResponseReturnValue:
    with unit_of_work() as s:
        replies.log_refusal(
            s,
            number,
            reason="；".join(errors.values()),
            source="paper",
            actor=me.username,
            client_addr=me.client_addr,
        )
    return _show(
        get_session().get(Referral, referral.id) or referral, errors=errors, values=values, status=status
    )


# --- the agencies' signed endpoint -----------------------------------------------------------------
@bp.post("/api/referrals/<path:number>/replies")
def signed_reply(number: str) -> ResponseReturnValue:
    """受理 / 立案 / 不予立案 / 退回 from a receiving agency, signed with its destination secret.
    Body: {"kind": …, "reason": …, "reference": …}. Anything refused changes nothing and is logged."""
    body = request.get_data(cache=False)[: MAX_BODY + 1]
    try:
        if len(body) > MAX_BODY:
            raise FormValidationError({"body": "请求体过大（最多 64 KB）"})
        with unit_of_work() as s:
            nonce = request.headers.get("X-Ybjg-Nonce", "")
            referral = replies.verify(
                s, number, timestamp=request.headers.get("X-Ybjg-Timestamp", ""), nonce=nonce,
                signature=request.headers.get("X-Ybjg-Signature", ""), body=body,
            )  # fmt: skip
            data = _json(body)
            reply = replies.Reply(
                str(data.get("kind") or ""), str(data.get("reason") or ""), str(data.get("reference") or "")
            )
            agency = Actor(f"agency:{referral.destination_code}"[:64], frozenset(), None, request.remote_addr)
            row = replies.record(s, number, reply, actor=agency, source="webhook", nonce=nonce)
            answer = {"accepted": True, "referral_no": number, "kind": row.kind, "reply_id": row.id}
    except DomainError as exc:
        status = status_of(exc)
        with unit_of_work() as s:
            replies.log_refusal(
                s,
                number,
                reason=exc.detail,
                source="webhook",
                actor="agency",
                client_addr=request.remote_addr,
            )
        extra = {"fields": exc.errors} if isinstance(exc, FormValidationError) else {}
        return jsonify({"accepted": False, "error": exc.detail, **extra}), status
    return jsonify(answer), 200


CSRF_EXEMPT.add("referrals.signed_reply")  # signed by the agency; no browser session is involved


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FormValidationError({"body": "请求体应为 UTF-8 编码的 JSON 对象"}) from None
    if not isinstance(data, dict):
        raise FormValidationError({"body": "请求体应为 JSON 对象"})
    return data


# --- destinations (系统管理员) ------------------------------------------------------------------------
def _destinations(
    errors: dict[str, str] | None = None, values: dict[str, str] | None = None, status: int = 200
) -> ResponseReturnValue:
    return render_template(
        "referral_destinations.html", rows=referrals.list_destinations(get_session()),
        channels=referrals.CHANNELS, agencies=referrals.AGENCIES, mask=referrals.mask,
        errors=errors or {}, values=values or {},
    ), status  # fmt: skip


@bp.get("/admin/referral-destinations")
@roles_required("admin")
def destinations() -> ResponseReturnValue:
    return _destinations()


@bp.post("/admin/referral-destinations")
@roles_required("admin")
def save_destination() -> ResponseReturnValue:
    values = {k: request.form.get(k, "").strip()[:300] for k in ("code", "name", "channel", "address")}
    secret = request.form.get("secret", "")[:300].strip()
    try:
        with unit_of_work() as s:
            referrals.save_destination(
                s, actor=actor().username, code=values["code"], name=values["name"],
                channel=values["channel"], address=values["address"], secret=secret or None,
                active=request.form.get("active") == "1",
            )  # fmt: skip
    except FormValidationError as exc:
        return _destinations(exc.errors, values, status=400)
    flash(f"已保存接收单位「{values['name']}」的移送方式")
    return redirect(url_for("referrals.destinations"))
