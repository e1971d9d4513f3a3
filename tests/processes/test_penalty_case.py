"""行政处罚 (penalty_case) end to end: 线索登记 → 核查 → 立案 (or 简易程序) → 调查取证 → 审查 →
裁量范围 → 告知, 陈述申辩, 听证 → 法制审核 / 集体讨论 (called) → 决定 → 送达, 公示 → 执行 → 结案, with
the 办案 clock's 督办, extension, suspension and 撤案 as event subprocesses.

Calendar facts used below (State Council notices): 2024 National Day 10-01..10-07 with 调休 working
days Sunday 09-29 and Saturday 10-12; New Year 2025-01-01; Spring Festival 2025-01-28..02-04 with
调休 working days Sunday 01-26 and Saturday 02-08."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from engine import audit, calendar, instances, supervision, tasks, timers
from engine.clock import BEIJING, clock
from engine.db import unit_of_work
from engine.errors import FormValidationError, NotPermittedError
from engine.models import Case, InstanceStatus, LegalClock, ProcessInstance, Task
from engine.users import SYSTEM, actor_for
from engine.workflow import runtime
from tests.engine.helpers import complete, only_task, open_tasks, start
from tests.processes.driver import Driver, beijing

# Monday 2024-09-23 10:00 Beijing: 15 working days across the 2024 National Day holiday.
START = datetime(2024, 9, 23, 10, 0, tzinfo=BEIJING)
# 办案: 90 calendar days from 立案 on 9-23 → 2024-12-22, a Sunday → the next working day 12-23.
CASE_DUE = datetime(2024, 12, 23, 23, 59, 59, tzinfo=BEIJING)

# Engine defects this file depends on (reported with reproductions). Strict: once the engine is
# fixed these tests pass, fail as XPASS, and the marker is to be removed.
CLUE: dict[str, Any] = {
    "clue_source": "report",
    "party_name": "某某大药房",
    "party_type": "institution",
    "clue_summary": "举报该药房串换药品",
    "amount_involved": "12000.50",
}
PERSON: dict[str, Any] = {
    "clue_source": "smart",
    "party_name": "刘某",
    "party_type": "person",
    "clue_summary": "参保人冒名就医",
    "amount_involved": "4000",
}
LEGAL_CHECKS_OK: dict[str, Any] = {
    "chk_authority": True,
    "chk_qualification": True,
    "chk_procedure": True,
    "chk_facts": True,
    "chk_law": True,
    "chk_documents": True,
    "chk_crime": False,
}
MEMBERS = ["director", "deputy", "member1", "member2", "member3"]
VOTE_FOR = {"approve": "agree", "revise": "revise", "reject": "disagree"}


def end_of(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 23, 59, 59, tzinfo=BEIJING)


@pytest.fixture(autouse=True)
def _frozen() -> None:
    clock.set(START)


# --- steps of the procedure, as the officers do them ------------------------------------------
def filed(seeded, clue: dict[str, Any] = CLUE) -> Driver:
    """A clue verified and filed (立案) now: the investigation task is open."""
    d = Driver.start(seeded, "penalty_case", "officer1", **clue)
    d.complete("verify_clue", "officer1", verification="已现场核查", suggestion="file")
    d.complete("decide_filing", "chief", decision="file", case_cause="串换药品", decision_opinion="同意立案")
    return d


def investigate(d: Driver, suggestion: str = "penalise", amount: str = "50000") -> None:
    d.complete(
        "investigate",
        "officer1",
        investigators="officer1,officer2",
        evidence_list="处方、结算清单、进销存记录",
        investigation_step="report",
    )
    d.complete(
        "investigation_report",
        "officer1",
        facts="2023年串换药品结算，造成医保基金损失",
        vt_item_swap=True,
        vt_overcharge=True,
        amount_confirmed=amount,
        report_suggestion=suggestion,
    )


def review(d: Driver, outcome: str = "penalise", complex_: bool = False) -> None:
    d.complete("review_case", "chief", review_outcome=outcome, complex=complex_, review_opinion="审查意见")


def propose(
    d: Driver,
    fine: str,
    recovery: str = "50000",
    article: str = "a40",
    band: str = "normal",
    months: int = 0,
    terminate: bool = False,
) -> None:
    d.complete(
        "propose_penalty",
        "officer1",
        penalty_article=article,
        penalty_band=band,
        proposed_recovery=recovery,
        proposed_fine=fine,
        proposed_suspension_months=months,
        terminate_agreement=terminate,
        proposed_penalty=f"责令退回{recovery}元，罚款{fine}元",
        legal_basis="《医疗保障基金使用监督管理条例》",
    )


def notify(d: Driver) -> None:
    d.complete("serve_notice", "officer1", notice_service_method="direct")


def respond(d: Driver, response: str = "waived", hearing: bool = False) -> None:
    d.complete("record_party_response", "officer1", party_response=response, hearing_requested=hearing)


def consider(d: Driver, fine: str, adopted: str = "none") -> None:
    d.complete(
        "consider_arguments",
        "officer1",
        arguments_adopted=adopted,
        revised_fine=fine,
        consideration_note="复核",
    )


def to_decision(d: Driver, fine: str = "150000", recovery: str = "50000") -> None:
    """From the investigation to the 负责人's decision, the party waiving its rights."""
    investigate(d)
    review(d)
    propose(d, fine, recovery)
    notify(d)
    respond(d, "waived")
    consider(d, fine)


def legal_review(d: Driver, outcome: str) -> None:
    """The called 法制审核: submitted, received without counsel, concluded."""
    d.complete(
        "submit_review",
        "officer1",
        investigators="officer1,officer2",
        review_grounds="local_threshold",
        evidence_summary="现场检查笔录、询问笔录、结算明细",
        legal_basis="《医疗保障基金使用监督管理条例》",
    )
    d.complete("receive_review", "legal", reviewer="legal", counsel_needed=False)
    d.complete(
        "review_legal", "legal", outcome=outcome, review_opinion=f"审核意见：{outcome}", **LEGAL_CHECKS_OK
    )


def discuss(d: Driver, conclusion: str) -> None:
    """The called 集体讨论: convened by the 局长, five opinions, the chair's conclusion."""
    d.complete(
        "convene_discussion",
        "director",
        meeting_date="2024-10-31",
        meeting_place="局三楼会议室",
        members=",".join(MEMBERS),
    )
    for task in d.tasks_named("record_opinion"):
        with unit_of_work(d.sf) as s:
            data = {"outcome": VOTE_FOR[conclusion], "vote_opinion": "意见"}
            tasks.complete(s, task.id, actor=actor_for(s, task.assignee or ""), data=data)
    d.complete("conclude_discussion", "director", decision=conclusion, discussion_notes="经讨论")


def seen(d: Driver, bpmn_id: str) -> dict[str, Any]:
    """The data the open task `bpmn_id` sees (its own copy: inside a subprocess too)."""
    task = d.task(bpmn_id)
    with d.sf() as s:
        loaded = instances.load(s, s.get(ProcessInstance, d.id), SYSTEM)
        found = runtime.find_task(loaded.workflow, task.spiff_task_id)
        assert found is not None
        return dict(found.data)


