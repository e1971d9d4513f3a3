"""移送: referral packages to the police, 纪检监察 and partner agencies. A BPMN script calls
`send_referral(referral_no, destination, receiver, suspected_offence=…, facts=…)` in the step that
hands the case over; in that same transaction this module records the Referral (its number is the
gap-free 移送书文号, the key replies correlate by), fixes the package manifest — case, parties,
offence, amounts and every document and evidence file with its SHA-256 — and puts one outbox
message per referral (idempotency key `referral:<number>:<destination>`) for the configured
channel. The ZIP itself is assembled from the manifest by the sender side (integrations/packages.py)
after commit, byte for byte the same on every retry. Replies come back through referral_replies.py."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine import audit, cases, outbox
from engine.clock import utcnow
from engine.errors import FormValidationError, InputError, NotFoundError
from engine.models import (
    Document,
    EvidenceFile,
    OutboxMessage,
    ProcessInstance,
    Referral,
    ReferralDestination,
    Unit,
)

PACKAGE_FORMAT = "ybjg-referral/1"
MANUAL = "manual"
CHANNELS = {
    MANUAL: "纸质送达（不自动发送）",
    "email": "电子邮件（附移送材料包）",
    "webhook": "HTTPS 接口（签名推送）",
    "dropfolder": "共享目录（投递文件）",
}
# The receiving agencies the shipped processes name; an admin may add others in the table.
AGENCIES = {
    "police": "公安机关",
    "discipline": "纪检监察机关",
    "procuratorate": "人民检察院",
    "health_commission": "卫生健康委员会",
    "market_regulation": "市场监督管理局",
    "civil_affairs": "民政局",
}
PARTY_TYPES = {"institution": "定点医药机构", "person": "参保人"}
AMOUNT_FIELDS = {
    "amount_involved": "涉案金额",
    "amount_recovered": "追回金额",
    "fine": "罚款",
    "penalty_interest": "加处罚款",
    "liquidated_damages": "违约金",
}
DETAIL_FIELDS = {"suspected_offence": "涉嫌违法犯罪", "facts": "主要事实", "basis": "移送依据"}


# --- destinations (an admin's table) -----------------------------------------------------------
def list_destinations(session: Session) -> list[ReferralDestination]:
    return list(
        session.scalars(
            select(ReferralDestination).order_by(ReferralDestination.unit_code, ReferralDestination.code)
        )
    )


def destination_for(session: Session, unit_code: str, code: str) -> ReferralDestination | None:
    """The active destination of agency `code` for a bureau: its own row, else the shared one ("")."""
    rows = session.scalars(
        select(ReferralDestination).where(
            ReferralDestination.code == code,
            ReferralDestination.active.is_(True),
            or_(ReferralDestination.unit_code == unit_code, ReferralDestination.unit_code == ""),
        )
    ).all()
    rows = sorted(rows, key=lambda r: r.unit_code != unit_code)
    return rows[0] if rows else None


def mask(secret: str) -> str:
    """What a page shows of a secret: its last four characters."""
    return f"••••••{secret[-4:]}" if secret else "（未设置）"


def save_destination(
    session: Session,
    *,
    actor: str,
    code: str,
    name: str,
    channel: str,
    address: str,
    secret: str | None,
    unit_code: str = "",
    active: bool = True,
) -> ReferralDestination:
    """Create or change the destination of (unit, agency code). `secret` None keeps the stored one.
    Raises FormValidationError naming each bad field."""
    code, name, address, channel = code.strip(), name.strip(), address.strip(), channel.strip()
    errors: dict[str, str] = {}
    if not code or len(code) > 32 or not code.replace("_", "").isalnum() or not code.isascii():
        errors["code"] = "单位代码应为 1–32 位英文字母、数字或下划线"
    if not name or len(name) > 100:
        errors["name"] = "请填写接收单位名称（最多 100 字）"
    if channel not in CHANNELS:
        errors["channel"] = f"请选择发送方式（{'、'.join(CHANNELS.values())}）"
    elif channel != MANUAL:
        problem = _address_problem(channel, address)
        if problem:
            errors["address"] = problem
    if secret is not None and secret and not 16 <= len(secret) <= 128:
        errors["secret"] = "签名密钥长度应为 16–128 个字符"
    if errors:
        raise FormValidationError(errors)
    row = session.scalars(
        select(ReferralDestination).where(
            ReferralDestination.unit_code == unit_code, ReferralDestination.code == code
        )
    ).first()
    created = row is None
    if row is None:
        row = ReferralDestination(unit_code=unit_code, code=code, secret="")
        session.add(row)
    before = None if created else {"name": row.name, "channel": row.channel, "address": row.address}
    row.name, row.channel, row.address, row.active = name, channel, address, active
    if secret is not None:
        row.secret = secret
    row.updated_by, row.updated_at = actor, utcnow()
    session.flush()  # the audit event names the row's id
    audit.record(
        session,
        actor=actor,
        action="referral.destination.save",
        object_type="referral_destination",
        object_id=str(row.id),
        before=before,
        detail={
            "code": code,
            "name": name,
            "channel": channel,
            "address": address,
            "active": active,
            "secret_changed": secret is not None,
        },
    )
    return row


def _address_problem(channel: str, address: str) -> str | None:
    if not address or len(address) > 255:
        return "请填写发送地址（最多 255 个字符）"
    if channel == "email" and ("@" not in address or " " in address.strip()):
        return "请填写有效的电子邮件地址"
    if channel == "webhook" and not address.startswith(("https://", "http://")):
        return "接口地址应以 https:// 开头"
    if channel == "dropfolder" and not address.startswith("/"):
        return "共享目录应为服务器上的绝对路径（以 / 开头）"
    return None


def webhook_secret(session: Session, address: str) -> str | None:
    """The signing secret of the active webhook destination at `address` (for the sender)."""
    row = session.scalars(
        select(ReferralDestination).where(
            ReferralDestination.channel == "webhook",
            ReferralDestination.address == address,
            ReferralDestination.active.is_(True),
        )
    ).first()
    return row.secret if row is not None and row.secret else None


# --- sending -----------------------------------------------------------------------------------
def send(
    session: Session,
    instance: ProcessInstance,
    *,
    actor: str,
    number: str,
    destination: str,
    receiver: str = "",
    details: dict[str, Any] | None = None,
) -> Referral:
    """Record the referral `number` of this instance's case to agency `destination`, fix its
    manifest and queue its delivery, all in the caller's transaction. Calling it again for the same
    number and instance returns the first referral (one referral, one delivery). Raises InputError."""
    number = str(number or "").strip()
    if not number:
        raise InputError("移送编号为空：请先编制移送书文号（document_number('移')）")
    existing = session.scalars(select(Referral).where(Referral.number == number)).first()
    if existing is not None:
        if existing.instance_id != instance.id:
            raise InputError(f"移送编号 {number} 已被其他移送使用")
        return existing
    if instance.case_id is None:
        raise InputError("本流程尚未登记案件：请先调用 open_case(...)")
    case = cases.get(session, instance.case_id)
    row = destination_for(session, case.unit_code, destination)
    if row is None and destination not in AGENCIES:
        raise InputError(f"未知的移送接收单位「{destination}」（可用：{'、'.join(AGENCIES)}）")
    name = row.name if row is not None else AGENCIES[destination]
    channel = row.channel if row is not None and row.address else MANUAL
    now = utcnow()
    manifest, sources = build_manifest(
        session,
        case.id,
        number=number,
        destination=(destination, name, str(receiver or "")),
        details=details or {},
    )
    data = manifest_bytes(manifest)
    digest = hashlib.sha256(data).hexdigest()
    message: OutboxMessage | None = None
    if channel != MANUAL:
        assert row is not None
        message = outbox.enqueue(
            session,
            channel=channel,
            destination=row.address,
            payload={
                "kind": "referral_package",
                "referral_no": number,
                "manifest": manifest,
                "manifest_sha256": digest,
                "sources": sources,
                "body": _body(manifest),
            },
            idempotency_key=f"referral:{number}:{destination}",
            subject=f"移送{name} {number}：{case.title}"[:255],
            case_id=case.id,
            actor=actor,
        )
    referral = Referral(
        number=number,
        case_id=case.id,
        instance_id=instance.id,
        unit_code=case.unit_code,
        destination_code=destination,
        destination_name=name,
        receiver=str(receiver or "")[:100],
        channel=channel,
        outbox_id=message.id if message is not None else None,
        manifest=manifest,
        manifest_sha256=digest,
        created_by=actor,
        created_at=now,
    )
    session.add(referral)
    session.flush()  # the audit event names the referral's id
    audit.record(
        session,
        actor=actor,
        action="referral.send",
        object_type="referral",
        object_id=str(referral.id),
        case_id=case.id,
        instance_id=instance.id,
        after=data,
        detail={
            "number": number,
            "destination": destination,
            "channel": channel,
            "manifest_sha256": digest,
            "files": len(manifest["files"]),
            "outbox_id": referral.outbox_id,
        },
    )
    return referral


def build_manifest(
    session: Session,
    case_id: int,
    *,
    number: str,
    destination: tuple[str, str, str],
    details: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The package manifest (what the receiving agency reads) and, per file path in the package,
    where its bytes are stored (what the package builder reads). Every document of the case and the
    newest version of every evidence title, each with the SHA-256 recorded when it was stored."""
    case = cases.get(session, case_id)
    unit = session.get(Unit, case.unit_code)
    files: list[dict[str, Any]] = []
    sources: dict[str, dict[str, str]] = {}
    documents = session.scalars(
        select(Document).where(Document.case_id == case.id).order_by(Document.id)
    ).all()
    for doc in documents:
        path = f"documents/{_safe(doc.file_name)}"
        files.append(
            {"path": path, "type": "document", "kind": doc.kind, "number": doc.number or "",
             "title": doc.title, "size": doc.size, "sha256": doc.sha256}
        )  # fmt: skip
        sources[path] = {"store": "documents", "key": doc.storage_key}
    evidence = session.scalars(
        select(EvidenceFile).where(EvidenceFile.case_id == case.id).order_by(EvidenceFile.id)
    ).all()
    newest: dict[str, EvidenceFile] = {}
    for ev in evidence:
        if ev.title not in newest or ev.version > newest[ev.title].version:
            newest[ev.title] = ev
    for ev in sorted(newest.values(), key=lambda e: e.id):
        path = f"evidence/{ev.id}-{_safe(ev.file_name)}"
        files.append(
            {"path": path, "type": "evidence", "kind": ev.kind, "title": ev.title, "version": ev.version,
             "size": ev.size, "sha256": ev.sha256}
        )  # fmt: skip
        sources[path] = {"store": "evidence", "key": ev.storage_key}
    code, name, receiver = destination
    manifest = {
        "format": PACKAGE_FORMAT,
        "referral_no": number,
        "case_number": case.number or "",
        "case_title": case.title,
        "sender": {"unit_code": case.unit_code, "name": unit.name if unit else case.unit_code},
        "destination": {"code": code, "name": name, "receiver": receiver},
        "parties": [
            {
                "name": case.party_name,
                "type": case.party_type,
                "type_label": PARTY_TYPES.get(case.party_type, ""),
            }
        ],
        "amounts": {
            key: _money(getattr(case, key)) for key in AMOUNT_FIELDS if getattr(case, key) is not None
        },
        **{key: str(details.get(key) or "") for key in DETAIL_FIELDS},
        "created_at": utcnow().replace(microsecond=0).isoformat(),
        "files": files,
    }
    return manifest, sources


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The canonical bytes of a manifest: the manifest.json of the package, and what its hash covers."""
    return json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=2).encode("utf-8")


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _safe(file_name: str) -> str:
    return "".join("_" if c in '/\\:*?"<>|' or ord(c) < 32 else c for c in file_name)[:150] or "file"


def _body(manifest: dict[str, Any]) -> str:
    lines = [
        f"{manifest['destination']['receiver'] or manifest['destination']['name']}：",
        "",
        f"现将{manifest['case_title']}一案移送贵单位，移送编号 {manifest['referral_no']}。",
        "随附移送材料包（ZIP），其中 manifest.json 列明全部文书和证据材料及其 SHA-256 校验值。",
        f"回复时请注明移送编号 {manifest['referral_no']}。",
        "",
        str(manifest["sender"]["name"]),
    ]
    return "\n".join(lines)


def get_by_number(session: Session, number: str) -> Referral:
    referral = session.scalars(select(Referral).where(Referral.number == number)).first()
    if referral is None:
        raise NotFoundError(f"移送编号「{number}」不存在")
    return referral


def delivery_of(session: Session, referral: Referral) -> OutboxMessage | None:
    return session.get(OutboxMessage, referral.outbox_id) if referral.outbox_id else None


def list_for_unit(session: Session, unit_code: str | None, *, limit: int = 200) -> list[Referral]:
    """Referrals of a bureau (all bureaus for None), newest first."""
    query = select(Referral).order_by(Referral.created_at.desc(), Referral.id.desc()).limit(limit)
    if unit_code:
        query = query.where(Referral.unit_code == unit_code)
    return list(session.scalars(query))


class ReferralOps:
    """The referral function offered to one instance's scripts."""

    def __init__(self, session: Session, instance: ProcessInstance, actor: str) -> None:
        self.session = session
        self.instance = instance
        self.actor = actor

    def send_referral(self, number: str, destination: str, receiver: str = "", **details: Any) -> str:
        unknown = set(details) - set(DETAIL_FIELDS)
        if unknown:
            raise InputError(
                f"send_referral 没有参数 {'、'.join(sorted(unknown))}（可用：{'、'.join(DETAIL_FIELDS)}）"
            )
        referral = send(
            self.session, self.instance, actor=self.actor, number=number, destination=destination,
            receiver=receiver, details=details,
        )  # fmt: skip
        return referral.channel

    def functions(self) -> dict[str, Callable[..., Any]]:
        return {"send_referral": self.send_referral}
