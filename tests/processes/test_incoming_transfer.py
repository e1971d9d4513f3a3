"""接收移交案件 (incoming_transfer): clues from the 审计局 and non-criminal cases returned by the police
or a court are registered and their materials reviewed within the 移交接收 clock (default 5 working
days). The transfer is then either accepted (受理) and handed to penalty_case at 立案审批 — the one
place where 立案 / 不予立案 is decided — or, with the section chief's approval and a written reason,
returned to the sender (不予受理). A 罚金 already imposed by a court means no fine again (法35)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from engine.clock import clock
from engine.errors import FormValidationError
from engine.models import ProcessInstance, Task
from tests.processes.driver import Driver, beijing, continued_in_penalty_case, end_of
from tests.processes.test_penalty_case import investigate, propose, review

AUDIT = {
    "sender_type": "audit",
    "sender_name": "渝北区审计局",
    "sender_doc_no": "渝北审移〔2024〕2号",
    "party_name": "某某医院",
    "party_type": "institution",
    "suspected_offence": "超标准收费",
    "amount_involved": "45000",
    "facts": "审计发现该院2023年超标准收取诊查费",
    "sender_documents": "审计移送处理书.pdf",
}
COURT = {
    **AUDIT,
    "sender_type": "court",
    "sender_name": "渝北区人民法院",
    "sender_doc_no": "",
    "party_type": "person",
    "party_name": "李某",
    "suspected_offence": "骗取医保基金",
    "court_fined": True,
    "court_fine_amount": "20000",
}
POLICE = {**AUDIT, "sender_type": "police", "sender_name": "渝北区公安分局", "sender_doc_no": ""}
# 5 working days after Monday 09-23: 09-24..09-27 (4), Sunday 09-29 is a 调休 working day (5).
DUE = end_of(date(2024, 9, 29))


@pytest.fixture(autouse=True)
def _monday() -> None:
    clock.set(beijing(2024, 9, 23))  # Monday 09:00


def accepted(seeded, start: dict, **review: object) -> Driver:
    d = Driver.start(seeded, "incoming_transfer", **start)
    d.complete(
        "review_transfer",
        "officer1",
        **{"review_findings": "属于本局管辖，材料齐全", "result": "accept", **review},
    )
    return d


def case_tasks(d: Driver) -> list[tuple[str, str, str]]:
    """(process, task, state) of every task ever opened on d's case, in order."""
    with d.sf() as s:
        query = select(Task).where(Task.case_id == d.instance().case_id).order_by(Task.id)
        return [(t.process_key, t.bpmn_id, t.state) for t in s.scalars(query)]


def test_accepted_transfer_is_decided_once_at_filing_approval(seeded) -> None:
    d = Driver.start(seeded, "incoming_transfer", **AUDIT)
    case = d.case()
    assert (case.status, case.stage, case.number, case.clue_source) == ("clue", "移交审查", None, "transfer")
    assert case.title == "某某医院涉嫌超标准收费（渝北区审计局移交）"
    review_task = d.task("review_transfer")
    assert (review_task.role, review_task.stage, review_task.due_at) == ("officer", "移交审查", DUE)
    assert d.clock("移交接收").due_at == DUE
    d.complete(
        "review_transfer",
        "officer1",
        review_findings="属于本局管辖，材料齐全",
        violation_ended_on="2023-12-31",
        result="accept",
    )
    # 受理 ends the transfer at once: no approval of its own, no 文号 before 立案.
    assert d.finished
    assert d.clock("移交接收").status == "stopped"
    assert d.data()["no_second_fine"] is False
    p = continued_in_penalty_case(d)
    assert p.instance().case_id == d.instance().case_id
    case = d.case()
    assert (case.status, case.stage, case.number, case.outcome) == ("clue", "立案审批", None, "")
    # The chief decides on what the transfer established: the sender's facts and the officer's review.
    filing = p.task_data("decide_filing")
    assert filing["verification"] == (
        "移交机关：渝北区审计局（渝北审移〔2024〕2号）\n移交事项：超标准收费\n"
        "案件情况：审计发现该院2023年超标准收取诊查费\n移交材料审查：属于本局管辖，材料齐全"
    )
    assert filing["limitation_notice"] == "追责时效至 2025-12-31"
    assert filing["court_fined"] is False
    assert p.clock("核查立案").status == "running"

    p.complete(
        "decide_filing", "chief", decision="file", case_cause="超标准收费", decision_opinion="同意立案"
    )
    case = d.case()
    assert (case.status, case.stage, case.number) == ("open", "调查取证", "渝北医保立〔2024〕1号")
    assert case.title == "超标准收费"  # the 案由 entered at 立案审批
    assert p.open_ids() == ["investigate"]
    # One review, one approval: the transfer's officer, then the penalty case's 立案审批.
    assert [t for t in case_tasks(d) if t[2] == "completed"] == [
        ("incoming_transfer", "review_transfer", "completed"),
        ("penalty_case", "decide_filing", "completed"),
    ]