def decide(d: Driver) -> None:
    d.complete("decide_penalty", "director", decision_opinion="同意", to_publish=True)


def close(d: Driver) -> None:
    d.complete("close_case_report", "officer1", closing_summary="已执行完毕", archive_no="2024-罚-001")
    d.complete("approve_closing", "chief", closing_opinion="同意结案")


def decided_and_served(seeded, fine: str = "40000", recovery: str = "12000") -> Driver:
    """A penalty of `fine` decided, served on 2024-10-21 10:00 and published: payment is awaited."""
    d = filed(seeded)
    to_decision(d, fine, recovery)
    decide(d)
    clock.set(beijing(2024, 10, 21, 10))
    d.complete("serve_decision", "officer1", service_method="direct")
    d.complete("publish_decision", "officer1", publish_channel="信用中国（重庆）")
    return d


# --- 核查 → 立案 (the first slice) ------------------------------------------------------------
def test_first_task_is_due_when_the_verify_clock_expires(seeded) -> None:
    instance_id = start(seeded)
    task = only_task(seeded, instance_id, "verify_clue")
    # Start day 9-23 is not counted. Working days: 9-24..9-27 (4), 9-29 Sunday 调休 (5), 9-30 (6),
    # 10-1..10-7 holiday, 10-8..10-11 (10), 10-12 Saturday 调休 (11), 10-14..10-17 (15).
    assert task.due_at == end_of(date(2024, 10, 17))
    assert task.role == "officer" and task.candidate_groups == ["officer"]
    assert task.due_unverified is False
    with seeded() as s:
        row = s.scalars(select(LegalClock).where(LegalClock.instance_id == instance_id)).one()
        assert row.name == "核查立案" and row.due_at == task.due_at


def test_filing_path_opens_the_case_clock(seeded) -> None:
    instance_id = start(seeded)
    verify = only_task(seeded, instance_id, "verify_clue")
    complete(seeded, verify.id, "officer1", verification="已现场核查", suggestion="file")
    decide_task = only_task(seeded, instance_id, "decide_filing")
    assert decide_task.role == "section_chief" and decide_task.due_at == verify.due_at
    complete(
        seeded, decide_task.id, "chief", decision="file", case_cause="串换药品", decision_opinion="同意立案"
    )
    investigation = only_task(seeded, instance_id, "investigate")
    assert (investigation.role, investigation.stage, investigation.due_at) == (
        "officer",
        "调查取证",
        CASE_DUE,
    )
    with seeded() as s:
        instance = s.get(ProcessInstance, instance_id)
        # The investigation stage waits with the 办案 督办 timer.
        assert instance.status == InstanceStatus.RUNNING and instance.next_timer_at == CASE_DUE
        clocks = {
            c.name: c for c in s.scalars(select(LegalClock).where(LegalClock.instance_id == instance_id))
        }
        assert clocks["核查立案"].status == "stopped"
        assert clocks["办案"].due_at == CASE_DUE
        assert s.get(Case, instance.case_id).title == "串换药品"  # 案由 entered at 立案审批
        assert audit.verify(s).ok


def test_not_filed_path(seeded) -> None:
    instance_id = start(seeded)
    complete(
        seeded,
        only_task(seeded, instance_id, "verify_clue").id,
        "officer2",
        verification="无违法事实",
        suggestion="no_file",
    )
    decide_task = only_task(seeded, instance_id, "decide_filing")
    complete(seeded, decide_task.id, "chief", decision="no_file", decision_opinion="不予立案")
    assert open_tasks(seeded, instance_id) == []
    d = Driver(seeded, instance_id)
    assert d.finished
    assert (d.case().status, d.case().outcome) == ("not_filed", "不予立案")


def test_time_barred_clue_can_only_be_not_filed(seeded) -> None:
    """追责时效 (法36): two years from the end of the violation. Ended 2022-09-01 → 24 months →
    2024-09-01, a Sunday → Monday 2024-09-02; today (2024-09-23) is past it. Neither 立案 nor the
    简易程序 is possible: the chief's 立案 ends as 不予立案 with the reason."""
    d = Driver.start(seeded, "penalty_case", "officer1", **CLUE)
    d.complete(
        "verify_clue", "officer1", verification="已核查", suggestion="simple", violation_ended_on="2022-09-01"
    )
    assert d.open_ids() == ["decide_filing"]  # not the on-the-spot decision
    assert d.data()["limitation_notice"] == (
        "已超过追责时效（2024-09-02 届满），依法不再给予行政处罚，只能不予立案"
    )
    d.complete("decide_filing", "chief", decision="file", decision_opinion="同意立案")
    assert d.finished
    assert (d.case().status, d.case().outcome) == ("not_filed", "不予立案（超过追责时效）")


def test_harm_to_health_extends_the_limitation_to_five_years(seeded) -> None:
    # 2022-09-01 + 60 months → 2027-09-01, a Wednesday.
    d = Driver.start(seeded, "penalty_case", "officer1", **CLUE)
    d.complete(
        "verify_clue",
        "officer1",
        verification="已核查",
        suggestion="file",
        violation_ended_on="2022-09-01",
        health_harmed=True,
    )
    assert d.data()["limitation_notice"] == "追责时效至 2027-09-01"
    d.complete("decide_filing", "chief", decision="file", case_cause="串换药品", decision_opinion="同意立案")
    assert d.open_ids() == ["investigate"]


def test_extension_moves_the_deadline_by_fifteen_working_days(seeded) -> None:
    instance_id = start(seeded)
    first = only_task(seeded, instance_id, "verify_clue")
    complete(
        seeded,
        first.id,
        "officer1",
        verification="需调取票据",
        suggestion="extend",
        extension_reason="待调取票据",
    )
    approval = only_task(seeded, instance_id, "approve_extension")
    complete(seeded, approval.id, "chief", extension_approved=True, extension_opinion="同意延长")
    second = only_task(seeded, instance_id, "verify_clue")
    extended = calendar.add_workdays(calendar.WorkCalendar(), date(2024, 10, 17), 15)  # 10-18 … no holiday
    assert second.due_at == end_of(extended.day) == end_of(date(2024, 11, 7))
    # A second request for extension is not offered again: it goes to the filing decision.
    complete(seeded, second.id, "officer1", verification="仍需时间", suggestion="extend")
    assert [t.bpmn_id for t in open_tasks(seeded, instance_id)] == ["decide_filing"]


def test_expired_clock_raises_an_overdue_task_without_cancelling_the_work(seeded) -> None:
    instance_id = start(seeded)
    assert timers.fire_due(seeded) == []
    clock.set(datetime(2024, 10, 17, 23, 59, 0, tzinfo=BEIJING))
    assert timers.fire_due(seeded) == []
    clock.set(datetime(2024, 10, 18, 0, 0, 1, tzinfo=BEIJING))
    assert timers.fire_due(seeded) == [instance_id]
    assert sorted(t.bpmn_id for t in open_tasks(seeded, instance_id)) == ["verify_clue", "verify_overdue"]
    assert timers.fire_due(seeded) == []  # fired once
    overdue = only_task(seeded, instance_id, "verify_overdue")
    assert overdue.role == "section_chief"
    complete(seeded, overdue.id, "chief", overdue_instruction="请于3日内报请立案审批")
    assert [t.bpmn_id for t in open_tasks(seeded, instance_id)] == ["verify_clue"]


