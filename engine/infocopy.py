"""信息抄告: copying a case's facts to member agencies of the joint-meeting mechanism whose remit it
touches (卫健委 for medical institutions, 市场监管局 for pharmacies, 民政局 for care institutions …).
Which agency covers which institution types, and where its copies go, is the `member_agencies`
table. A copy is an outbox message (sent after commit by the delivery adapters, retried, never
twice): its idempotency key is the case and the agency, so each agency gets one copy per case."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import audit, outbox, referrals
from engine.cases import INSTITUTION_TYPES
from engine.clock import to_beijing, utcnow
from engine.errors import FormValidationError, InputError, NotFoundError
from engine.models import Case, MemberAgency, OutboxMessage
from engine.users import Actor, check_email

KEY_PREFIX = "infocopy"
MEDICAL = ["public_hospital", "private_hospital", "primary_care", "clinic"]
# Defaults seeded once; an administrator sets each agency's channel and destination.
DEFAULT_AGENCIES = (
    (
        "wsjkw",
        "区卫生健康委员会",
        "医疗机构及医务人员执业行为",
        MEDICAL,
        "email",
        "xxcg@wsjkw.example.gov.cn",
    ),
    (
        "scjgj",
        "区市场监督管理局",
        "定点零售药店药品经营、价格行为",
        ["pharmacy"],
        "email",
        "xxcg@scjgj.example.gov.cn",
    ),
    ("mzj", "区民政局", "养老机构等民政服务机构", [], "email", "xxcg@mzj.example.gov.cn"),
)
# The outbox channels a copy can take: those integrations/senders.build_senders builds a sender for
# (tests/engine/test_infocopy.py keeps the two in step). Paper delivery has no sender, so no copy.
CHANNELS = {
    "email": "电子邮件",
    "webhook": "HTTPS 接口（签名推送）",
    "dropfolder": "共享目录（投递文件）",
}
CODE = re.compile(r"[a-z0-9_]{1,32}")


@dataclass(frozen=True)
class CopyRow:
    agency: str
    message: OutboxMessage


def seed_agencies(session: Session) -> int:
    """Insert the default member agencies the table lacks; returns how many."""
    existing = set(session.scalars(select(MemberAgency.code)))
    added = 0
    for code, name, remit, types, channel, destination in DEFAULT_AGENCIES:
        if code not in existing:
            session.add(
                MemberAgency(
                    code=code, name=name, remit=remit, institution_types=list(types),
                    channel=channel, destination=destination, active=True,
                )
            )  # fmt: skip
            added += 1
    return added


def agencies(session: Session) -> list[MemberAgency]:
    return list(session.scalars(select(MemberAgency).where(MemberAgency.active).order_by(MemberAgency.code)))


def suggested(session: Session, case: Case) -> list[str]:
    """The agencies whose remit covers the case's institution type."""
    kind = getattr(case, "institution_type", "") or ""
    return [a.code for a in agencies(session) if kind and kind in (a.institution_types or [])]


# --- the administrator's table (系统管理 › 联席成员单位) -------------------------------------------
# No agency is ever deleted: copies already sent name it by code (the outbox key, copies_for_case).
# A change of channel or destination applies to later copies; queued ones keep their own address.
def list_agencies(session: Session) -> list[MemberAgency]:
    """Every member agency, active or not, by code."""
    return list(session.scalars(select(MemberAgency).order_by(MemberAgency.code)))


def get_agency(session: Session, code: str) -> MemberAgency:
    """The member agency `code`; raises NotFoundError."""
    agency = session.get(MemberAgency, code)
    if agency is None:
        raise NotFoundError(f"成员单位「{code[:40]}」不存在")
    return agency


