"""问题台账整改销号 (ledger_clearance): every path — 销号 at the first review, 退回 then 销号, 销号审批
退回, the 整改 clock expiring (督办, then 督促 or 转立案), 审核 finding a case, the written reason that
extends the clock, and 回头看 either sustaining the 销号 or reopening the item."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from engine.clock import clock, to_beijing
from engine.errors import NotPermittedError
from tests.processes.driver import Driver, beijing, continued_in_penalty_case, end_of

# Monday 2024-09-23 09:00 Beijing. The default 整改 clock is 30 calendar days: 2024-10-23, a Wednesday.
START = beijing(2024, 9, 23)
DEFAULT_DUE = end_of(date(2024, 10, 23))

PROBLEM: dict[str, Any] = {
    "problem_source": "flight",
    "problem_description": "飞行检查发现超标准收取诊查费",
    "institution_name": "重庆某某医院",
    "amount_involved": "12000.50",
    "responsible_unit": "基金监管科",
    "responsible_person": "赵科长",
    "measures": "停止违规收费，退回违规费用，完善收费公示",
}


@pytest.fixture(autouse=True)
def _start_clock() -> None:
    clock.set(START)


def register(seeded, **overrides: Any) -> Driver:
    d = Driver.start(seeded, "ledger_clearance", "chief", **(PROBLEM | overrides))
    d.complete("assign_officer", "chief", responsible_officer="officer2", assign_instruction="请跟踪整改")
    return d


def rectify(d: Driver, amount: str = "12000.50", user: str = "officer2") -> None:
    d.complete(
        "rectify",
        user,
        rectify_status="done",
        measures_taken="已停止违规收费并退回费用",
        amount_refunded=amount,
    )
    d.complete("submit_evidence", user, rectify_report="整改报告.pdf", refund_voucher="退款凭证.pdf")


def review(d: Driver, decision: str) -> None:
    d.complete("review_rectification", "chief", decision=decision, review_opinion="审核意见")


def approve(d: Driver, decision: str = "approve", *, follow_up: bool = False) -> None:
    d.complete(
        "approve_clearance",
        "deputy",
        clearance_decision=decision,
        clearance_approver="周副局长",
        clearance_date=to_beijing(clock.now()).date().isoformat(),
        follow_up_planned=follow_up,
        clearance_opinion="同意" if decision == "approve" else "退回",
    )


def test_registration_opens_the_item_and_the_rectification_clock(seeded) -> None:
    d = Driver.start(seeded, "ledger_clearance", "chief", **PROBLEM)
    assign = d.task("assign_officer")
    assert (assign.role, assign.due_at, assign.stage) == ("section_chief", DEFAULT_DUE, "整改")
    case = d.case()
    assert (case.party_name, case.party_type, case.status, case.stage) == (
        "重庆某某医院",
        "institution",
        "open",
        "整改",
    )
    assert case.amount_involved == Decimal("12000.50")
    assert d.clock("整改").due_at == DEFAULT_DUE and d.clock("整改").status == "running"

    d.complete("assign_officer", "chief", responsible_officer="officer2")
    task = d.task("rectify")
    assert (task.assignee, task.role, task.due_at) == ("officer2", "officer", DEFAULT_DUE)
    assert d.instance().next_timer_at == DEFAULT_DUE  # the 整改超期 timer
    with pytest.raises(NotPermittedError):  # only the officer the chief chose
        d.complete("rectify", "officer1", rectify_status="done", measures_taken="x")


def test_deadline_date_sets_the_clock(seeded) -> None:
    # 2024-10-31 is a Thursday: due at its end.
    d = Driver.start(seeded, "ledger_clearance", "chief", **PROBLEM, rectify_deadline="2024-10-31")
    assert d.task("assign_officer").due_at == end_of(date(2024, 10, 31))
    # 2024-10-05 falls in the National Day holiday (10-01..10-07): the period ends on 10-08.
    holiday = Driver.start(seeded, "ledger_clearance", "chief", **PROBLEM, rectify_deadline="2024-10-05")
    assert holiday.clock("整改").due_at == end_of(date(2024, 10, 8))
    # A date that is not after today falls back to the default 30 days.
    past = Driver.start(seeded, "ledger_clearance", "chief", **PROBLEM, rectify_deadline="2024-09-23")
    assert past.clock("整改").due_at == DEFAULT_DUE


def test_accepted_at_first_review_is_cleared(seeded) -> None:
    d = register(seeded)
    rectify(d)
    reviewing = d.task("review_rectification")
    assert (reviewing.role, reviewing.stage, reviewing.due_at) == ("section_chief", "整改审核", DEFAULT_DUE)
    assert d.case().stage == "整改审核"
    review(d, "accept")
    approval = d.task("approve_clearance")
    assert (approval.role, approval.due_at) == ("deputy_director", DEFAULT_DUE)
    clock.set(beijing(2024, 10, 10))
    approve(d)
    assert d.finished and d.open_ids() == []
    case = d.case()
    assert (case.status, case.outcome, case.stage) == ("closed", "销号", "已销号")
    assert case.amount_recovered == Decimal("12000.50") and case.closed_at is not None
    assert d.clock("整改").status == "stopped"
    assert d.instance().next_timer_at is None
    assert d.data()["clearance_approver"] == "周副局长" and d.data()["clearance_date"] == "2024-10-10"


def test_rejected_at_review_then_accepted(seeded) -> None:
    d = register(seeded)
    rectify(d, amount="5000")
    review(d, "reject")
    again = d.task("rectify")  # back to the same officer, same clock
    assert (again.assignee, again.due_at) == ("officer2", DEFAULT_DUE)
    rectify(d, amount="12000.50")
    review(d, "accept")
    approve(d)
    case = d.case()
    assert (case.status, case.outcome, case.amount_recovered) == ("closed", "销号", Decimal("12000.50"))


def test_clearance_returned_by_the_deputy_goes_back_to_rectification(seeded) -> None:
    d = register(seeded)
    rectify(d, amount="6000")
    review(d, "accept")
    approve(d, "return")
    assert d.open_ids() == ["rectify"] and d.case().status == "open"
    rectify(d, amount="12000.50")
    review(d, "accept")
    approve(d)
    assert d.finished and d.case().amount_recovered == Decimal("12000.50")


def test_overdue_raises_supervision_and_the_work_goes_on(seeded) -> None:
    d = register(seeded)
    assert d.advance(to=beijing(2024, 10, 23, 23, 59)) == []
    assert d.advance(to=DEFAULT_DUE + timedelta(seconds=2)) == [d.id]
    assert d.open_ids() == ["rectify", "rectify_overdue"]
    overdue = d.task("rectify_overdue")
    assert (overdue.role, overdue.priority) == ("deputy_director", 90)
    assert d.advance(timedelta(days=1)) == []  # fires once
    d.complete("rectify_overdue", "deputy", overdue_decision="urge", overdue_instruction="限3日内完成整改")
    assert d.open_ids() == ["rectify"]
    rectify(d)
    review(d, "accept")
    approve(d)
    assert d.finished and (d.case().status, d.case().outcome) == ("closed", "销号")


def test_overdue_item_escalated_to_a_penalty_case(seeded) -> None:
    d = register(seeded)
    d.advance(to=DEFAULT_DUE + timedelta(seconds=2))
    d.complete(
        "rectify_overdue", "deputy", overdue_decision="escalate", overdue_instruction="逾期未整改，转立案"
    )
    # The deputy's decision ends the item: the open rectification is closed with it.
    assert d.finished and d.open_ids() == []
    case = d.case()
    assert (case.status, case.outcome, case.stage) == ("clue", "转立案", "立案审批")
    assert d.clock("整改").status == "stopped"
    p = continued_in_penalty_case(d)
    assert p.instance().case_id == case.id and p.data()["verification"] == p.data()["clue_summary"]


def test_review_finds_the_item_needs_a_case(seeded) -> None:
    d = register(seeded)
    rectify(d, amount="0")
    review(d, "needs_case")
    assert d.finished and d.open_ids() == []
    case = d.case()
    assert (case.status, case.outcome) == ("clue", "转立案")  # now at 立案审批 in the penalty case
    continued_in_penalty_case(d)
    assert case.amount_recovered is None


def test_written_reason_extends_the_rectification_clock(seeded) -> None:
    d = register(seeded)
    d.complete(
        "rectify",
        "officer2",
        rectify_status="cannot_close",
        measures_taken="机构已提起行政诉讼，退费待判决",
        written_reason="该问题已进入诉讼程序，无法在期限内整改完毕",
        extension_days=30,
    )
    approval = d.task("approve_written_reason")
    assert (approval.role, approval.due_at, approval.stage) == ("deputy_director", DEFAULT_DUE, "整改延期")
    d.complete(
        "approve_written_reason", "deputy", reason_approved=True, granted_days=60, reason_opinion="同意"
    )
    # 30 + 60 = 90 days from 09-23: 2024-12-22, a Sunday → Monday 12-23.
    extended = end_of(date(2024, 12, 23))
    assert d.task("rectify").due_at == extended and d.clock("整改").due_at == extended
    assert d.instance().next_timer_at == extended  # the waiting 督办 timer moved with the clock
    assert d.advance(to=DEFAULT_DUE + timedelta(seconds=2)) == []

    # A second request refused: the deadline stays.
    d.complete(
        "rectify",
        "officer2",
        rectify_status="cannot_close",
        measures_taken="仍在诉讼",
        written_reason="判决尚未生效",
        extension_days=30,
    )
    d.complete("approve_written_reason", "deputy", reason_approved=False, reason_opinion="不同意再延期")
    assert d.task("rectify").due_at == extended
    rectify(d)
    review(d, "accept")
    approve(d)
    assert (d.case().status, d.case().outcome) == ("closed", "销号")


def test_follow_up_check_sustains_the_clearance(seeded) -> None:
    d = register(seeded)
    rectify(d)
    review(d, "accept")
    clock.set(beijing(2024, 10, 10))
    approve(d, follow_up=True)
    assert not d.finished and (d.case().status, d.case().outcome) == ("closed", "销号")
    check = d.task("follow_up_check")
    # 回头看 rule: 3 months after 2024-10-10 → 2025-01-10, a Friday.
    assert (check.role, check.stage, check.due_at) == ("officer", "回头看", end_of(date(2025, 1, 10)))
    d.complete("follow_up_check", "officer1", result="sustained", follow_up_finding="未发现反弹")
    assert d.finished
    case = d.case()
    assert (case.status, case.outcome, case.stage) == ("closed", "销号", "已销号（回头看：整改到位）")


def test_follow_up_check_reopens_the_item(seeded) -> None:
    d = register(seeded)
    rectify(d)
    review(d, "accept")
    approve(d, follow_up=True)
    clock.set(beijing(2024, 12, 2))
    d.complete(
        "follow_up_check",
        "officer1",
        result="relapsed",
        follow_up_finding="又发现超标准收费",
        rectify_deadline="2025-02-28",
    )
    case = d.case()
    assert (case.status, case.stage) == ("open", "整改")
    # The item starts over: new deadline 2025-02-28 (a Friday), assigned again.
    assign = d.task("assign_officer")
    assert assign.due_at == end_of(date(2025, 2, 28))
    assert d.clock("整改").status == "running" and d.clock("整改").due_at == assign.due_at
    d.complete("assign_officer", "chief", responsible_officer="officer3")
    assert d.task("rectify").assignee == "officer3"
    assert d.instance().next_timer_at == end_of(date(2025, 2, 28))
    rectify(d, amount="20000", user="officer3")
    review(d, "accept")
    approve(d)
    case = d.case()
    assert d.finished and (case.status, case.outcome, case.amount_recovered) == (
        "closed",
        "销号",
        Decimal("20000.00"),
    )
