"""信息抄告: copying a case's facts to member agencies of the joint-meeting mechanism whose remit it
touches (卫健委 for medical institutions, 市场监管局 for pharmacies, 民政局 for care institutions …).
Which agency covers which institution types, and where its copies go, is the `member_agencies`
table. A copy is an outbox message (sent after commit by the delivery adapters, retried, never
twice): its idempotency key is the case and the agency, so each agency gets one copy per case."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit, outbox
from engine.cases import INSTITUTION_TYPES
from engine.clock import to_beijing, utcnow
from engine.errors import FormValidationError, NotFoundError
from engine.models import Case, MemberAgency, OutboxMessage
from engine.users import Actor

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