def create_agency(
    session: Session,
    *,
    actor: Actor,
    code: str,
    name: str,
    remit: str,
    institution_types: Sequence[str],
    channel: str,
    destination: str,
) -> MemberAgency:
    """Add an active member agency, audited. Its code never changes afterwards.
    Raises FormValidationError naming each bad field (a code already taken included)."""
    code = code.strip()
    errors: dict[str, str] = {}
    if not CODE.fullmatch(code):
        errors["code"] = "单位代码应为 1–32 位小写英文字母、数字或下划线"
    elif session.get(MemberAgency, code) is not None:
        errors["code"] = f"单位代码「{code}」已被使用"
    values = _checked(session, errors, name, remit, institution_types, channel, destination)
    agency = MemberAgency(code=code, active=True, **values)
    try:
        with session.begin_nested():
            session.add(agency)
            session.flush()  # the primary key decides between two administrators adding one code at once
    except IntegrityError:
        raise FormValidationError({"code": f"单位代码「{code}」已被使用"}) from None
    audit.record(
        session, actor=actor.username, client_addr=actor.client_addr, action="infocopy.agency.create",
        object_type="member_agency", object_id=code, detail={"code": code, **values}, after=values,
    )  # fmt: skip
    return agency


def update_agency(
    session: Session,
    code: str,
    *,
    actor: Actor,
    name: str,
    remit: str,
    institution_types: Sequence[str],
    channel: str,
    destination: str,
) -> MemberAgency:
    """Change an agency's name, remit, institution types, channel and destination (not its code),
    audited when anything changed. Raises NotFoundError, FormValidationError naming each bad field."""
    agency = get_agency(session, code)
    values = _checked(session, {}, name, remit, institution_types, channel, destination)
    before = agency_values(agency)
    changed = {k: before[k] for k in values if before[k] != values[k]}
    if not changed:
        return agency
    for key, value in values.items():
        setattr(agency, key, value)
    audit.record(
        session, actor=actor.username, client_addr=actor.client_addr, action="infocopy.agency.update",
        object_type="member_agency", object_id=code, detail={"code": code, **values, "previous": changed},
        before=before, after=values,
    )  # fmt: skip
    return agency


def set_agency_active(session: Session, code: str, active: bool, *, actor: Actor) -> MemberAgency:
    """Enable or disable an agency (a disabled one is neither suggested nor offered for new copies),
    audited when it changes. Raises NotFoundError."""
    agency = get_agency(session, code)
    if agency.active != active:
        agency.active = active
        audit.record(
            session, actor=actor.username, client_addr=actor.client_addr,
            action="infocopy.agency.enable" if active else "infocopy.agency.disable",
            object_type="member_agency", object_id=code, detail={"code": code, "name": agency.name},
        )  # fmt: skip
    return agency


def destination_problem(session: Session, channel: str, destination: str) -> str | None:
    """Why `destination` cannot receive copies on `channel` (Chinese), or None when it can."""
    if not destination or len(destination) > 255:
        return "请填写抄告地址（最多 255 个字符）"
    if channel == "email":
        try:
            check_email(destination)
        except InputError as exc:
            return exc.detail
        return None
    if channel == "webhook":
        parts = urlsplit(destination)
        if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in destination):
            return "接口地址应为以 https:// 开头的完整网址"
        # The webhook sender signs with the secret of the referral destination at this address
        # (integrations/webhook.secrets_from); without one every copy would fail for good.
        if referrals.webhook_secret(session, destination) is None:
            return "该接口地址尚未配置签名密钥：请先在「移送 › 接收单位配置」中登记此地址及其密钥"
        return None
    if channel == "dropfolder":
        path = PurePosixPath(destination)
        if not path.is_absolute() or ".." in path.parts:
            return "共享目录应为服务器上的绝对路径（以 / 开头，不含 ..）"
    return None


