"""What a document template may print about a case (the context of engine.documents.issue), built from
the projection tables only: the case row, its legal clocks, the start form recorded in the audit trail,
and the form data officers submitted on the case's tasks (Task.form_data; later tasks win). No workflow
is deserialized, so building it never waits on a process instance's lock."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import cases
from engine.clock import to_beijing, utcnow
from engine.models import AuditEvent, ClockRule, Document, LegalClock, Task, TaskState, Unit, User
from engine.roles import split_list

MONEY_LIMIT = Decimal("1000000000000")  # what Numeric(14, 2) holds; a form value beyond it is no amount
PARTY_TYPES = {"institution": "定点医药机构", "person": "参保人"}
CLUE_SOURCES = {
    "inspection": "日常检查",
    "report": "举报投诉",
    "smart": "智能监管疑点",
    "transfer": "其他机关移交",
    "assigned": "上级交办",
}

# Form fields that carry the same fact under different names in different tasks and processes. The
# value entered last wins (a revised fine beats the proposed one); within one task, the first name.
ALIASES: dict[str, tuple[str, ...]] = {
    "address": ("party_address", "address", "institution_address"),
    "legal_representative": ("legal_representative", "party_legal_representative", "legal_rep"),
    "credit_code": ("credit_code", "party_credit_code", "social_credit_code", "id_number"),
    "facts": ("facts", "onsite_facts", "violation_facts", "verification", "clue_summary"),
    "evidence": ("evidence_list", "evidence_summary", "evidence"),
    "legal_basis": ("legal_basis", "penalty_article", "onsite_basis"),
    "penalty": ("revised_proposal_text", "revised_penalty", "proposed_penalty", "onsite_penalty_kind"),
    "fine": ("revised_proposal_fine", "revised_fine", "proposed_fine", "fine", "onsite_fine"),
    "recovered": ("proposed_recovery", "amount_recovered"),
    "cause": ("case_cause", "cause"),
    "article": ("penalty_article",),
    "defence": ("statement_text", "onsite_statement", "defence"),
    "execution": ("closing_summary", "enforcement_note", "reminder_note", "surcharge_note", "execution_note"),
}

# What a 送达回证 accompanies when it is issued from a task: the notice, or the decision.
SERVED_BY_TASK = {
    "serve_notice": ("行政处罚事先告知书", "听证告知书"),
    "serve_decision": ("行政处罚决定书",),
}

# 法63: a party may ask for a hearing on a large fine (DOMAIN.md's local defaults, in 元), or on a
# suspension or termination of the service agreement, whatever the amount.
HEARING_FINE = {"person": Decimal(5000), "institution": Decimal(100000)}
HEARING_WORDS = ("暂停", "解除", "吊销", "终止")

# Clocks whose due date a rights notice quotes, by the name engine/clocks.py gives them.
RIGHT_CLOCKS = {
    "statement": "陈述申辩",
    "hearing": "听证申请",
    "hearing_notice": "听证告知",
    "reconsideration": "复议期",
    "litigation": "诉讼期",
    "payment": "罚款缴纳",
    "case": "办案",
}

CHECKLIST_LABELS = {
    "chk_authority": "行政执法主体是否合法",
    "chk_qualification": "执法人员是否具备执法资格",
    "chk_procedure": "执法程序是否合法",
    "chk_facts": "案件事实是否清楚，证据是否确实充分",
    "chk_law": "适用法律依据是否准确，裁量是否适当",
    "chk_documents": "执法文书是否规范、完备",
    "chk_crime": "是否涉嫌犯罪需要移送司法机关",
}
VOTES = {"agree": "同意", "revise": "修改", "disagree": "不同意", "absent": "未出席或回避"}
DISCUSSION_DECISIONS = {"approve": "同意拟处理意见", "revise": "修改后重新提请", "reject": "不同意拟处理意见"}
ARTICLES = {
    "a38": "《医疗保障基金使用监督管理条例》第三十八条",
    "a39": "《医疗保障基金使用监督管理条例》第三十九条",
    "a40": "《医疗保障基金使用监督管理条例》第四十条",
    "a41": "《医疗保障基金使用监督管理条例》第四十一条",
}
REVIEW_OUTCOMES = {"passed": "通过", "supplement": "补充调查", "revise": "修改", "disagree": "不同意"}


def build(
    session: Session,
    case_id: int,
    *,
    kind: str,
    number: str,
    now: datetime | None = None,
    task: Task | None = None,
) -> dict[str, Any]:
    """Everything a template may print about a case, from the case row, its legal clocks and the
    form data of its completed tasks (later tasks win). Missing facts are None or empty. `task` is
    the task the document is issued from, if any."""
    case = cases.get(session, case_id)
    now = now or utcnow()
    done = list(
        session.scalars(
            select(Task)
            .where(Task.case_id == case.id, Task.state == TaskState.COMPLETED)
            .order_by(Task.completed_at, Task.id)
        )
    )
    sources = [_initial_data(session, case.id), *(t.form_data or {} for t in done)]
    merged = _merge(sources[0], sources[1:])
    names = full_names(session, {t.completed_by for t in done if t.completed_by})
    bureau = session.get(Unit, case.unit_code)
    bureau_name = bureau.name if bureau else case.unit_code

    def pick(name: str) -> Any:
        for data in reversed(sources):
            for key in ALIASES[name]:
                if data.get(key) not in (None, ""):
                    return data[key]
        return None

    article = ARTICLES.get(str(pick("article") or ""))
    fine = case.fine if case.fine is not None else _decimal(pick("fine"))
    recovered = case.amount_recovered if case.amount_recovered is not None else _decimal(pick("recovered"))

    return {
        "kind": kind,
        "number": number,
        "today": to_beijing(now).date(),
        "issued_at": to_beijing(now),
        "bureau": {"code": case.unit_code, "name": bureau_name, "government": _government_of(bureau_name)},
        "case": {
            "id": case.id,
            "number": case.number,
            "cause": case.title or pick("cause") or "",
            "opened_on": _day(case.opened_at),
            "closed_on": _day(case.closed_at),
            "status": case.status,
            "stage": case.stage,
            "outcome": case.outcome,
            "violation_types": list(case.violation_types or []),
            "amount_involved": case.amount_involved,
            "amount_recovered": case.amount_recovered,
            "fine": case.fine,
            "penalty_interest": case.penalty_interest,
            "legal_review": case.legal_review,
            "collective_discussion": case.collective_discussion,
        },
        "party": {
            "name": case.party_name,
            "type": case.party_type,
            "type_name": PARTY_TYPES.get(case.party_type, case.party_type),
            "address": pick("address"),
            "legal_representative": pick("legal_representative"),
            "credit_code": pick("credit_code"),
        },
        "clue": {
            "source": CLUE_SOURCES.get(str(merged.get("clue_source") or ""), merged.get("clue_source")),
            "summary": merged.get("clue_summary"),
            "verification": merged.get("verification"),
        },
        "filing": _filing(done, names),
        "facts": pick("facts"),
        "evidence": pick("evidence"),
        "legal_basis": _basis(pick("legal_basis"), article),
        "article": article,
        "penalty": pick("penalty"),
        "fine": fine,
        "recovered": recovered,
        "defence": pick("defence"),
        "execution": pick("execution"),
        "hearing_eligible": _hearing_eligible(
            session, case.id, case.party_type, fine, pick("penalty"), merged
        ),
        "hearing_held": bool(merged.get("hearing_held")) or any(t.bpmn_id == "hold_hearing" for t in done),
        "officers": _officers(session, merged, done, names),
        "review": _review([t for t in done if t.process_key == "legal_review"], names),
        "discussion": _discussion(
            session, [t for t in done if t.process_key == "collective_discussion"], names
        ),
        "referral": {
            "police_unit": merged.get("police_unit"),
            "suspected_offence": merged.get("suspected_offence"),
            "report": merged.get("investigation_report"),
            "item_list": merged.get("items_list"),
        },
        "issued": _issued(session, case.id),
        "served": _served(session, case.id, SERVED_BY_TASK.get(task.bpmn_id, ()) if task else ()),
        "rights": _rights(session, case.id),
        "form": merged,
    }


def _day(instant: datetime | None) -> date | None:
    return to_beijing(instant).date() if instant else None


def _filing(done: list[Task], names: Mapping[str, str]) -> dict[str, Any]:
    """The 立案审批 (decide_filing) task's decision, opinion, approver and date."""
    task = next((t for t in reversed(done) if t.bpmn_id == "decide_filing"), None)
    data = (task.form_data or {}) if task else {}
    return {
        "decision": {"file": "立案", "no_file": "不予立案"}.get(str(data.get("decision") or "")),
        "opinion": data.get("decision_opinion"),
        "approver": names.get(task.completed_by or "") if task else None,
        "approved_on": _day(task.completed_at) if task else None,
    }


