"""Replies to referrals: 受理 / 立案 / 不予立案 (with reasons) / 退回, from the receiving agency's
signed webhook or from an officer recording a paper reply. A reply is delivered as the BPMN message
the referral's instance waits for, correlated by the referral number; a decision that arrives before
any 受理 takes the receipt step with it. A reply that is not signed right, names an unknown number,
repeats a nonce or is not expected now raises and changes nothing (the caller logs the refusal).

Signature: the agency sends headers X-Ybjg-Timestamp (Unix seconds), X-Ybjg-Nonce (8–64 of
[A-Za-z0-9_-]) and X-Ybjg-Signature = "sha256=" + hex HMAC-SHA256(secret, f"{timestamp}.{nonce}." +
body), the secret being the one configured for that agency's destination."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import audit, messages
from engine.clock import utcnow
from engine.errors import ConcurrentUpdateError, FormValidationError, NotPermittedError
from engine.models import MessageWait, Referral, ReferralReply
from engine.referrals import destination_for, get_by_number
from engine.users import Actor

KINDS = ("受理", "立案", "不予立案", "退回")
RECEIPTS = ("police_receipt", "agency_receipt")
DECISIONS = (
    "police_decision",
    "police_review_decision",
    "procuratorate_decision",
    "discipline_feedback",
    "agency_feedback",
)
CLOCK_SKEW = timedelta(minutes=5)
NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")


class SignatureError(NotPermittedError):
    message = "签名校验失败，答复未被接受"


class ReplayError(ConcurrentUpdateError):
    message = "该答复已接收过（重复的请求），未再次处理"


class ReplyNotExpectedError(ConcurrentUpdateError):
    message = "该移送当前不等待此类答复"


@dataclass(frozen=True)
class Reply:
    kind: str
    reason: str = ""
    reference: str = ""  # the agency's own 文号


def sign(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The signature header value for a body (what an agency computes, and what we check)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.{nonce}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    session: Session, number: str, *, timestamp: str, nonce: str, signature: str, body: bytes
) -> Referral:
    """The referral a signed request is about, once the signature, time and nonce are right.
    Raises NotFoundError (unknown number), SignatureError, ReplayError."""
    referral = get_by_number(session, number)
    row = destination_for(session, referral.unit_code, referral.destination_code)
    if row is None or not row.secret:
        raise SignatureError(f"接收单位「{referral.destination_name}」未配置签名密钥，不能接收电子答复")
    if not timestamp.isdigit():
        raise SignatureError("缺少或无效的时间戳（X-Ybjg-Timestamp）")
    sent_at = datetime.fromtimestamp(int(timestamp), UTC)
    if abs(utcnow() - sent_at) > CLOCK_SKEW:
        raise SignatureError("请求时间戳与服务器时间相差超过5分钟，已拒绝")
    if not NONCE.fullmatch(nonce):
        raise SignatureError("缺少或无效的随机串（X-Ybjg-Nonce，8–64位字母数字）")
    if not hmac.compare_digest(sign(row.secret, timestamp, nonce, body), signature.strip()):
        raise SignatureError("签名无效（X-Ybjg-Signature 与请求内容不符）")
    if session.scalars(select(ReferralReply.id).where(ReferralReply.nonce == nonce)).first() is not None:
        raise ReplayError()
    return referral


def check(reply: Reply) -> Reply:
    """The reply with its fields checked; raises FormValidationError naming each bad field."""
    errors: dict[str, str] = {}
    kind, reason, reference = reply.kind.strip(), reply.reason.strip(), reply.reference.strip()
    if kind not in KINDS:
        errors["kind"] = f"答复类型应为{'、'.join(KINDS)}之一"
    elif kind in ("不予立案", "退回") and not reason:
        errors["reason"] = f"「{kind}」应写明理由"
    if len(reason) > 5000:
        errors["reason"] = "理由最多 5000 字"
    if len(reference) > 100:
        errors["reference"] = "来文文号最多 100 字"
    if errors:
        raise FormValidationError(errors)
    return Reply(kind, reason, reference)


def record(
    session: Session,
    number: str,
    reply: Reply,
    *,
    actor: Actor,
    source: str,
    nonce: str | None = None,
    evidence_id: int | None = None,
) -> ReferralReply:
    """Take a reply into the referral's waiting instance, in the caller's transaction. Raises
    NotFoundError, FormValidationError, ReplyNotExpectedError, ReplayError, WorkflowScriptError."""
    reply = check(reply)
    referral = get_by_number(session, number)
    implied_receipt, message = _route(session, referral, reply.kind)
    row = ReferralReply(
        referral_id=referral.id,
        kind=reply.kind,
        reason=reply.reason,
        reference=reply.reference,
        source=source,
        nonce=nonce,
        message=message or "",
        evidence_id=evidence_id,
        recorded_by=actor.username,
        received_at=utcnow(),
    )
    try:
        with session.begin_nested():  # two requests with one nonce at once: the unique key decides
            session.add(row)
            session.flush()
    except IntegrityError:
        raise ReplayError() from None
    delivered = []
    if implied_receipt:  # decided without a separate 回执: the decision implies the receipt
        _deliver(session, referral, implied_receipt, Reply("受理", "", reply.reference), actor, row.id)
        delivered.append(implied_receipt)
        message = _waiting(session, referral, DECISIONS)
        if message is None:
            raise ReplyNotExpectedError(f"移送 {referral.number} 受理后不等待「{reply.kind}」答复")
        row.message = message
    assert message is not None
    _deliver(session, referral, message, reply, actor, row.id)
    delivered.append(message)
    referral.last_reply, referral.last_reply_at = reply.kind, row.received_at
    audit.record(
        session,
        actor=actor.username,
        client_addr=actor.client_addr,
        action="referral.reply",
        object_type="referral",
        object_id=str(referral.id),
        case_id=referral.case_id,
        instance_id=referral.instance_id,
        detail={"number": referral.number, "kind": reply.kind, "source": source, "messages": delivered,
                "reason": reply.reason[:500], "reference": reply.reference, "evidence_id": evidence_id},
    )  # fmt: skip
    return row


def _deliver(
    session: Session, referral: Referral, name: str, reply: Reply, actor: Actor, reply_id: int
) -> None:
    """The payload every referral message carries; each process reads the keys it needs
    (decision and reason for the police, result for the agencies)."""
    decision = {"受理": "受理", "立案": "立案"}.get(reply.kind, "不予立案")
    payload = {
        "kind": reply.kind,
        "decision": decision,
        "result": f"{reply.kind}：{reply.reason}" if reply.reason else reply.kind,
        "reason": reply.reason,
        "reference": reply.reference,
        "received_by": actor.username,
        "reply_id": reply_id,
    }
    messages.deliver(session, name, actor=actor, payload=payload, correlation_key=referral.number)


def _waiting(session: Session, referral: Referral, names: tuple[str, ...]) -> str | None:
    waiting = set(
        session.scalars(
            select(MessageWait.name).where(
                MessageWait.instance_id == referral.instance_id,
                MessageWait.correlation_key == referral.number,
                MessageWait.kind == "catch",
            )
        )
    )
    return next((n for n in names if n in waiting), None)


def _route(session: Session, referral: Referral, kind: str) -> tuple[str | None, str | None]:
    """(receipt message to deliver first, or None; the message that carries the reply — None when
    it is only known once the receipt is in). Raises ReplyNotExpectedError."""
    receipt = _waiting(session, referral, RECEIPTS)
    decision = _waiting(session, referral, DECISIONS)
    if kind == "受理" and receipt:
        return None, receipt
    if kind != "受理" and decision:
        return None, decision
    if kind != "受理" and receipt:
        return receipt, None
    state = f"（最近一次答复：{referral.last_reply}）" if referral.last_reply else ""
    raise ReplyNotExpectedError(f"移送 {referral.number} 当前不等待「{kind}」答复{state}")


def list_for(session: Session, referral_id: int) -> list[ReferralReply]:
    return list(
        session.scalars(
            select(ReferralReply).where(ReferralReply.referral_id == referral_id).order_by(ReferralReply.id)
        )
    )


def log_refusal(
    session: Session, number: str, *, reason: str, source: str, actor: str, client_addr: str | None
) -> None:
    """Append an audit event for a refused reply (bad signature, unknown number, replay …)."""
    referral = session.scalars(select(Referral).where(Referral.number == number[:64])).first()
    audit.record(
        session,
        actor=actor,
        client_addr=client_addr,
        action="referral.reply_refused",
        object_type="referral",
        object_id=str(referral.id) if referral else number[:64],
        case_id=referral.case_id if referral else None,
        detail={"number": number[:64], "reason": reason[:500], "source": source},
    )
