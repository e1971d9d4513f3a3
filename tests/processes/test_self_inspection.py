"""自查自纠 (self_inspection): a campaign over three institutions — a normal report with a refund,
a zero report cleared by 回头看, no report where 回头看 finds concealment (转立案查处, aggravated) —
the totals and the campaign's case record, and the campaign deadline raising a 督办 task."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from engine import instances, tasks
from engine.clock import clock
from engine.db import unit_of_work
from engine.models import ProcessInstance, Task
from engine.users import SYSTEM, actor_for
from engine.workflow import runtime
from tests.processes.driver import Driver, beijing, continued_in_penalty_case, end_of

# Monday 2024-09-23 09:00 Beijing. The default 自查自纠 clock is 60 calendar days: 2024-11-22, a Friday.
START = beijing(2024, 9, 23)
DEFAULT_DUE = end_of(date(2024, 11, 22))

CAMPAIGN: dict[str, Any] = {
    "campaign_title": "2024年定点医药机构医保基金使用自查自纠",
    "problem_list": "1. 超标准收费\n2. 串换药品、耗材\n3. 虚记、多记费用",
    "period_start": "2023-01-01",
    "period_end": "2023-12-31",
    # One per line, or separated by 、/，; blank lines and repeats are ignored.
    "institution_list": "甲医院\n乙药房、丙诊所\n\n甲医院",
}


@pytest.fixture(autouse=True)
def _start_clock() -> None:
    clock.set(START)


def by_institution(d: Driver, bpmn_id: str) -> dict[str, Task]:
    """The open tasks of a multi-instance step, keyed by the institution each one is about."""
    open_ = d.tasks_named(bpmn_id)
    with d.sf() as s:
        loaded = instances.load(s, s.get(ProcessInstance, d.id), SYSTEM)
        out = {}
        for task in open_:
            spiff_task = runtime.find_task(loaded.workflow, task.spiff_task_id)
            assert spiff_task is not None
            out[str(spiff_task.data["institution"])] = task
        return out


def complete_for(d: Driver, bpmn_id: str, institution: str, user: str, **data: Any) -> None:
    task = by_institution(d, bpmn_id)[institution]
    with unit_of_work(d.sf) as s:
        tasks.complete(s, task.id, actor=actor_for(s, user), data=data)


def test_campaign_with_three_institutions(seeded) -> None:
    d = Driver.start(seeded, "self_inspection", "chief", **CAMPAIGN)
    case = d.case()
    assert (case.party_name, case.party_type, case.status, case.stage, case.title) == (
        "自查自纠活动",
        "campaign",
        "open",
        "自查自纠",
        CAMPAIGN["campaign_title"],
    )
    assert d.clock("自查自纠").due_at == DEFAULT_DUE
    reports = by_institution(d, "record_report")
    assert sorted(reports) == ["丙诊所", "乙药房", "甲医院"]
    assert {(t.role, t.due_at, t.stage) for t in reports.values()} == {("officer", DEFAULT_DUE, "自查自纠")}
    assert d.instance().next_timer_at == DEFAULT_DUE  # the campaign deadline

    # 甲医院: a normal report with a refund (194.40 万元, the refund seed 000 reports for the year).
    clock.set(beijing(2024, 10, 15))
    complete_for(
        d,
        "record_report",
        "甲医院",
        "officer1",
        report_type="normal",
        problems_found="超标准收取诊查费",
        refund_amount="1944000.00",
        self_report_file="甲医院自查报告.pdf",
        refund_evidence="退款凭证.pdf",
    )
    # 乙药房: a zero report → 回头看, due 3 months later (2025-01-16, a Thursday).
    clock.set(beijing(2024, 10, 16))
    complete_for(d, "record_report", "乙药房", "officer2", report_type="zero")
    follow_up = by_institution(d, "follow_up_inspection")
    assert list(follow_up) == ["乙药房"]
    assert (follow_up["乙药房"].role, follow_up["乙药房"].due_at) == ("officer", end_of(date(2025, 1, 16)))
    # 丙诊所: no report → 回头看, due 2025-02-20 (a Thursday).
    clock.set(beijing(2024, 11, 20))
    complete_for(d, "record_report", "丙诊所", "officer3", report_type="none")
    assert by_institution(d, "follow_up_inspection")["丙诊所"].due_at == end_of(date(2025, 2, 20))

    complete_for(
        d, "follow_up_inspection", "乙药房", "officer1", result="clean", follow_up_finding="未发现问题"
    )
    assert not d.tasks_named("campaign_summary")  # 丙诊所 is still open
    complete_for(
        d,
        "follow_up_inspection",
        "丙诊所",
        "officer2",
        result="concealed",
        follow_up_finding="隐瞒串换药品问题",
        concealed_amount="80000",
    )

    summary = d.task("campaign_summary")
    assert (summary.role, summary.due_at) == ("section_chief", DEFAULT_DUE)
    data = d.data()
    assert data["refund_total"] == Decimal("1944000.00")
    assert (data["institution_count"], data["normal_count"], data["zero_count"], data["missing_count"]) == (
        3,
        1,
        1,
        1,
    )
    assert (data["referred_count"], data["referred_institutions"]) == (1, "丙诊所")
    results = data["institution_reports"]
    assert results["丙诊所"]["outcome"] == "转立案" and results["丙诊所"]["aggravated"] is True
    assert results["丙诊所"]["concealed_amount"] == Decimal("80000.00")
    # 丙诊所 has its own penalty case, aggravated: only the 从重 band passes the range check.
    p = continued_in_penalty_case(d)
    assert p.instance().case_id != d.instance().case_id
    assert (p.case().party_name, p.case().amount_involved) == ("丙诊所", Decimal("80000.00"))
    assert p.data()["aggravated"] is True
    assert results["乙药房"]["outcome"] == "自查完成" and results["乙药房"]["follow_up"] == "未发现问题"
    assert results["甲医院"]["refund_amount"] == Decimal("1944000.00")
    assert d.instance().next_timer_at is None  # all institutions done before the deadline

    d.complete("campaign_summary", "chief", campaign_conclusion="三家机构已完成自查自纠，一家转立案查处")
    assert d.finished
    case = d.case()
    assert (case.status, case.outcome, case.stage) == ("closed", "自查自纠完成", "已办结")
    assert case.amount_recovered == Decimal("1944000.00")  # 194.40 万元
    assert d.clock("自查自纠").status == "stopped"


def test_campaign_deadline_raises_supervision(seeded) -> None:
    # The deadline is set at publication: 2024-10-31, a Thursday.
    d = Driver.start(seeded, "self_inspection", "chief", **CAMPAIGN, campaign_deadline="2024-10-31")
    deadline = end_of(date(2024, 10, 31))
    assert {t.due_at for t in d.tasks_named("record_report")} == {deadline}
    complete_for(d, "record_report", "甲医院", "officer1", report_type="normal", refund_amount="300")

    assert d.advance(to=beijing(2024, 10, 31, 23, 59)) == []
    assert d.advance(to=deadline + timedelta(seconds=2)) == [d.id]
    overdue = d.task("campaign_overdue")
    assert (overdue.role, overdue.priority) == ("section_chief", 90)
    assert len(d.tasks_named("record_report")) == 2  # the officers' work goes on
    assert d.advance(timedelta(days=1)) == []  # fires once
    d.complete("campaign_overdue", "chief", overdue_instruction="对未报送机构登记未报告并开展回头看")
    assert d.open_ids() == ["record_report", "record_report"]

    complete_for(d, "record_report", "乙药房", "officer2", report_type="normal", refund_amount="200.50")
    complete_for(d, "record_report", "丙诊所", "officer3", report_type="normal")
    assert d.data()["refund_total"] == Decimal("500.50")
    d.complete("campaign_summary", "chief", campaign_conclusion="逾期后全部完成")
    assert d.finished
    assert (d.case().status, d.case().amount_recovered) == ("closed", Decimal("500.50"))


def test_a_past_deadline_falls_back_to_the_default(seeded) -> None:
    d = Driver.start(seeded, "self_inspection", "chief", **CAMPAIGN, campaign_deadline="2024-09-01")
    assert d.clock("自查自纠").due_at == DEFAULT_DUE
    assert d.data()["institution_count"] == 3