def _review(done: list[Task], names: Mapping[str, str]) -> dict[str, Any]:
    """法制审核: the merged form data of the legal_review process's tasks."""
    data: dict[str, Any] = {}
    for t in done:
        data.update(t.form_data or {})
    last = done[-1] if done else None
    return {
        "outcome": REVIEW_OUTCOMES.get(str(data.get("outcome") or ""), data.get("outcome")),
        "opinion": data.get("review_opinion"),
        "counsel_opinion": data.get("counsel_opinion"),
        "reviewer": names.get(last.completed_by or "") if last else None,
        "reviewed_on": _day(last.completed_at) if last else None,
        "checklist": [
            {"label": label, "ok": data.get(key), "note": data.get(f"{key}_note") or ""}
            for key, label in CHECKLIST_LABELS.items()
        ],
    }


def _discussion(session: Session, done: list[Task], names: Mapping[str, str]) -> dict[str, Any]:
    """集体讨论 (the collective_discussion process): meeting, members, each opinion, the decision."""
    convened = next((t for t in reversed(done) if t.bpmn_id == "convene_discussion"), None)
    meeting = (convened.form_data or {}) if convened else {}
    opinions = [t for t in done if t.bpmn_id == "record_opinion" or (t.form_data or {}).get("vote_opinion")]
    concluded = next((t for t in reversed(done) if t.bpmn_id == "conclude_discussion"), None)
    conclusion = (concluded.form_data or {}) if concluded else {}
    members = split_list(str(meeting.get("members") or "").replace("、", ","))
    member_names = full_names(session, set(members))
    decision = DISCUSSION_DECISIONS.get(str(conclusion.get("decision") or ""), "")
    notes = str(conclusion.get("discussion_notes") or "")
    return {
        "held_on": _date_value(meeting.get("meeting_date"))
        or (_day(done[-1].completed_at) if done else None),
        "place": meeting.get("meeting_place"),
        "host": names.get(convened.completed_by or "") if convened else None,
        "members": [member_names.get(m, m) for m in members]
        or list(dict.fromkeys(names.get(t.completed_by or "", t.completed_by or "") for t in opinions)),
        "opinions": [
            {
                "name": names.get(t.completed_by or "", t.completed_by or ""),
                "vote": VOTES.get(str((t.form_data or {}).get("outcome") or ""), ""),
                "opinion": _opinion_text(t.form_data or {}),
            }
            for t in opinions
        ],
        "conclusion": "。".join(x for x in (decision, notes) if x) or None,
    }