def test_accepted_transfer_may_still_be_not_filed_at_filing_approval(seeded) -> None:
    """A time-barred case returned by the police is accepted, not sent back: 不予立案 is the 负责人's
    decision at 立案审批, where 追责时效 leaves no other (ended 2022-09-01 → 2024-09-02, past)."""
    d = accepted(seeded, POLICE, review_findings="违法行为已超过两年", violation_ended_on="2022-09-01")
    assert d.finished
    p = continued_in_penalty_case(d)
    assert p.task_data("decide_filing")["limitation_notice"] == (
        "已超过追责时效（2024-09-02 届满），依法不再给予行政处罚，只能不予立案"
    )
    p.complete("decide_filing", "chief", decision="no_file", decision_opinion="超过追责时效，不予立案")
    assert p.finished
    case = d.case()
    assert (case.status, case.stage, case.number) == ("not_filed", "不予立案", None)
    assert case.outcome == "不予立案（超过追责时效）"
    assert case.closed_at is not None


def test_returned_by_a_court_that_imposed_a_fine_gets_no_second_fine(seeded) -> None:
    d = accepted(seeded, COURT)
    assert d.finished
    assert d.data()["no_second_fine"] is True
    case = d.case()
    assert (case.status, case.stage, case.number) == ("clue", "立案审批", None)
    assert case.outcome == "人民法院已判处罚金20000.00元，依行政处罚法第35条不再给予罚款"
    assert case.fine is None
    # The 法35 flag travels along to the penalty case: the 立案审批 shows it, a fine is sent back.
    p = continued_in_penalty_case(d)
    filing = p.task_data("decide_filing")
    assert filing["court_fined"] is True
    assert filing["verification"].startswith("移交机关：渝北区人民法院\n")
    assert filing["verification"].endswith("\n人民法院已判处罚金20000.00元，依行政处罚法第35条不再给予罚款")
    p.complete("decide_filing", "chief", decision="file", decision_opinion="同意立案，依法不再罚款")
    investigate(p)
    review(p)
    propose(p, "10000", "20000", article="a41")
    assert p.open_ids() == ["propose_penalty"]
    assert p.data()["range_message"].startswith("人民法院已判处罚金，依行政处罚法第三十五条不再给予罚款")
    propose(p, "0", "20000", article="a41")
    assert p.open_ids() == ["serve_notice"]
    assert p.data()["fine"] == 0


def test_a_court_fine_without_its_amount_is_refused(seeded) -> None:
    """The register script's reject(): a field error on the start form, and no instance."""
    with pytest.raises(FormValidationError) as err:
        Driver.start(seeded, "incoming_transfer", **{**COURT, "court_fine_amount": ""})
    assert err.value.errors == {"court_fine_amount": "人民法院已判处罚金的，请填写罚金金额"}
    with seeded() as s:
        assert s.scalar(select(func.count()).select_from(ProcessInstance)) == 0


