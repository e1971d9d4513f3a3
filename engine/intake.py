"""举报投诉: a citizen's report from the public page becomes a clue (线索) in the penalty process,
with a 受理编号 (gap-free per bureau and year) and a secret 查询码 for checking its status later.

Who reported is stored apart (ReporterIdentity), never passed to the workflow, the case record,
documents or lists; only the case's handling officers may read it, and each reading is audited.
The reporter's network address is not recorded either: rate limits count a keyed digest of it."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine import audit, evidence, instances, numbering
from engine.clock import to_beijing, utcnow
from engine.errors import FormValidationError, NotFoundError, NotPermittedError
from engine.models import Case, Report, ReporterIdentity, Task, Unit
from engine.users import Actor, check_password, hash_password

PROCESS_KEY = "penalty_case"
PUBLIC = "public"  # the actor name of submissions from the public page
MATTERS = (
    "串换药品、耗材、诊疗项目",
    "虚构医药服务、伪造医疗文书",
    "分解住院、挂床住院",
    "过度诊疗、过度检查",
    "重复收费、超标准收费",
    "冒名就医、倒卖医保药品",
    "诱导、协助他人骗保",
    "其他违法违规使用医保基金行为",
)
MAX_FILES = 5
MAX_FILE_BYTES = 10 * 1024 * 1024
FILE_TYPES = ("pdf", "jpg", "jpeg", "png", "docx", "xlsx", "doc", "xls", "txt", "mp3", "mp4", "wav")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed from paper
PHONE = re.compile(r"^[0-9+\- ]{7,20}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Attachment:
    file_name: str
    stream: BinaryIO


@dataclass(frozen=True)
class Receipt:
    """What the reporter is shown once: the 受理编号 and the 查询码 (only its hash is kept)."""

    receipt_number: str
    query_code: str
    case_id: int


@dataclass(frozen=True)
class ReportStatus:
    receipt_number: str
    submitted_at: datetime
    matter: str
    status: str  # what the reporter reads


def bureaus(session: Session) -> list[Unit]:
    """The bureaus (top-level units) a report can be addressed to."""
    return list(session.scalars(select(Unit).where(Unit.parent_code.is_(None)).order_by(Unit.code)))


def submit(
    session: Session,
    store: evidence.EvidenceStore,
    form: Mapping[str, str],
    attachments: Sequence[Attachment],
) -> Receipt:
    """Register a report as a clue of the penalty process, in the caller's transaction. Raises
    FormValidationError (every bad field at once, with the attachments' type and size problems)."""
    values = _validate(session, form, attachments)
    bureau = values["bureau"]
    year = to_beijing(utcnow()).year
    receipt = f"{bureau.upper()}-JB{year}-{numbering.next_number(session, '举报受理', bureau, year):05d}"
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
    actor = Actor(PUBLIC, frozenset(), bureau, None)
    summary = f"【举报 {receipt}】{values['matter']}：{values['description']}"
    instance = instances.start(
        session,
        PROCESS_KEY,
        actor=actor,
        unit_code=bureau,
        variables={
            "clue_source": "report",
            "party_name": values["institution"],
            "party_type": "institution",
            "clue_summary": summary[:2000],
            "report_receipt": receipt,
        },
    )
    assert instance.case_id is not None  # the start script registers the case
    identity = {k: values[k] for k in ("name", "phone", "email")}
    report = Report(
        receipt_number=receipt,
        query_code_hash=hash_password(code),
        unit_code=bureau,
        case_id=instance.case_id,
        instance_id=instance.id,
        institution=values["institution"],
        matter=values["matter"],
        description=values["description"],
        attachment_count=len(attachments),
        anonymous=not any(identity.values()),
        submitted_at=utcnow(),
    )
    session.add(report)
    session.flush()  # the identity row and the audit event name the report's id
    if not report.anonymous:
        session.add(ReporterIdentity(report_id=report.id, **identity))
    for n, item in enumerate(attachments, start=1):
        _attach(session, store, instance.case_id, item, n, actor)
    audit.record(
        session,
        actor=PUBLIC,
        action="report.submit",
        object_type="report",
        object_id=str(report.id),
        case_id=instance.case_id,
        instance_id=instance.id,
        detail={
            "receipt": receipt,
            "matter": values["matter"],
            "attachments": len(attachments),
            "anonymous": report.anonymous,
        },
    )
    return Receipt(receipt, code, instance.case_id)


def _attach(
    session: Session, store: evidence.EvidenceStore, case_id: int, item: Attachment, n: int, actor: Actor
) -> None:
    # The reporter's own file name may carry their name: the file is stored as 举报附件N.
    ext = evidence.extension_of(item.file_name)
    try:
        evidence.upload(
            session,
            store,
            case_id,
            item.stream,
            file_name=f"举报附件{n}.{ext}",
            title=f"举报附件{n}",
            kind="其他",
            actor=actor,
            max_bytes=MAX_FILE_BYTES,
        )
    except evidence.EvidenceRejectedError as exc:
        raise FormValidationError({"attachments": f"附件「{item.file_name}」：{exc.detail}"}) from None


def _validate(session: Session, form: Mapping[str, str], attachments: Sequence[Attachment]) -> dict[str, str]:
    values = {k: " ".join(str(form.get(k) or "").split()) for k in ("bureau", "institution", "matter")}
    values["description"] = str(form.get("description") or "").strip()
    values |= {k: str(form.get(k) or "").strip() for k in ("name", "phone", "email")}
    errors: dict[str, str] = {}
    if values["bureau"] not in {u.code for u in bureaus(session)}:
        errors["bureau"] = "请选择受理机关"
    if not values["institution"]:
        errors["institution"] = "请填写被举报的机构或个人"
    elif len(values["institution"]) > 100:
        errors["institution"] = "被举报对象名称最多 100 个字"
    if values["matter"] not in MATTERS:
        errors["matter"] = "请从列表中选择举报事项"
    if len(values["description"]) < 10:
        errors["description"] = "请具体描述问题（至少 10 个字），如时间、地点、涉及的药品或项目"
    elif len(values["description"]) > 5000:
        errors["description"] = "问题描述最多 5000 个字"
    if len(values["name"]) > 50:
        errors["name"] = "姓名最多 50 个字"
    if values["phone"] and not PHONE.match(values["phone"]):
        errors["phone"] = "联系电话格式不正确（7–20 位数字）"
    if values["email"] and (len(values["email"]) > 255 or not EMAIL.match(values["email"])):
        errors["email"] = "电子邮箱格式不正确"
    problem = _attachment_problem(attachments)
    if problem:
        errors["attachments"] = problem
    if errors:
        raise FormValidationError(errors)
    return values


def _attachment_problem(attachments: Sequence[Attachment]) -> str | None:
    if len(attachments) > MAX_FILES:
        return f"最多上传 {MAX_FILES} 个附件"
    for item in attachments:
        name = evidence.safe_file_name(item.file_name)
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if ext not in FILE_TYPES:
            allowed = "、".join(t.upper() for t in FILE_TYPES)
            return f"附件「{name}」的类型不支持，允许：{allowed}"
    return None


# --- the reporter's status check ---------------------------------------------------------------
def lookup(session: Session, receipt_number: str, query_code: str) -> ReportStatus | None:
    """The status a reporter may see, or None when the number or the code is wrong (the same
    answer for both, so a guess learns nothing about which numbers exist)."""
    number = "".join(receipt_number.split()).upper()
    report = session.scalars(select(Report).where(Report.receipt_number == number)).first()
    code = "".join(query_code.split()).upper()
    if report is None or not check_password(report.query_code_hash, code):
        return None
    case = session.get(Case, report.case_id) if report.case_id else None
    return ReportStatus(report.receipt_number, report.submitted_at, report.matter, status_text(case))


def status_text(case: Case | None) -> str:
    """The handling status in words a citizen understands; nothing internal."""
    if case is None:
        return "已收到，待受理"
    if case.status == "clue":
        return "已收到，待受理" if case.stage == "举报受理" else "已受理，正在核查"
    if case.status == "not_filed":
        return "不予受理" if case.stage == "不予受理" else "经核查，不予立案"
    return {
        "open": "已立案调查",
        "suspended": "已立案调查",
        "referred": "已移送有关机关处理",
        "closed": "已办结",
        "terminated": "已办结",
    }.get(case.status, "处理中")


# --- the officers' side -------------------------------------------------------------------------
def reports_for_case(session: Session, case_id: int) -> list[Report]:
    """The reports behind a case (without who reported)."""
    return list(session.scalars(select(Report).where(Report.case_id == case_id).order_by(Report.id)))


def handling_officers(session: Session, case_id: int) -> set[str]:
    """Who handles the case: the assignees and completers of its tasks (claiming a task makes an
    officer one of them)."""
    rows = session.execute(
        select(Task.assignee, Task.completed_by).where(
            Task.case_id == case_id, or_(Task.assignee.is_not(None), Task.completed_by.is_not(None))
        )
    ).all()
    names = {n for row in rows for n in row if n}
    return names - {PUBLIC, "system"}


def may_see_identity(session: Session, case_id: int, actor: Actor) -> bool:
    return actor.username in handling_officers(session, case_id)


def reporter_identities(
    session: Session, case_id: int, actor: Actor
) -> list[tuple[Report, ReporterIdentity]]:
    """The reporters' contact details of the case, with a `report.identity_view` audit event.
    Raises NotPermittedError for anyone but the case's handling officers."""
    if not may_see_identity(session, case_id, actor):
        raise NotPermittedError("举报人信息受保护，仅本案承办人员可以查看")
    rows = session.execute(
        select(Report, ReporterIdentity)
        .join(ReporterIdentity, ReporterIdentity.report_id == Report.id)
        .where(Report.case_id == case_id)
        .order_by(Report.id)
    ).all()
    if not rows and not reports_for_case(session, case_id):
        raise NotFoundError("本案没有举报记录")
    audit.record(
        session,
        actor=actor.username,
        client_addr=actor.client_addr,
        action="report.identity_view",
        object_type="report",
        object_id=str(rows[0][0].id) if rows else "-",
        case_id=case_id,
        detail={"receipts": [r.receipt_number for r, _ in rows]},
    )
    return [(r, i) for r, i in rows]