def test_form_errors_change_nothing(seeded) -> None:
    instance_id = start(seeded)
    task = only_task(seeded, instance_id, "verify_clue")
    with seeded() as s:
        before = s.get(ProcessInstance, instance_id).lock_version
    with pytest.raises(FormValidationError) as err:
        complete(seeded, task.id, "officer1", verification="", suggestion="maybe")
    assert set(err.value.errors) == {"verification", "suggestion"}
    assert "请填写" in err.value.errors["verification"]
    with seeded() as s:
        assert s.get(ProcessInstance, instance_id).lock_version == before
    assert only_task(seeded, instance_id, "verify_clue").id == task.id


def test_only_candidates_may_complete(seeded) -> None:
    instance_id = start(seeded)
    task = only_task(seeded, instance_id, "verify_clue")
    with pytest.raises(NotPermittedError):
        complete(seeded, task.id, "chief", verification="x", suggestion="file")
    with pytest.raises(NotPermittedError):  # an officer of another bureau
        complete(seeded, task.id, "other", verification="x", suggestion="file")


def test_start_form_is_validated(seeded) -> None:
    with pytest.raises(FormValidationError) as err:
        start(
            seeded,
            clue_source="nope",
            party_name="",
            party_type="institution",
            clue_summary="x",
            amount_involved="-5",
        )
    assert set(err.value.errors) == {"clue_source", "party_name", "amount_involved"}
    with seeded() as s:
        assert s.scalars(select(ProcessInstance)).all() == []


def test_deadline_in_2027_is_flagged_unverified(seeded) -> None:
    clock.set(datetime(2026, 12, 20, 9, 0, tzinfo=BEIJING))
    instance_id = start(seeded)
    task = only_task(seeded, instance_id, "verify_clue")
    assert task.due_unverified is True
    assert task.due_at.astimezone(UTC) > datetime(2027, 1, 1, tzinfo=UTC)
    # 12-21..12-25 (5), 12-28..12-31 (9), 2027-01-01 counts: 2027 has no data, weekends only (10),
    # 01-04..01-08 (15).
    assert task.due_at == end_of(date(2027, 1, 8))


def test_case_record_follows_the_steps(seeded) -> None:
    from engine.models import Case

    instance_id = start(seeded)
    with seeded() as s:
        case = s.get(Case, s.get(ProcessInstance, instance_id).case_id)
        assert (case.party_name, case.status, case.stage, str(case.amount_involved)) == (
            "某某大药房",
            "clue",
            "线索核查",
            "12000.50",
        )
        assert case.number is None
    assert only_task(seeded, instance_id, "verify_clue").case_id == case.id
    complete(
        seeded,
        only_task(seeded, instance_id, "verify_clue").id,
        "officer1",
        verification="核",
        suggestion="file",
    )
    decide_task = only_task(seeded, instance_id, "decide_filing")
    complete(seeded, decide_task.id, "chief", decision="file", case_cause="串换药品", decision_opinion="同意")
    second = start(seeded)
    complete(
        seeded, only_task(seeded, second, "verify_clue").id, "officer1", verification="核", suggestion="file"
    )
    complete(
        seeded,
        only_task(seeded, second, "decide_filing").id,
        "chief",
        decision="file",
        decision_opinion="同意",
    )
    with seeded() as s:
        numbers = [c.number for c in s.scalars(select(Case).order_by(Case.id))]
        assert numbers == ["渝北医保立〔2024〕1号", "渝北医保立〔2024〕2号"]
        assert s.get(Case, case.id).status == "open"
        assert s.get(Case, case.id).stage == "调查取证"


# --- 简易程序 -------------------------------------------------------------------------------------
def onsite(d: Driver, kind: str, fine: str) -> None:
    d.complete("verify_clue", "officer1", verification="现场检查发现", suggestion="simple")
    d.complete(
        "onsite_decision",
        "officer1",
        onsite_officers="officer1,officer2",
        onsite_facts="未按规定核验参保人身份",
        onsite_basis="《医疗保障基金使用监督管理条例》",
        onsite_penalty_kind=kind,
        onsite_fine=fine,
        onsite_statement="当事人无异议",
        onsite_delivered=True,
    )


def test_simple_procedure_decides_on_the_spot_then_files_and_collects(seeded) -> None:
    d = Driver.start(seeded, "penalty_case", "officer1", **PERSON)
    onsite(d, "fine", "200")  # ≤ 200 元 for an individual (决策表 simple_procedure)
    filing = d.task("file_onsite_decision")
    assert (filing.role, filing.stage) == ("section_chief", "决定")
    case = d.case()
    assert (case.number, case.status, case.outcome, case.fine) == (
        "渝北医保简〔2024〕1号",
        "open",
        "简易程序当场处罚",
        Decimal("200.00"),
    )
    assert d.clock("核查立案").status == "stopped"
    assert d.data()["decision_number"] == "渝北医保罚〔2024〕1号"
    d.complete("file_onsite_decision", "chief", filing_opinion="已备案")
    # 罚款缴纳: 15 days from 9-23 → 10-08, the first working day after National Day.
    payment = d.task("await_payment")
    assert (payment.role, payment.stage, payment.due_at) == ("officer", "执行", end_of(date(2024, 10, 8)))
    d.complete("await_payment", "officer1", payment_status="paid", paid_on="2024-09-23")
    close(d)
    assert d.finished
    case = d.case()
    assert (case.status, case.stage, case.penalty_interest) == ("closed", "结案", Decimal("0.00"))


def test_simple_procedure_refused_above_the_limit_goes_to_filing(seeded) -> None:
    d = Driver.start(seeded, "penalty_case", "officer1", **CLUE)
    onsite(d, "fine", "3000.01")  # above 3 000 元 for an organisation
    assert d.open_ids() == ["decide_filing"]
    assert d.data()["simple_reason"] == "超出简易程序适用范围，应当适用普通程序"
    assert d.case().number is None