def _checked(
    session: Session,
    errors: dict[str, str],
    name: str,
    remit: str,
    institution_types: Sequence[str],
    channel: str,
    destination: str,
) -> dict[str, Any]:
    """The cleaned column values; raises FormValidationError with `errors` plus each bad field."""
    name, remit, channel, destination = name.strip(), remit.strip(), channel.strip(), destination.strip()
    if not name or len(name) > 100:
        errors["name"] = "请填写成员单位名称（最多 100 字）"
    if not remit or len(remit) > 255:
        errors["remit"] = "请填写职责范围（最多 255 字）"
    unknown = [t for t in institution_types if t not in INSTITUTION_TYPES]
    if unknown:
        errors["institution_types"] = f"机构类型无效：{'、'.join(t[:40] for t in unknown[:3])}"
    if channel not in CHANNELS:
        errors["channel"] = f"请选择抄告渠道（{'、'.join(CHANNELS.values())}）"
    else:
        problem = destination_problem(session, channel, destination)
        if problem:
            errors["destination"] = problem
    if errors:
        raise FormValidationError(errors)
    return {
        "name": name,
        "remit": remit,
        "institution_types": [t for t in INSTITUTION_TYPES if t in institution_types],
        "channel": channel,
        "destination": destination,
    }


def agency_values(agency: MemberAgency) -> dict[str, Any]:
    """What an administrator edits of an agency (all but code and active), as the form holds it."""
    return {
        "name": agency.name,
        "remit": agency.remit,
        "institution_types": list(agency.institution_types or []),
        "channel": agency.channel,
        "destination": agency.destination,
    }


def key_for(case_id: int, agency_code: str) -> str:
    return f"{KEY_PREFIX}:{case_id}:{agency_code}"


def send(
    session: Session, case_id: int, agency_codes: Sequence[str], note: str, *, actor: Actor
) -> list[CopyRow]:
    """Queue one information copy per chosen agency, in the caller's transaction. An agency that
    already got this case's copy is not sent another (the outbox returns the first message).
    Raises FormValidationError (no agency, unknown agency, note too long), NotFoundError."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError(f"案件 {case_id} 不存在")
    note = (note or "").strip()
    known = {a.code: a for a in agencies(session)}
    errors: dict[str, str] = {}
    codes = list(dict.fromkeys(agency_codes))
    if not codes:
        errors["agencies"] = "请选择抄告单位"
    elif any(c not in known for c in codes):
        errors["agencies"] = "抄告单位无效或已停用"
    if len(note) > 2000:
        errors["note"] = "抄告说明最多 2000 个字"
    if errors:
        raise FormValidationError(errors)
    rows = []
    for code in codes:
        agency = known[code]
        key = key_for(case.id, code)
        before = outbox.find(session, key)
        message = outbox.enqueue(
            session,
            channel=agency.channel,
            destination=agency.destination,
            subject=f"信息抄告：{case.number or '线索'} {case.title}"[:255],
            payload=_payload(case, agency, note, actor),
            idempotency_key=key,
            case_id=case.id,
            actor=actor.username,
        )
        if before is None:
            audit.record(
                session, actor=actor.username, client_addr=actor.client_addr, action="infocopy.send",
                object_type="case", object_id=str(case.id), case_id=case.id,
                detail={"agency": agency.name, "channel": agency.channel, "outbox": message.id},
            )  # fmt: skip
        rows.append(CopyRow(agency.name, message))
    return rows


def _payload(case: Case, agency: MemberAgency, note: str, actor: Actor) -> dict[str, object]:
    # Case facts only: never the reporter of a 举报 (kept apart, see engine/intake.py).
    kind = getattr(case, "institution_type", "") or ""
    return {
        "kind": "信息抄告",
        "to": agency.name,
        "case_number": case.number or "",
        "title": case.title,
        "party_name": case.party_name,
        "institution_type": INSTITUTION_TYPES.get(kind, kind),
        "stage": case.stage,
        "status": case.status,
        "amount_involved": str(case.amount_involved) if case.amount_involved is not None else "",
        "note": note,
        "sent_by": actor.username,
        "sent_at": to_beijing(utcnow()).isoformat(timespec="seconds"),
    }


def copies_for_case(session: Session, case_id: int) -> list[CopyRow]:
    """The case's information copies with their delivery status, oldest first."""
    names = {a.code: a.name for a in session.scalars(select(MemberAgency))}
    messages = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.case_id == case_id, OutboxMessage.idempotency_key.like(f"{KEY_PREFIX}:%"))
        .order_by(OutboxMessage.id)
    )
    return [CopyRow(names.get(m.idempotency_key.rsplit(":", 1)[-1], m.destination), m) for m in messages]
