"""行刑衔接 (referral_police): every path of the transfer of a suspected crime to the police, with
the 310 clocks. The calendar is the real 2024 one: National Day 10-01..10-07 off, Sunday 09-29 and
Saturday 10-12 are 调休 working days, every other weekend day is off."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from engine.clock import clock
from engine.errors import FormValidationError, NotFoundError, WorkflowScriptError
from tests.processes.driver import Driver, beijing, continued_in_penalty_case, end_of

START = {
    "case_number": "渝北医保立〔2024〕7号",
    "party_name": "某某诊所",
    "party_type": "institution",
    "suspected_offence": "诈骗罪",
    "amount_involved": "56000",
    "facts": "虚构诊疗项目、伪造病历骗取医保基金",
}
REFERRAL_NO = "渝北医保移〔2024〕1号"
OTHER_NO = "渝北医保移〔2024〕99号"


def just_after(d: date) -> datetime:
    """Two seconds after a day-based deadline has passed."""
    return end_of(d) + timedelta(seconds=2)


@pytest.fixture(autouse=True)
def _monday() -> None:
    clock.set(beijing(2024, 9, 23))  # Monday 09:00


def start(seeded, **changes: object) -> Driver:
    return Driver.start(seeded, "referral_police", **{**START, **changes})


def to_approval(seeded, **changes: object) -> Driver:
    """Threshold met, task group formed and the written report filed on Monday 09-23."""
    d = start(seeded, **changes)
    d.complete("form_task_group", "officer1", group_members="张办案、李办案", group_leader="张办案")
    d.complete(
        "write_report",
        "officer1",
        report_summary="2023年1月至2024年6月虚构诊疗项目骗取医保基金56000元",
        investigation_report="调查报告.pdf",
        items_list="涉案物品清单.pdf",
        test_report="鉴定意见.pdf",
    )
    return d


def to_police(seeded) -> Driver:
    """Approved on 09-24 10:00, delivered 16:00, 回执 on 09-25 09:00: the police are deciding."""
    d = to_approval(seeded)
    clock.set(beijing(2024, 9, 24, 10))
    d.complete("approve_referral", "director", decision="approve", approval_opinion="同意移送")
    clock.set(beijing(2024, 9, 24, 16))
    d.complete("deliver_to_police", "officer1", police_unit="渝北区公安分局", referral_letter="移送书.pdf")
    clock.set(beijing(2024, 9, 25, 9))
    d.deliver("police_receipt", correlation_key=REFERRAL_NO, received_by="王警官")
    return d


def refused_by_police(seeded) -> Driver:
    """The police refuse on Saturday 09-28: the 复议 window runs across National Day."""
    d = to_police(seeded)
    clock.set(beijing(2024, 9, 28, 10))
    d.deliver("police_decision", correlation_key=REFERRAL_NO, decision="不予立案", reason="证据不足")
    return d


def review_refused(seeded) -> Driver:
    """复议 requested on 09-29; the police maintain the refusal on 10-08."""
    d = refused_by_police(seeded)
    clock.set(beijing(2024, 9, 29, 10))
    d.complete("decide_review", "director", review_choice="request_review", review_opinion="应当立案")
    d.complete(
        "send_review_request",
        "officer1",
        review_request_letter="提请复议书.pdf",
        review_request_note="金额巨大",
    )
    clock.set(beijing(2024, 10, 8, 10))
    d.deliver("police_review_decision", correlation_key=REFERRAL_NO, decision="不予立案", reason="维持")
    return d


def hand_over(d: Driver) -> None:
    d.complete("hand_over_evidence", "officer2", handover_list="移交清单.pdf", handover_receiver="王警官")


# --- the threshold (criminal_referral_threshold.dmn) --------------------------------------------


@pytest.mark.parametrize(
    ("party_type", "amount", "flags", "met"),
    [
        ("person", "2999.99", {}, False),
        ("person", "3000", {}, True),  # the default 数额较大 is the lower bound, 3 000 元
        ("institution", "3000.00", {}, True),
        ("institution", "2999.99", {}, False),
        ("person", "500", {"organised": True}, True),
        ("person", "500", {"repeat_offence": "true"}, True),
        ("institution", "100", {"health_harm": True}, True),
    ],
)
def test_threshold_decision_table(seeded, party_type: str, amount: str, flags: dict, met: bool) -> None:
    d = start(seeded, party_type=party_type, amount_involved=amount, **flags)
    assert d.data()["meets_threshold"] is met
    assert d.open_ids() == (["form_task_group"] if met else ["review_circumstances"])


def test_threshold_met_opens_the_referral_and_asks_for_a_task_group(seeded) -> None:
    d = start(seeded)
    task = d.task("form_task_group")
    assert task.role == "officer" and task.stage == "移送审查"
    case = d.case()
    assert (case.status, case.stage, str(case.amount_involved)) == ("referred", "移送审查", "56000.00")
    assert case.title == "渝北医保立〔2024〕7号 某某诊所涉嫌诈骗罪"
    assert "数额较大" in d.data()["threshold_reason"]


def test_threshold_not_met_ends_with_a_note(seeded) -> None:
    d = start(seeded, case_number="", party_type="person", party_name="刘某", amount_involved="1200")
    task = d.task("review_circumstances")
    assert task.role == "officer"
    d.complete(
        "review_circumstances", "officer1", circumstance_decision="no_refer", override_reason="金额较小，初犯"
    )
    assert d.finished
    case = d.case()
    assert case.title == "刘某涉嫌诈骗罪"
    assert (case.status, case.stage) == ("open", "调查取证")
    assert case.outcome == "未达刑事追诉标准，不移送：金额较小，初犯"


def test_officer_may_refer_on_circumstances_below_the_threshold(seeded) -> None:
    d = start(seeded, amount_involved="1200")
    with pytest.raises(FormValidationError) as err:  # the reason is required
        d.complete("review_circumstances", "officer1", circumstance_decision="refer")
    assert set(err.value.errors) == {"override_reason"}
    d.complete(
        "review_circumstances",
        "officer1",
        circumstance_decision="refer",
        override_reason="冒用他人医保卡，多人参与",
    )
    d.complete("form_task_group", "officer1", group_members="张办案,李办案,王办案", group_leader="张办案")
    assert d.data()["referral_basis"] == "依情节移送：冒用他人医保卡，多人参与"
    assert d.data()["task_group"] == ["张办案", "李办案", "王办案"]
    assert d.open_ids() == ["write_report"]


def test_a_task_group_needs_two_different_officers(seeded) -> None:
    d = start(seeded)
    task = d.task("form_task_group")
    # The form constraint: one name only.
    with pytest.raises(FormValidationError) as err:
        d.complete("form_task_group", "officer1", group_members="张办案", group_leader="张办案")
    assert "至少2名执法人员" in err.value.errors["group_members"]
    # The script's reject(): two entries but the same person; a field error, nothing changes.
    with pytest.raises(FormValidationError) as script_err:
        d.complete("form_task_group", "officer1", group_members="张办案、张办案", group_leader="张办案")
    assert "专案组成员至少应为2名不同的执法人员" in script_err.value.errors["group_members"]
    assert d.task("form_task_group").id == task.id


# --- 局长 approval (移送审批, 3 days) ------------------------------------------------------------


def test_approval_is_due_in_three_days_and_refusal_returns_the_case(seeded) -> None:
    d = to_approval(seeded)
    task = d.task("approve_referral")
    # 3 calendar days after Monday 09-23: Thursday 09-26, a working day.
    assert task.role == "director" and task.due_at == end_of(date(2024, 9, 26))
    assert d.clock("移送审批").due_at == task.due_at
    assert d.case().stage == "移送审批"
    clock.set(beijing(2024, 9, 25, 10))
    d.complete(
        "approve_referral", "director", decision="refuse", approval_opinion="证据尚不充分，继续行政调查"
    )
    assert d.finished
    case = d.case()
    assert (case.status, case.stage) == ("open", "调查取证")
    assert case.outcome == "局长不批准移送：证据尚不充分，继续行政调查"
    assert d.clock("移送审批").status == "stopped"


def test_late_approval_raises_a_supervision_task(seeded) -> None:
    d = to_approval(seeded)
    assert d.advance(to=end_of(date(2024, 9, 26)) - timedelta(minutes=1)) == []
    assert d.advance(to=just_after(date(2024, 9, 26))) == [d.id]
    assert d.open_ids() == ["approval_overdue", "approve_referral"]
    assert d.task("approval_overdue").role == "supervisor"
    d.complete("approval_overdue", "supervisor", approval_overdue_instruction="请局长即日审批")
    assert d.open_ids() == ["approve_referral"]  # the approval itself is never cancelled


# --- delivery (24 hours), receipt, police review (3 days) -----------------------------------------


def test_police_file_the_case_and_evidence_is_handed_over_in_time(seeded) -> None:
    d = to_approval(seeded)
    clock.set(beijing(2024, 9, 24, 10))
    d.complete("approve_referral", "director", decision="approve", approval_opinion="同意移送")
    deliver = d.task("deliver_to_police")
    # 24 clock hours after the approval.
    assert deliver.due_at == beijing(2024, 9, 25, 10)
    assert d.data()["referral_no"] == REFERRAL_NO
    assert d.clock("移送审批").status == "stopped"
    clock.set(beijing(2024, 9, 24, 16))
    d.complete("deliver_to_police", "officer1", police_unit="渝北区公安分局", referral_letter="移送书.pdf")
    assert d.clock("移送送达").status == "stopped"
    assert d.case().stage == "等待公安回执"
    assert "police_receipt" in d.accepted_messages()
    clock.set(beijing(2024, 9, 25, 9))
    d.deliver("police_receipt", correlation_key=REFERRAL_NO, received_by="王警官")
    # 3 days after 09-25 is Saturday 09-28, a rest day: the next working day is Sunday 09-29 (调休).
    assert d.clock("公安审查").due_at == end_of(date(2024, 9, 29))
    assert d.case().stage == "公安审查"
    assert d.open_ids() == []
    clock.set(beijing(2024, 9, 27, 10))
    d.deliver("police_decision", correlation_key=REFERRAL_NO, decision="立案", reason="")
    assert d.clock("公安审查").status == "stopped"
    handover = d.task("hand_over_evidence")
    # 3 days after Friday 09-27: Monday 09-30.
    assert handover.role == "officer" and handover.due_at == end_of(date(2024, 9, 30))
    clock.set(beijing(2024, 9, 29, 10))
    hand_over(d)
    assert d.finished
    case = d.case()
    assert (case.status, case.outcome, case.stage) == ("referred", "公安立案", "移送完毕")
    assert case.fine is None


def test_late_delivery_to_the_police_raises_a_supervision_task(seeded) -> None:
    d = to_approval(seeded)
    clock.set(beijing(2024, 9, 24, 10))
    d.complete("approve_referral", "director", decision="approve", approval_opinion="同意移送")
    assert d.advance(to=beijing(2024, 9, 25, 9, 59)) == []
    assert d.advance(to=beijing(2024, 9, 25, 10, 1)) == [d.id]
    assert d.open_ids() == ["deliver_to_police", "delivery_overdue"]
    assert d.task("delivery_overdue").role == "section_chief"
    d.complete("delivery_overdue", "chief", delivery_overdue_instruction="立即移送，说明迟延原因")
    d.complete("deliver_to_police", "officer1", police_unit="渝北区公安分局", referral_letter="移送书.pdf")
    assert "police_receipt" in d.accepted_messages()


def test_late_police_get_a_reminder_while_the_referral_keeps_waiting(seeded) -> None:
    d = to_police(seeded)
    assert d.advance(to=just_after(date(2024, 9, 29))) == [d.id]
    urge = d.task("urge_police")
    assert urge.role == "section_chief"
    assert "police_decision" in d.accepted_messages()
    d.complete("urge_police", "chief", urge_police_note="已电话催办并发催办函")
    clock.set(beijing(2024, 10, 8, 10))
    d.deliver("police_decision", correlation_key=REFERRAL_NO, decision="立案", reason="")
    # 3 days after 10-08: Friday 10-11.
    assert d.task("hand_over_evidence").due_at == end_of(date(2024, 10, 11))


def test_evidence_handover_timer(seeded) -> None:
    d = to_police(seeded)
    clock.set(beijing(2024, 9, 27, 10))
    d.deliver("police_decision", correlation_key=REFERRAL_NO, decision="立案", reason="")
    assert d.advance(to=just_after(date(2024, 9, 30))) == [d.id]
    assert d.open_ids() == ["hand_over_evidence", "handover_overdue"]
    assert d.task("handover_overdue").role == "section_chief"
    hand_over(d)
    assert not d.finished  # the supervision task is still open
    assert d.case().outcome == "公安立案"
    d.complete("handover_overdue", "chief", handover_overdue_instruction="已补交，说明迟延原因")
    assert d.finished


def test_a_reply_with_a_wrong_referral_number_is_not_delivered(seeded) -> None:
    d = to_police(seeded)
    before = d.instance().lock_version
    with pytest.raises(NotFoundError):
        d.deliver("police_decision", correlation_key=OTHER_NO, decision="立案", reason="")
    assert d.instance().lock_version == before
    assert d.open_ids() == [] and "police_decision" in d.accepted_messages()
    assert d.clock("公安审查").status == "running"


def test_a_decision_the_process_does_not_know_is_refused(seeded) -> None:
    d = to_police(seeded)
    before = d.instance().lock_version
    with pytest.raises(WorkflowScriptError) as err:
        d.deliver("police_decision", correlation_key=REFERRAL_NO, decision="再研究", reason="")
    assert "立案" in str(err.value)
    assert d.instance().lock_version == before
    assert "police_decision" in d.accepted_messages()


def test_a_fine_never_replaces_the_transfer(seeded) -> None:
    d = to_police(seeded)
    d.deliver("fine_instead_request", "officer1", reason="当事人已退赔，拟罚款结案", proposed_fine="10000")
    warning = d.task("fine_instead_warning")
    assert warning.role == "supervisor"
    case = d.case()
    assert (case.status, case.fine, case.outcome) == ("referred", None, "")
    assert "police_decision" in d.accepted_messages()  # the referral goes on
    d.complete(
        "fine_instead_warning", "supervisor", fine_instead_instruction="移送继续，对承办人进行提醒谈话"
    )
    d.deliver("police_decision", correlation_key=REFERRAL_NO, decision="立案", reason="")
    assert d.open_ids() == ["hand_over_evidence"]


# --- 不予立案: 复议, 检察监督, back to the administrative penalty ----------------------------------


def test_review_request_window_spans_the_holiday(seeded) -> None:
    d = refused_by_police(seeded)
    task = d.task("decide_review")
    # 3 days after Saturday 09-28 is 10-01, inside the holiday: the next working day is 10-08.
    assert task.role == "director" and task.due_at == end_of(date(2024, 10, 8))
    assert d.data()["police_reason"] == "证据不足"
    assert d.case().stage == "不予立案复议"


def test_police_accept_on_review(seeded) -> None:
    d = refused_by_police(seeded)
    clock.set(beijing(2024, 9, 29, 10))
    d.complete("decide_review", "director", review_choice="request_review", review_opinion="应当立案")
    send = d.task("send_review_request")
    assert send.role == "officer" and send.due_at == end_of(date(2024, 10, 8))
    clock.set(beijing(2024, 9, 29, 11))
    d.complete(
        "send_review_request",
        "officer1",
        review_request_letter="提请复议书.pdf",
        review_request_note="金额巨大",
    )
    assert d.clock("复议申请").status == "stopped"
    # 3 days after 09-29 is 10-02, a holiday: 10-08.
    assert d.clock("复议答复").due_at == end_of(date(2024, 10, 8))
    assert d.case().stage == "公安复议"
    clock.set(beijing(2024, 10, 8, 10))
    d.deliver("police_review_decision", correlation_key=REFERRAL_NO, decision="立案", reason="复议后立案")
    assert d.clock("复议答复").status == "stopped"
    hand_over(d)
    assert d.finished and d.case().outcome == "公安立案"


def test_late_review_answer_gets_a_reminder(seeded) -> None:
    d = refused_by_police(seeded)
    clock.set(beijing(2024, 9, 29, 10))
    d.complete("decide_review", "director", review_choice="request_review", review_opinion="应当立案")
    d.complete(
        "send_review_request",
        "officer1",
        review_request_letter="提请复议书.pdf",
        review_request_note="金额巨大",
    )
    assert d.advance(to=just_after(date(2024, 10, 8))) == [d.id]
    assert d.task("urge_review").role == "section_chief"
    assert "police_review_decision" in d.accepted_messages()
    d.complete("urge_review", "chief", urge_review_note="已发催办函")
    d.deliver("police_review_decision", correlation_key=REFERRAL_NO, decision="立案", reason="")
    assert d.open_ids() == ["hand_over_evidence"]


def test_late_review_request_raises_a_supervision_task(seeded) -> None:
    d = refused_by_police(seeded)
    assert d.advance(to=just_after(date(2024, 10, 8))) == [d.id]
    assert d.open_ids() == ["decide_review", "review_request_overdue"]
    assert d.task("review_request_overdue").role == "supervisor"
    d.complete(
        "review_request_overdue", "supervisor", review_request_overdue_instruction="逾期未提请复议，请说明"
    )
    d.complete("decide_review", "director", review_choice="accept", review_opinion="接受不予立案决定")
    assert d.finished
    assert (d.case().status, d.case().outcome) == ("clue", "公安不予立案，依法行政处罚")
    continued_in_penalty_case(d)


def test_refused_on_review_then_procuratorate_makes_the_police_file(seeded) -> None:
    d = review_refused(seeded)
    assert d.clock("复议答复").status == "stopped"
    decide = d.task("decide_supervision")
    # 3 days after Tuesday 10-08: Friday 10-11.
    assert decide.role == "director" and decide.due_at == end_of(date(2024, 10, 11))
    assert d.data()["review_reason"] == "维持"
    clock.set(beijing(2024, 10, 9, 10))
    d.complete(
        "decide_supervision", "director", supervision_choice="procuratorate", supervision_opinion="建议监督"
    )
    request = d.task("request_supervision")
    assert request.role == "officer" and request.due_at == end_of(date(2024, 10, 11))
    d.complete(
        "request_supervision",
        "officer1",
        procuratorate_unit="渝北区人民检察院",
        supervision_letter="立案监督建议书.pdf",
        supervision_note="应当立案",
    )
    assert d.clock("立案监督建议").status == "stopped"
    assert d.case().stage == "检察监督"
    assert "procuratorate_decision" in d.accepted_messages()
    clock.set(beijing(2024, 10, 20, 10))
    d.deliver(
        "procuratorate_decision", correlation_key=REFERRAL_NO, decision="立案", reason="通知公安机关立案"
    )
    # 3 days after Sunday 10-20: Wednesday 10-23.
    assert d.task("hand_over_evidence").due_at == end_of(date(2024, 10, 23))
    hand_over(d)
    assert d.finished and d.case().status == "referred"


def test_finally_refused_the_bureau_penalises(seeded) -> None:
    d = review_refused(seeded)
    d.complete(
        "decide_supervision", "director", supervision_choice="procuratorate", supervision_opinion="建议监督"
    )
    d.complete(
        "request_supervision",
        "officer1",
        procuratorate_unit="渝北区人民检察院",
        supervision_letter="立案监督建议书.pdf",
        supervision_note="应当立案",
    )
    d.deliver("procuratorate_decision", correlation_key=REFERRAL_NO, decision="不予立案", reason="不构成犯罪")
    assert d.finished
    case = d.case()
    # The bureau penalises itself: the same case waits at 立案审批 of a penalty case.
    assert (case.status, case.stage) == ("clue", "立案审批")
    assert case.outcome == "公安不予立案，依法行政处罚"
    assert case.fine is None  # the fine itself is decided in the penalty case
    p = continued_in_penalty_case(d)
    assert p.instance().case_id == case.id
    assert p.data()["handover"]["source_process"] == "referral_police"


def test_refused_on_review_and_accepted(seeded) -> None:
    d = review_refused(seeded)
    d.complete(
        "decide_supervision", "director", supervision_choice="accept", supervision_opinion="依法行政处罚"
    )
    assert d.finished
    assert d.case().outcome == "公安不予立案，依法行政处罚"
    assert d.clock("立案监督建议").status == "stopped"


def test_procuratorate_asked_at_once_without_review(seeded) -> None:
    d = refused_by_police(seeded)
    clock.set(beijing(2024, 9, 29, 10))
    d.complete("decide_review", "director", review_choice="procuratorate", review_opinion="建议检察监督")
    # Without a 复议 the suggestion is due within the 复议申请 window: 10-08.
    assert d.task("request_supervision").due_at == end_of(date(2024, 10, 8))
    d.complete(
        "request_supervision",
        "officer1",
        procuratorate_unit="渝北区人民检察院",
        supervision_letter="立案监督建议书.pdf",
        supervision_note="应当立案",
    )
    assert d.clock("复议申请").status == "stopped"
    with pytest.raises(NotFoundError):
        d.deliver("procuratorate_decision", correlation_key=OTHER_NO, decision="立案", reason="")
    d.deliver("procuratorate_decision", correlation_key=REFERRAL_NO, decision="不予立案", reason="不构成犯罪")
    assert d.finished and d.case().status == "clue"
    continued_in_penalty_case(d)