# --- 调查取证 ------------------------------------------------------------------------------------
def test_preservation_refused_then_approved_and_disposed_in_time(seeded) -> None:
    d = filed(seeded)
    step = {"investigators": "officer1,officer2", "evidence_list": "处方", "preservation_items": "处方笺30张"}
    d.complete("investigate", "officer1", investigation_step="preserve", **step)
    approval = d.task("approve_preservation")
    assert approval.role == "deputy_director"
    d.complete("approve_preservation", "deputy", preservation_approved=False, preservation_opinion="无必要")
    assert d.open_ids() == ["investigate"]
    d.complete("investigate", "officer1", investigation_step="preserve", **step)
    clock.set(beijing(2024, 9, 24, 10))
    d.complete("approve_preservation", "deputy", preservation_approved=True, preservation_opinion="同意")
    # 7 working days from 9-24: 9-25..9-27 (3), Sunday 9-29 调休 (4), 9-30 (5), 10-8 (6), 10-9 (7).
    disposal = d.task("dispose_preservation")
    assert (disposal.role, disposal.due_at) == ("officer", end_of(date(2024, 10, 9)))
    assert d.clock("先行登记保存").due_at == end_of(date(2024, 10, 9))
    assert seen(d, "dispose_preservation")["preservation_number"] == "渝北医保保〔2024〕1号"
    clock.set(beijing(2024, 10, 8, 10))
    d.complete(
        "dispose_preservation", "officer1", preservation_disposal="copy_release", disposal_note="复制后解除"
    )
    assert d.clock("先行登记保存").status == "stopped"
    assert d.open_ids() == ["investigate"]
    assert d.advance(to=beijing(2024, 10, 10, 9)) == []  # no 督办 once disposed


def test_preservation_overdue_raises_supervision(seeded) -> None:
    d = filed(seeded)
    d.complete(
        "investigate",
        "officer1",
        investigators="officer1,officer2",
        evidence_list="处方",
        investigation_step="preserve",
        preservation_items="处方笺",
    )
    d.complete("approve_preservation", "deputy", preservation_approved=True, preservation_opinion="同意")
    # From 9-23: 9-24..9-27 (4), 9-29 (5), 9-30 (6), 10-8 (7).
    assert d.task("dispose_preservation").due_at == end_of(date(2024, 10, 8))
    assert d.advance(to=beijing(2024, 10, 8, 23, 59)) == []
    assert d.advance(to=datetime(2024, 10, 9, 0, 0, 1, tzinfo=BEIJING)) == [d.id]
    assert d.open_ids() == ["dispose_preservation", "preservation_overdue"]
    assert d.task("preservation_overdue").role == "section_chief"
    d.complete("preservation_overdue", "chief", preservation_instruction="立即作出处理决定")
    d.complete("dispose_preservation", "officer1", preservation_disposal="release", disposal_note="解除")
    assert d.open_ids() == ["investigate"]


def test_recusal_is_decided_by_the_head(seeded) -> None:
    d = filed(seeded)
    d.complete(
        "investigate",
        "officer1",
        investigators="officer1,officer2",
        evidence_list="处方",
        investigation_step="recusal",
        recusal_request="当事人称执法人员officer2与其有利害关系",
    )
    assert d.task("decide_recusal").role == "deputy_director"
    d.complete(
        "decide_recusal",
        "deputy",
        recusal_decision="withdraw",
        replacement_officer="officer3",
        recusal_opinion="决定回避",
    )
    assert d.open_ids() == ["investigate"]
    investigate(d)
    assert d.open_ids() == ["review_case"]
    case = d.case()
    assert case.violation_types == ["超标准收费", "串换项目"]
    assert case.amount_involved == Decimal("50000.00")


# --- 审查 outcomes -------------------------------------------------------------------------------
def test_suspected_crime_is_referred_to_the_police(seeded) -> None:
    d = filed(seeded)
    investigate(d, "crime")
    review(d, "crime")
    assert d.finished
    case = d.case()
    assert (case.status, case.outcome) == ("referred", "涉嫌犯罪移送")
    assert d.clock("办案").status == "stopped"


@pytest.mark.parametrize(
    ("outcome", "text"),
    [("minor", "违法行为轻微，不予行政处罚"), ("not_established", "违法事实不能成立")],
)
def test_no_penalty_decision(seeded, outcome: str, text: str) -> None:
    d = filed(seeded)
    investigate(d, outcome)
    review(d, outcome)
    decision = d.task("decide_penalty")
    assert (decision.role, decision.stage, decision.due_at) == ("director", "决定", CASE_DUE)
    decide(d)
    assert d.data()["decision_number"] == "渝北医保不罚〔2024〕1号"
    assert d.clock("办案").status == "stopped"
    d.complete("serve_decision", "officer1", service_method="mail")
    # Not published and nothing to execute: straight to 结案.
    assert d.open_ids() == ["close_case_report"]
    close(d)
    case = d.case()
    assert (case.status, case.outcome, case.fine, case.published) == ("closed", text, Decimal("0.00"), False)


# --- 裁量范围, 告知, 陈述申辩 -----------------------------------------------------------------------
def test_fine_outside_the_range_must_be_revised(seeded) -> None:
    d = filed(seeded)
    investigate(d)
    review(d)
    propose(d, "100000", "50000")  # 条例40 一般档: 3–4 × 50 000
    assert d.open_ids() == ["propose_penalty"]
    assert d.data()["range_message"] == (
        "条例第四十条（一般）：骗取金额3.0至4.0倍：罚款应在 150000.00 元至 200000.00 元之间；"
        "暂停期限 6至12 个月（不暂停填0）"
    )
    propose(d, "100000", "50000", article="a41")  # 条例41 is for individuals
    assert d.data()["range_message"] == "所选条款不适用于该类当事人，请重新选择适用条款"
    propose(d, "150000", "50000", months=3)  # suspension under 6 months is not allowed by 条例40
    assert d.open_ids() == ["propose_penalty"]
    propose(d, "150000", "50000")
    assert d.open_ids() == ["serve_notice"]
    data = d.data()
    assert (data["hearing_rights"], data["hearing_reason"]) == (
        True,
        "对单位处10万元以上罚款，当事人有权要求听证",
    )


def test_no_hearing_rights_waits_for_the_statement_window(seeded) -> None:
    d = filed(seeded)
    investigate(d)
    review(d)
    propose(d, "40000", "12000")  # 3.33 × 12 000: under 10 万, no hearing rights
    assert d.data()["hearing_rights"] is False
    notify(d)
    assert d.data()["notice_number"] == "渝北医保告〔2024〕1号"
    # 陈述申辩: 5 working days from 9-23: 9-24..9-27 (4), Sunday 9-29 调休 (5).
    response = d.task("record_party_response")
    assert (response.stage, response.due_at) == ("告知", end_of(date(2024, 9, 29)))
    respond(d, "none")
    assert d.open_ids() == [] and d.instance().next_timer_at == end_of(date(2024, 9, 29))
    assert d.advance(to=beijing(2024, 9, 29, 23, 0)) == []
    d.advance(to=beijing(2024, 9, 30, 9))
    assert d.open_ids() == ["consider_arguments"]
    consider(d, "40000")
    data = d.data()
    assert (data["legal_review_required"], data["collective_discussion_required"]) == (False, False)
    assert d.open_ids() == ["decide_penalty"]


def test_statement_accepted_lowers_the_fine(seeded) -> None:
    d = filed(seeded)
    investigate(d)
    review(d)
    propose(d, "48000", "12000")
    notify(d)
    d.complete(
        "record_party_response",
        "officer1",
        party_response="statement",
        statement_text="已主动退回部分款项，请求从轻",
    )
    consider(d, "36000", "adopted")
    decide(d)
    assert d.case().fine == Decimal("36000.00")