def _basis(entered: Any, article: str | None) -> Any:
    """The officer's legal basis, unless it only names the 条例 whose article the form chose."""
    if article and (not entered or str(entered) in article):
        return article
    return entered


def _date_value(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _initial_data(session: Session, case_id: int) -> dict[str, Any]:
    """The start forms of the case's instances (not tasks, so no Task.form_data): their audit events
    carry the submitted variables."""
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.case_id == case_id, AuditEvent.action == "instance.start")
        .order_by(AuditEvent.seq)
    )
    data: dict[str, Any] = {}
    for event in events:
        variables = (event.detail or {}).get("variables")
        if isinstance(variables, dict):
            data.update(variables)
    return data


def _merge(first: Mapping[str, Any], later: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    merged = dict(first)
    for data in later:
        merged.update({k: v for k, v in data.items() if v not in (None, "")})
    return merged


def full_names(session: Session, usernames: set[str]) -> dict[str, str]:
    """Username → full name (the username itself when there is no such user)."""
    if not usernames:
        return {}
    rows = session.execute(select(User.username, User.full_name).where(User.username.in_(usernames)))
    found = {u: n for u, n in rows.all()}
    return {u: found.get(u, u) for u in usernames}


def _officers(
    session: Session, merged: Mapping[str, Any], done: list[Task], names: Mapping[str, str]
) -> list[str]:
    listed = split_list(str(merged.get("investigators") or "").replace("、", ","))
    if listed:
        return list(full_names(session, set(listed)).get(u, u) for u in listed)
    seen: list[str] = []
    for t in done:
        if t.role == "officer" and t.completed_by and names.get(t.completed_by) not in seen:
            seen.append(names.get(t.completed_by, t.completed_by))
    return seen


def _rights(session: Session, case_id: int) -> dict[str, Any]:
    """The days each right allows (from the clock rules a process owner edits) and, where the case's
    clock has started, the date it runs out."""
    rules = {r.name: r.amount for r in session.scalars(select(ClockRule))}
    clocks = {
        c.name: c
        for c in session.scalars(
            select(LegalClock).where(LegalClock.case_id == case_id).order_by(LegalClock.started_at)
        )
    }
    # `<key>_limit` is in the clock's own unit: working days, days, or months for 诉讼期.
    out: dict[str, Any] = {}
    defaults = {"statement": 5, "hearing": 5, "hearing_notice": 5, "reconsideration": 60, "litigation": 6,
                "payment": 15, "case": 90}  # fmt: skip
    for key, name in RIGHT_CLOCKS.items():
        clock = clocks.get(name)
        out[f"{key}_limit"] = clock.amount if clock else rules.get(name, defaults[key])
        due = clock.due_at if clock and clock.due_at else None
        out[f"{key}_due"] = to_beijing(due).date() if due else None
        out[f"{key}_unverified"] = bool(clock and clock.due_unverified)
    return out


def _issued(session: Session, case_id: int) -> dict[str, str | None]:
    """The latest 文号 of each kind already issued for the case (e.g. the 决定书 a 结案报告 cites)."""
    rows = session.execute(
        select(Document.kind, Document.number).where(Document.case_id == case_id).order_by(Document.id)
    )
    return {kind: number for kind, number in rows.all()}


def _served(session: Session, case_id: int, preferred: tuple[str, ...]) -> dict[str, Any]:
    """The document a 送达回证 accompanies: what the serving task serves, else the latest decision,
    else the latest notice."""
    issued = _issued(session, case_id)
    for kind in (*preferred, "行政处罚决定书", "听证告知书", "行政处罚事先告知书"):
        if issued.get(kind):
            return {"kind": kind, "number": issued[kind]}
    return {"kind": None, "number": None}


def _hearing_eligible(
    session: Session,
    case_id: int,
    party_type: str,
    fine: Decimal | None,
    penalty: Any,
    data: Mapping[str, Any],
) -> bool:
    """Has the party the right to a hearing? The process decides it (DMN hearing_rights) and starts
    the 听证申请 clock once the notice is served; before that, the DMN's defaults give the answer
    (large fine, suspension of service or settlement, termination of the agreement)."""
    started = session.scalar(
        select(LegalClock.id).where(LegalClock.case_id == case_id, LegalClock.name == "听证申请").limit(1)
    )
    if started is not None:
        return True
    if fine is not None and party_type in HEARING_FINE and fine >= HEARING_FINE[party_type]:
        return True
    if data.get("terminate_agreement") is True or (_decimal(data.get("proposed_suspension_months")) or 0) > 0:
        return True
    return any(word in str(penalty or "") for word in HEARING_WORDS)


def _opinion_text(data: Mapping[str, Any]) -> str:
    for key in ("vote_opinion", "opinion", "discussion_opinion", "review_opinion"):
        if data.get(key) not in (None, ""):
            return str(data[key])
    return ""


def _government_of(bureau_name: str) -> str:
    """渝北区医疗保障局 → 渝北区人民政府: the 行政复议 body of a district bureau (复议法 2023 Art. 24)."""
    if bureau_name.endswith("医疗保障局"):
        return bureau_name.removesuffix("医疗保障局") + "人民政府"
    return "本级人民政府"


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value).replace(",", "").replace("，", ""))
        if not amount.is_finite() or not 0 <= amount < MONEY_LIMIT:
            return None
        return amount.quantize(Decimal("0.01"))
    except InvalidOperation:
        return None
