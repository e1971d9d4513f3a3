"""Cases (案件): the domain record beside the workflows. BPMN scripts write it through the functions
bound here (open_case, update_case, assign_case_number) so statistics never parse workflow data;
a user task's `stage` property moves the case's stage when the task becomes ready."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from engine import audit, numbering
from engine.clock import utcnow
from engine.errors import InputError, NotFoundError
from engine.functions import money
from engine.models import Case, ProcessInstance

TEXT_FIELDS = {
    "stage",
    "outcome",
    "status",
    "title",
    "party_name",
    "party_type",
    "institution_type",
    "clue_source",
    "referral_destination",
    "referral_result",
}
MONEY_FIELDS = {"amount_involved", "amount_recovered", "fine", "penalty_interest", "liquidated_damages"}
FLAG_FIELDS = {"legal_review", "collective_discussion", "published"}
CASE_STATUSES = {"clue", "open", "not_filed", "suspended", "closed", "terminated", "referred"}
# The codes of the start forms' enums; the labels are what statistics and the case file show.
INSTITUTION_TYPES = {
    "public_hospital": "公立医院",
    "private_hospital": "民营医院",
    "primary_care": "基层医疗卫生机构",
    "clinic": "诊所、门诊部",
    "pharmacy": "定点零售药店",
    "other": "其他机构",
}
CLUE_SOURCES = {
    "inspection": "日常检查",
    "report": "举报投诉",
    "smart": "智能监管疑点",
    "transfer": "其他机关移交",
    "assigned": "上级交办",
}


def get(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError(f"案件 {case_id} 不存在")
    return case


class CaseOps:
    """The case functions offered to one instance's scripts while it steps."""

    def __init__(self, session: Session, instance: ProcessInstance, actor: str) -> None:
        self.session = session
        self.instance = instance
        self.actor = actor

    def _case(self) -> Case:
        if self.instance.case_id is None:
            raise InputError("本流程尚未登记案件：请先调用 open_case(...)")
        return get(self.session, self.instance.case_id)

    def open_case(self, **fields: Any) -> int:
        """Create the case record of this instance (once) and return its id."""
        if self.instance.case_id is not None:
            self.update_case(**fields)
            return self.instance.case_id
        case = Case(
            unit_code=self.instance.unit_code or "-",
            status="clue",
            kind=self.instance.process_key,
            opened_at=utcnow(),
        )
        _apply(case, fields)
        self.session.add(case)
        self.session.flush()  # the id goes on the instance and every task projected after this step
        self.instance.case_id = case.id
        audit.record(
            self.session,
            actor=self.actor,
            action="case.open",
            object_type="case",
            object_id=str(case.id),
            case_id=case.id,
            instance_id=self.instance.id,
            detail=_jsonable(fields),
        )
        return case.id

    def update_case(self, **fields: Any) -> None:
        case = self._case()
        _apply(case, fields)
        if fields.get("status") in {"closed", "terminated", "not_filed"} and case.closed_at is None:
            case.closed_at = utcnow()
        audit.record(
            self.session,
            actor=self.actor,
            action="case.update",
            object_type="case",
            object_id=str(case.id),
            case_id=case.id,
            instance_id=self.instance.id,
            detail=_jsonable(fields),
        )

    def assign_case_number(self, kind: str = "立") -> str:
        """Give the case its 文号 (once), e.g. 渝北医保立〔2024〕3号, and return it."""
        case = self._case()
        if not case.number:
            case.number = numbering.format_number(self.session, kind, case.unit_code)
        return case.number

    def next_document_number(self, kind: str) -> str:
        """A fresh 文号 of `kind` (罚, 告, 移 …) for this case's unit."""
        return numbering.format_number(self.session, kind, self._case().unit_code)

    def functions(self) -> dict[str, Callable[..., Any]]:
        return {
            "open_case": self.open_case,
            "update_case": self.update_case,
            "assign_case_number": self.assign_case_number,
            "document_number": self.next_document_number,
        }


def set_stage(session: Session, case_id: int | None, stage: str) -> None:
    """Move a case to `stage` (called when a task carrying that stage becomes ready)."""
    if case_id is None or not stage:
        return
    case = session.get(Case, case_id)
    if case is not None and case.stage != stage:
        case.stage = stage
        case.updated_at = utcnow()


def _apply(case: Case, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if name in TEXT_FIELDS:
            text = "" if value is None else str(value)
            if name == "status" and text not in CASE_STATUSES:
                raise InputError(f"案件状态「{text}」无效（可用：{'、'.join(sorted(CASE_STATUSES))}）")
            setattr(case, name, text[:255])
        elif name in MONEY_FIELDS:
            setattr(case, name, None if value in (None, "") else money(value))
        elif name in FLAG_FIELDS:
            setattr(case, name, bool(value))
        elif name == "violation_types":
            case.violation_types = _string_list(value)
        else:
            raise InputError(f"案件没有字段「{name}」")


def _string_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.replace("，", ",").split(",") if v.strip()]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    raise InputError("违法类型应为列表或逗号分隔的文字")


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in fields.items()}