def test_raising_the_fine_after_the_statement_is_refused(seeded) -> None:
    d = filed(seeded)
    investigate(d)
    review(d)
    propose(d, "40000", "12000")
    notify(d)
    respond(d, "statement")
    consider(d, "45000", "rejected")
    assert d.open_ids() == ["consider_arguments"]
    assert d.data()["revision_error"] == (
        "不得因当事人陈述、申辩或者要求听证而给予更重的处罚（行政处罚法第四十五条）："
        "复核后罚款不得高于告知的 40000.00 元"
    )
    consider(d, "40000", "rejected")
    assert d.open_ids() == ["decide_penalty"]
    assert d.data()["fine"] == Decimal("40000.00")


# --- 听证 ----------------------------------------------------------------------------------------
def to_hearing(d: Driver) -> None:
    investigate(d)
    review(d)
    propose(d, "150000", "50000")
    clock.set(beijing(2024, 10, 8, 10))
    notify(d)
    # Both windows: 5 working days from 10-8: 10-9..10-11 (3), Saturday 10-12 调休 (4), 10-14 (5).
    assert d.task("record_party_response").due_at == end_of(date(2024, 10, 14))
    assert d.clock("听证申请").due_at == end_of(date(2024, 10, 14))
    clock.set(beijing(2024, 10, 10, 10))
    respond(d, "statement", hearing=True)
    schedule = d.task("schedule_hearing")
    assert (schedule.role, schedule.stage) == ("section_chief", "听证")
    # An investigator may not preside, and the notice must come 7 working days before the hearing:
    # from 10-10: 10-11 (1), Saturday 10-12 调休 (2), 10-14..10-18 (7) → not before 10-18.
    d.complete(
        "schedule_hearing",
        "chief",
        hearing_host="officer2",
        hearing_date="2024-10-17",
        hearing_place="听证室",
    )
    assert d.open_ids() == ["schedule_hearing"]
    assert d.data()["hearing_schedule_error"] == (
        "听证主持人不得由本案调查人员担任；应在举行听证的7个工作日前通知当事人，听证日期不得早于 2024-10-18"
    )
    d.complete(
        "schedule_hearing", "chief", hearing_host="hearing", hearing_date="2024-10-18", hearing_place="听证室"
    )
    hearing = d.task("hold_hearing")
    assert (hearing.role, hearing.assignee, hearing.due_at) == (
        "hearing_officer",
        "hearing",
        end_of(date(2024, 10, 18)),
    )
    assert d.data()["hearing_notice_number"] == "渝北医保听〔2024〕1号"
    clock.set(beijing(2024, 10, 18, 9))


def test_hearing_requested_and_held(seeded) -> None:
    d = filed(seeded)
    to_hearing(d)
    d.complete(
        "hold_hearing",
        "hearing",
        party_attended="attended",
        hearing_summary="当事人到场陈述",
        host_opinion="建议维持",
    )
    assert d.data()["hearing_held"] is True
    consider(d, "150000", "rejected")
    data = d.data()
    # A heard case goes to 法制审核 and to 集体讨论 (the decision tables' defaults).
    assert (data["legal_review_reason"], data["discussion_reason"]) == ("经过听证的案件", "经过听证的案件")
    assert d.task("submit_review").stage == "法制审核"
    legal_review(d, "passed")
    discuss(d, "approve")
    decide(d)
    case = d.case()
    assert (case.legal_review, case.collective_discussion, case.fine) == (True, True, Decimal("150000.00"))


def test_hearing_waived_by_non_attendance(seeded) -> None:
    d = filed(seeded)
    to_hearing(d)
    with pytest.raises(NotPermittedError):  # the named host only
        d.complete("hold_hearing", "officer1", party_attended="absent", hearing_summary="x", host_opinion="x")
    d.complete(
        "hold_hearing",
        "hearing",
        party_attended="absent",
        hearing_summary="当事人经合法通知无正当理由未到场",
        host_opinion="视为放弃听证",
    )
    data = d.data()
    assert (data["hearing_held"], data["hearing_waived"]) == (False, True)
    consider(d, "150000", "rejected")
    # Not heard, 15 万 to an organisation: neither 法制审核 (30 万) nor 集体讨论 (50 万).
    assert d.open_ids() == ["decide_penalty"]


# --- 法制审核 -------------------------------------------------------------------------------------
def person_case(seeded) -> Driver:
    """An individual: 条例41 一般档 3–4 × 4 000; 12 000 元 needs 法制审核 (个人 ≥ 1 万) and gives
    hearing rights (个人 ≥ 5 000), which the party waives."""
    d = filed(seeded, PERSON)
    investigate(d, amount="4000")
    review(d)
    propose(d, "12000", "4000", article="a41")
    notify(d)
    respond(d, "waived")
    consider(d, "12000")
    return d


def test_legal_review_passes_at_once(seeded) -> None:
    d = person_case(seeded)
    data = d.data()
    assert (data["legal_review_required"], data["legal_review_reason"]) == (True, "对个人罚款1万元以上")
    assert data["collective_discussion_required"] is False
    legal_review(d, "passed")
    assert d.open_ids() == ["decide_penalty"]
    assert d.data()["legal_review_opinion"] == "审核意见：passed"
    decide(d)
    case = d.case()
    assert (case.legal_review, case.collective_discussion) == (True, False)


def test_legal_review_rejects_twice_then_passes(seeded) -> None:
    d = person_case(seeded)
    legal_review(d, "revise")
    revision = d.task("revise_proposal")
    assert (revision.role, revision.stage) == ("officer", "审查")
    d.complete(
        "revise_proposal",
        "officer1",
        revised_proposal_text="责令退回4000元，罚款10000元",
        revised_proposal_fine="10000",
        revision_reason="按审核意见从轻",
    )
    # Not raised: straight back to the review (still ≥ 1 万).
    legal_review(d, "supplement")
    assert d.open_ids() == ["investigate"]  # 补充调查 re-opens the investigation stage
    investigate(d, amount="4000")
    review(d)
    propose(d, "12000", "4000", article="a41")
    notify(d)  # new facts: notified again
    assert d.data()["notice_number"] == "渝北医保告〔2024〕2号"
    respond(d, "waived")
    consider(d, "12000")
    legal_review(d, "passed")
    decide(d)
    assert d.case().legal_review is True


def test_raised_revision_is_notified_again_and_disagreement_goes_back_to_review(seeded) -> None:
    d = person_case(seeded)
    legal_review(d, "revise")
    d.complete(
        "revise_proposal",
        "officer1",
        revised_proposal_text="责令退回4000元，罚款16000元",
        revised_proposal_fine="16000",
        revision_reason="裁量过轻",
    )
    # Heavier than notified: checked against the range again and notified again.
    assert d.open_ids() == ["serve_notice"]
    notify(d)
    respond(d, "waived")
    consider(d, "16000")
    legal_review(d, "disagree")
    assert d.open_ids() == ["review_case"]
    review(d, "minor")
    decide(d)
    assert d.case().outcome == "违法行为轻微，不予行政处罚"