def test_transfer_outside_the_bureau_is_returned_with_a_written_reason(seeded) -> None:
    d = Driver.start(seeded, "incoming_transfer", **POLICE)
    d.complete(
        "review_transfer", "officer1", review_findings="当事人不在本区，不属于本局管辖", result="return"
    )
    approval = d.task("approve_return")
    assert (approval.role, approval.stage, approval.due_at) == ("section_chief", "移交审查", DUE)
    assert d.task_data("approve_return")["review_findings"] == "当事人不在本区，不属于本局管辖"
    d.complete(
        "approve_return", "chief", decision="return", return_opinion="不属于本局管辖，请移交渝中区医疗保障局"
    )
    assert d.finished and d.handed_over() == []
    case = d.case()
    assert (case.status, case.stage, case.number) == ("not_filed", "退回移交机关", None)
    assert case.outcome == "不予受理，已退回渝北区公安分局"
    assert case.closed_at is not None
    assert d.data()["return_opinion"] == "不属于本局管辖，请移交渝中区医疗保障局"
    assert d.clock("移交接收").status == "stopped"
    assert case_tasks(d) == [
        ("incoming_transfer", "review_transfer", "completed"),
        ("incoming_transfer", "approve_return", "completed"),
    ]
    with d.sf() as s:
        outcome = s.scalars(select(Task.outcome).where(Task.bpmn_id == "approve_return")).one()
    assert outcome == "return"


def test_return_refused_by_the_chief_is_accepted(seeded) -> None:
    d = Driver.start(seeded, "incoming_transfer", **AUDIT)
    d.complete("review_transfer", "officer1", review_findings="材料不全", result="return")
    d.complete(
        "approve_return", "chief", decision="accept", return_opinion="属本局管辖，缺少的材料立案后调取"
    )
    assert d.finished
    assert d.case().status == "clue"
    p = continued_in_penalty_case(d)
    assert p.task_data("decide_filing")["verification"].endswith(
        "\n移交材料审查：材料不全\n科室负责人意见（不同意退回）：属本局管辖，缺少的材料立案后调取"
    )


def test_late_review_and_late_return_approval_are_supervised(seeded) -> None:
    d = Driver.start(seeded, "incoming_transfer", **POLICE)
    assert d.advance(to=DUE - timedelta(minutes=1)) == []
    assert d.advance(to=DUE + timedelta(seconds=2)) == [d.id]
    assert d.open_ids() == ["review_overdue", "review_transfer"]
    overdue = d.task("review_overdue")
    assert (overdue.role, overdue.priority) == ("section_chief", 90)
    assert d.advance(timedelta(days=1)) == []  # fires once
    d.complete("review_overdue", "chief", review_overdue_instruction="今日内完成审查")
    d.complete("review_transfer", "officer1", review_findings="不属于本局管辖", result="return")
    # The clock has already expired: the approval's own timer fires as soon as the task is ready.
    assert d.open_ids() == ["approve_return", "return_overdue"]
    overdue = d.task("return_overdue")
    assert (overdue.role, overdue.priority) == ("deputy_director", 90)
    d.complete("return_overdue", "deputy", return_overdue_instruction="尽快审批")
    d.complete("approve_return", "chief", decision="return", return_opinion="不属于本局管辖")
    assert d.finished and d.case().status == "not_filed"


def test_late_review_then_accepted_leaves_no_timer_behind(seeded) -> None:
    d = Driver.start(seeded, "incoming_transfer", **AUDIT)
    assert d.advance(to=DUE + timedelta(seconds=2)) == [d.id]
    d.complete("review_transfer", "officer1", review_findings="材料齐全", result="accept")
    assert d.open_ids() == ["review_overdue"]  # the 督办 task stays until the chief has answered it
    d.complete("review_overdue", "chief", review_overdue_instruction="已受理")
    assert d.finished and d.instance().next_timer_at is None
    continued_in_penalty_case(d)