# --- 集体讨论 -------------------------------------------------------------------------------------
def test_collective_discussion_required_for_a_complex_case(seeded) -> None:
    d = filed(seeded)
    investigate(d)
    review(d, complex_=True)
    propose(d, "40000", "12000")
    notify(d)
    respond(d, "waived")
    consider(d, "40000")
    data = d.data()
    assert data["legal_review_reason"] == "案情复杂或者涉及多个法律关系"
    assert data["discussion_reason"] == "情节复杂或者重大违法行为"
    legal_review(d, "passed")
    assert (
        d.data()["topic"]
        == "行政处罚案件集体讨论（情节复杂或者重大违法行为）：渝北医保立〔2024〕1号 某某大药房"
    )
    discuss(d, "approve")
    decide(d)
    assert (d.case().legal_review, d.case().collective_discussion) == (True, True)


def test_collective_discussion_revises_then_rejects(seeded) -> None:
    d = filed(seeded)
    investigate(d)
    review(d, complex_=True)
    propose(d, "40000", "12000")
    notify(d)
    respond(d, "waived")
    consider(d, "40000")
    legal_review(d, "passed")
    discuss(d, "revise")
    d.complete(
        "revise_proposal",
        "officer1",
        revised_proposal_text="罚款36000元",
        revised_proposal_fine="36000",
        revision_reason="讨论意见",
    )
    legal_review(d, "passed")
    discuss(d, "reject")
    assert d.open_ids() == ["review_case"]


# --- 决定, 送达, 公示 --------------------------------------------------------------------------------
def test_electronic_service_needs_written_consent(seeded) -> None:
    d = filed(seeded)
    to_decision(d, "40000", "12000")
    decide(d)
    assert d.data()["decision_number"] == "渝北医保罚〔2024〕1号"
    # 送达: 7 working days from 9-23: 9-24..9-27 (4), 9-29 (5), 9-30 (6), 10-8 (7).
    service = d.task("serve_decision")
    assert (service.stage, service.due_at) == ("送达", end_of(date(2024, 10, 8)))
    d.complete("serve_decision", "officer1", service_method="electronic", electronic_consent=False)
    assert d.open_ids() == ["serve_decision"]
    assert d.data()["service_error"].startswith("电子送达须经当事人书面同意")
    d.complete("serve_decision", "officer1", service_method="electronic", electronic_consent=True)
    assert d.open_ids() == ["publish_decision"]
    assert d.clock("送达").status == "stopped"
    case = d.case()
    assert (case.outcome, case.fine, case.amount_recovered) == (
        "行政处罚",
        Decimal("40000.00"),
        Decimal("12000.00"),
    )


def test_public_notice_service_takes_thirty_days(seeded) -> None:
    d = filed(seeded)
    to_decision(d, "40000", "12000")
    decide(d)
    d.complete("serve_decision", "officer1", service_method="public", service_note="无法联系当事人")
    # 30 days from 9-23 → 10-23 (Wednesday).
    assert d.open_ids() == [] and d.instance().next_timer_at == end_of(date(2024, 10, 23))
    d.advance(to=beijing(2024, 10, 24, 9))
    assert d.open_ids() == ["publish_decision"]


def test_published_decision_is_withdrawn_when_changed(seeded) -> None:
    d = decided_and_served(seeded)
    assert d.case().published is True
    assert "decision_changed" in d.accepted_messages()
    clock.set(beijing(2024, 10, 25, 10))  # Friday
    d.deliver("decision_changed", "officer1", change_kind="revoked", change_reason="复议机关撤销")
    # 公示撤回: 3 working days from Friday 10-25 → 10-28..10-30.
    withdrawal = d.task("withdraw_publication")
    assert (withdrawal.role, withdrawal.due_at) == ("officer", end_of(date(2024, 10, 30)))
    d.complete("withdraw_publication", "officer1", withdrawal_result="withdrawn", withdrawal_note="已撤回")
    assert d.case().published is False
    assert d.clock("公示撤回").status == "stopped"
    assert d.open_ids() == ["await_payment"]


# --- 执行 ----------------------------------------------------------------------------------------
def test_payment_on_time(seeded) -> None:
    d = decided_and_served(seeded)
    # 罚款缴纳: 15 days from the service on 10-21 → 11-05.
    payment = d.task("await_payment")
    assert (payment.role, payment.stage, payment.due_at) == ("officer", "执行", end_of(date(2024, 11, 5)))
    d.complete("await_payment", "officer1", payment_status="paid", paid_on="2024-11-05")
    assert d.data()["surcharge"] == Decimal("0.00")
    close(d)
    case = d.case()
    assert (case.status, case.published, case.penalty_interest) == ("closed", True, Decimal("0.00"))
    assert d.finished


def test_late_payment_surcharge_is_capped_at_the_fine(seeded) -> None:
    d = decided_and_served(seeded)
    # Paid 12-15, due 11-05: 40 days late × 3 % = 120 % of the fine → capped at the fine.
    d.complete("await_payment", "officer1", payment_status="paid", paid_on="2024-12-15")
    data = d.data()
    assert (data["days_overdue"], data["surcharge"]) == (40, Decimal("40000.00"))
    d.complete("collect_surcharge", "officer1", surcharge_note="已缴纳加处罚款")
    close(d)
    assert d.case().penalty_interest == Decimal("40000.00")


def test_deferral_moves_the_payment_deadline(seeded) -> None:
    d = decided_and_served(seeded)
    clock.set(beijing(2024, 11, 1, 10))
    d.complete(
        "await_payment", "officer1", payment_status="deferral", deferral_request="经营困难，申请分两期缴纳"
    )
    assert d.task("approve_deferral").role == "deputy_director"
    d.complete(
        "approve_deferral", "deputy", deferral_approved=True, deferral_days=20, deferral_opinion="同意"
    )
    # 20 days from 11-01 → 11-21.
    assert d.task("await_payment").due_at == end_of(date(2024, 11, 21))
    assert d.clock("罚款缴纳").status == "stopped"
    d.complete("await_payment", "officer1", payment_status="paid", paid_on="2024-11-21")
    assert d.data()["surcharge"] == Decimal("0.00")
    assert d.open_ids() == ["close_case_report"]


def test_late_payment_after_reminder_adds_the_surcharge(seeded) -> None:
    d = decided_and_served(seeded)
    clock.set(beijing(2024, 11, 6, 10))
    d.complete("await_payment", "officer1", payment_status="unpaid")
    d.complete("serve_reminder", "officer1", reminder_service_method="direct")
    # 催告: 10 days from 11-06 → Saturday 11-16 → the next working day 11-18.
    assert d.clock("催告").due_at == end_of(date(2024, 11, 18))
    d.advance(to=beijing(2024, 11, 19, 9))
    d.complete("check_after_reminder", "officer1", reminder_result="paid", paid_on="2024-11-19")
    # Due 11-05, paid 11-19: 14 days × 3 % × 40 000 = 16 800.
    assert d.data()["surcharge"] == Decimal("16800.00")
    d.complete("collect_surcharge", "officer1", surcharge_note="已缴纳")
    close(d)
    assert d.case().penalty_interest == Decimal("16800.00")


def test_unpaid_after_reminder_goes_to_the_court(seeded) -> None:
    d = decided_and_served(seeded)
    # 复议期 60 days from 10-21 → 12-20; 诉讼期 6 months → 2025-04-21 (Monday).
    assert d.clock("复议期").due_at == end_of(date(2024, 12, 20))
    assert d.clock("诉讼期").due_at == end_of(date(2025, 4, 21))
    clock.set(beijing(2024, 11, 6, 10))
    d.complete("await_payment", "officer1", payment_status="unpaid")
    d.complete("serve_reminder", "officer1", reminder_service_method="mail")
    d.advance(to=beijing(2024, 11, 19, 9))
    d.complete("check_after_reminder", "officer1", reminder_result="unpaid")
    # The court may be asked only after both appeal periods.
    assert d.open_ids() == [] and d.instance().next_timer_at == end_of(date(2025, 4, 21))
    d.advance(to=datetime(2025, 4, 22, 0, 0, 1, tzinfo=BEIJING))
    # 强制执行申请: 3 months from 2025-04-22 → 07-22.
    application = d.task("apply_enforcement")
    assert (application.stage, application.due_at) == ("执行", end_of(date(2025, 7, 22)))
    d.complete(
        "apply_enforcement",
        "officer1",
        court_name="渝北区人民法院",
        enforcement_filed_on="2025-05-06",
        court_accepted=True,
    )
    close(d)
    assert d.case().status == "closed"


# --- 办案期限: 督办, 延期, 中止, 撤案 -----------------------------------------------------------------
def test_case_clock_expiry_raises_supervision_and_the_case_stays_workable(seeded) -> None:
    d = filed(seeded)
    assert d.advance(to=beijing(2024, 12, 23, 23, 59)) == []
    assert d.advance(to=datetime(2024, 12, 24, 0, 0, 1, tzinfo=BEIJING)) == [d.id]
    assert d.open_ids() == ["case_deadline_overdue", "investigate"]
    assert d.task("case_deadline_overdue").role == "section_chief"
    d.complete("case_deadline_overdue", "chief", case_deadline_instruction="三日内报请延期或作出决定")
    investigate(d)
    assert d.open_ids() == ["review_case"]


def extend(d: Driver, kind: str = "first", days: int = 30) -> None:
    d.deliver(
        "case_extend", "officer1", extension_kind=kind, extension_days=days, extension_reason="需调取外省票据"
    )


def test_case_extension_by_thirty_days_moves_the_timers(seeded) -> None:
    d = filed(seeded)
    assert "case_extend" in d.accepted_messages()
    clock.set(beijing(2024, 12, 2, 10))
    extend(d)
    approval = d.task("approve_case_extension")
    assert approval.role == "deputy_director"
    assert d.open_ids() == ["approve_case_extension", "investigate"]
    with pytest.raises(FormValidationError):  # more than 30 days needs the collective discussion
        d.complete(
            "approve_case_extension",
            "deputy",
            case_extension_approved=True,
            approved_extension_days=31,
            case_extension_opinion="x",
        )
    d.complete(
        "approve_case_extension",
        "deputy",
        case_extension_approved=True,
        approved_extension_days=30,
        case_extension_opinion="同意",
    )
    # 9-23 + 120 days → 2025-01-21 (Tuesday): the clock and the waiting 督办 timer move together.
    assert d.clock("办案").due_at == end_of(date(2025, 1, 21))
    assert d.instance().next_timer_at == end_of(date(2025, 1, 21))
    assert d.advance(to=beijing(2024, 12, 24, 9)) == []
    d.advance(to=beijing(2025, 1, 22, 9))
    assert d.open_ids() == ["case_deadline_overdue", "investigate"]


def test_case_extension_refused_keeps_the_deadline(seeded) -> None:
    d = filed(seeded)
    extend(d)
    d.complete(
        "approve_case_extension", "deputy", case_extension_approved=False, case_extension_opinion="理由不足"
    )
    assert d.clock("办案").due_at == CASE_DUE
    assert d.open_ids() == ["investigate"]


@pytest.mark.parametrize(
    ("conclusion", "due"), [("approve", date(2025, 3, 24)), ("reject", date(2024, 12, 23))]
)
def test_further_extension_is_decided_by_collective_discussion(seeded, conclusion: str, due: date) -> None:
    d = filed(seeded)
    extend(d, "further", 90)
    assert d.task("convene_discussion").role == "director"
    discuss(d, conclusion)
    # 9-23 + 90 + 90 days → 2025-03-23, a Sunday → 03-24.
    assert d.clock("办案").due_at == end_of(due)


def test_second_extension_goes_to_collective_discussion(seeded) -> None:
    d = filed(seeded)
    extend(d)
    d.complete(
        "approve_case_extension",
        "deputy",
        case_extension_approved=True,
        approved_extension_days=30,
        case_extension_opinion="同意",
    )
    extend(d, "further", 30)  # beyond 90 + 30: the collective discussion decides
    discuss(d, "approve")
    # 9-23 + 150 days → 2025-02-20.
    assert d.clock("办案").due_at == end_of(date(2025, 2, 20))


def to_statement_window(d: Driver) -> None:
    investigate(d)
    review(d)
    propose(d, "40000", "12000")
    notify(d)


def suspend(d: Driver) -> None:
    d.deliver("case_suspend", "officer1", suspend_reason="appraisal", suspend_detail="委托司法鉴定")


def test_suspension_pauses_the_case_clock(seeded) -> None:
    d = filed(seeded)
    to_statement_window(d)
    clock.set(beijing(2024, 10, 8, 10))
    suspend(d)
    assert d.task("approve_suspension").role == "deputy_director"
    d.complete("approve_suspension", "deputy", suspension_approved=True, suspension_opinion="同意中止")
    assert d.case().status == "suspended"
    row = d.clock("办案")
    assert (row.status, row.due_at) == ("suspended", None)
    clock.set(beijing(2024, 10, 18, 10))
    d.complete("resume_case", "officer1", resume_reason="鉴定意见已出具")
    # 10 paused days: 9-23 + 100 days → 2025-01-01 (New Year) → 01-02.
    assert d.clock("办案").due_at == end_of(date(2025, 1, 2))
    assert d.case().status == "open"
    respond(d, "waived")
    assert d.task("consider_arguments").due_at == end_of(date(2025, 1, 2))


def test_suspension_refused_keeps_the_clock_running(seeded) -> None:
    d = filed(seeded)
    to_statement_window(d)
    suspend(d)
    d.complete("approve_suspension", "deputy", suspension_approved=False, suspension_opinion="不符合中止条件")
    assert d.clock("办案").status == "running" and d.case().status == "open"
    assert d.open_ids() == ["record_party_response"]


def test_suspension_during_the_investigation_holds_the_timer(seeded) -> None:
    """中止 while the 办案 督办 timer waits: no timer fires and nothing is overdue while the case is
    suspended; 恢复 re-times the timer and the investigation's due date with the paused days."""
    d = filed(seeded)
    assert d.task("investigate").due_at == CASE_DUE
    clock.set(beijing(2024, 10, 8, 10))
    suspend(d)
    d.complete("approve_suspension", "deputy", suspension_approved=True, suspension_opinion="同意中止")
    assert d.clock("办案").status == "suspended"
    assert d.instance().next_timer_at is None
    assert d.task("investigate").due_at is None
    # Long past the original deadline: no 督办, no incident, nothing on the supervision board.
    assert d.advance(to=beijing(2025, 1, 10, 10)) == []
    assert d.open_ids() == ["investigate", "resume_case"]
    assert d.instance().incident is None
    with seeded() as s:
        rows, _ = supervision.board(s, supervision.BoardFilter(only_overdue=True))
    assert [r for r in rows if r.kind == "clock" and r.case_id == d.case().id] == []
    # Suspended 2024-10-08 → 2025-01-10: 23 + 30 + 31 + 10 = 94 days. 9-23 + 90 days → 12-22, then
    # + 94 days: 12-31 (9), 01-31 (40), 02-28 (68), 03-26 (94), a Wednesday.
    d.complete("resume_case", "officer1", resume_reason="鉴定意见已出具")
    due = end_of(date(2025, 3, 26))
    assert d.clock("办案").due_at == due
    assert d.instance().next_timer_at == due
    assert d.task("investigate").due_at == due
    assert d.advance(to=beijing(2025, 3, 26, 20)) == []
    assert d.advance(to=beijing(2025, 3, 27, 9)) == [d.id]
    assert d.open_ids() == ["case_deadline_overdue", "investigate"]


def test_extension_approved_while_suspended_counts_after_resumption(seeded) -> None:
    d = filed(seeded)
    clock.set(beijing(2024, 10, 8, 10))
    suspend(d)
    d.complete("approve_suspension", "deputy", suspension_approved=True, suspension_opinion="同意中止")
    extend(d)
    assert d.task_data("approve_case_extension")["current_case_due"] == "中止中（恢复后顺延）"
    d.complete(
        "approve_case_extension",
        "deputy",
        case_extension_approved=True,
        approved_extension_days=30,
        case_extension_opinion="同意",
    )
    assert (d.clock("办案").status, d.clock("办案").due_at) == ("suspended", None)
    clock.set(beijing(2024, 10, 18, 10))
    d.complete("resume_case", "officer1", resume_reason="鉴定完成")
    # 9-23 + 90 + 30 + 10 paused days → 2025-01-31, the Spring Festival holiday ends 02-04 → 02-05.
    assert d.clock("办案").due_at == end_of(date(2025, 2, 5))
    assert d.task("investigate").due_at == end_of(date(2025, 2, 5))


def test_deadline_with_suspension_and_extension_across_the_holidays(seeded) -> None:
    clock.set(beijing(2024, 9, 19, 10))
    d = Driver.start(seeded, "penalty_case", "officer1", **CLUE)
    d.complete("verify_clue", "officer1", verification="已现场核查", suggestion="file")
    clock.set(beijing(2024, 9, 20, 10))  # 立案 on Friday 2024-09-20
    d.complete("decide_filing", "chief", decision="file", decision_opinion="同意立案")
    # 90 days from 9-20: 9-21..9-30 (10), October (41), November (71), 12-19 (90): a Thursday.
    assert d.clock("办案").due_at == end_of(date(2024, 12, 19))
    investigate(d)
    review(d)
    propose(d, "40000", "12000")
    clock.set(beijing(2024, 9, 27, 10))  # the notice is served on Friday 9-27
    notify(d)
    # 陈述申辩, 5 working days: Sunday 9-29 调休 (1), 9-30 (2), 10-1..10-7 National Day,
    # 10-8 (3), 10-9 (4), 10-10 (5).
    assert d.clock("陈述申辩").due_at == end_of(date(2024, 10, 10))
    assert d.task("record_party_response").due_at == end_of(date(2024, 10, 10))
    clock.set(beijing(2024, 10, 8, 10))
    suspend(d)
    d.complete("approve_suspension", "deputy", suspension_approved=True, suspension_opinion="同意")
    clock.set(beijing(2024, 10, 18, 10))  # 10 days suspended: 10-08 → 10-18
    d.complete("resume_case", "officer1", resume_reason="鉴定完成")
    clock.set(beijing(2024, 10, 21, 10))
    extend(d)
    d.complete(
        "approve_case_extension",
        "deputy",
        case_extension_approved=True,
        approved_extension_days=30,
        case_extension_opinion="同意",
    )
    # 2024-09-20 + 90 + 30 + 10 days = 2025-01-28 (9-21..9-30: 10, Oct: 41, Nov: 71, Dec: 102,
    # Jan 28: 130), the first day of the Spring Festival holiday 01-28..02-04 → 2025-02-05.
    assert d.clock("办案").due_at == end_of(date(2025, 2, 5))
    respond(d, "statement")
    consider(d, "40000")
    assert d.task("decide_penalty").due_at == end_of(date(2025, 2, 5))


def terminate(d: Driver) -> None:
    assert "case_terminate" in d.accepted_messages()
    d.deliver(
        "case_terminate", "officer1", termination_kind="revoke", termination_reason="违法行为已超过追责时效"
    )
    assert d.task("approve_termination").role == "deputy_director"
    d.complete("approve_termination", "deputy", termination_opinion="同意撤案")


def test_case_terminated(seeded) -> None:
    d = filed(seeded)
    terminate(d)
    case = d.case()
    assert (case.status, case.outcome) == ("terminated", "撤销立案")
    assert d.clock("办案").status == "stopped"
    assert case.closed_at is not None


def test_case_termination_withdraws_the_open_work(seeded) -> None:
    """撤案 is an interrupting event subprocess: the request cancels the investigation and the
    other event subprocesses at once; the approval ends the instance."""
    d = filed(seeded)
    extend(d)  # a non-interrupting 延期 request is open as well
    investigation = d.task("investigate").id
    d.deliver("case_terminate", "officer1", termination_kind="terminate", termination_reason="当事人已注销")
    assert d.open_ids() == ["approve_termination"]
    assert d.accepted_messages() == set()  # an interrupted case starts no new 延期 / 中止 / 撤案
    with seeded() as s:
        assert s.get(Task, investigation).state == "cancelled"
    d.complete("approve_termination", "deputy", termination_opinion="同意终止调查")
    assert d.open_ids() == [] and d.finished
    assert (d.case().status, d.case().outcome) == ("terminated", "终止调查")
    assert d.advance(timedelta(days=400)) == []


def test_full_penalty_leaves_a_verifiable_audit_chain(seeded) -> None:
    """A penalty from the clue to the archive: the hash-chained audit trail verifies."""
    d = decided_and_served(seeded)
    d.complete("await_payment", "officer1", payment_status="paid", paid_on="2024-10-30")
    close(d)
    with seeded() as s:
        assert audit.verify(s).ok
    assert d.advance(timedelta(days=400)) == []
