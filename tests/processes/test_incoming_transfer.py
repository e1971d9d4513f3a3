"""接收移交案件 (incoming_transfer): clues from the 审计局 and non-criminal cases returned by the police
or a court are registered, reviewed and filed (立案) or not within the 移交接收 clock (default 5
working days); a 罚金 already imposed by a court means no fine again (行政处罚法第35条)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from engine.clock import clock
from engine.errors import WorkflowScriptError
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
    "party_type": "person",
    "party_name": "李某",
    "suspected_offence": "骗取医保基金",
    "court_fined": True,
    "court_fine_amount": "20000",
}
# 5 working days after Monday 09-23: 09-24..09-27 (4), Sunday 09-29 is a 调休 working day (5).
DUE = end_of(date(2024, 9, 29))


@pytest.fixture(autouse=True)
def _monday() -> None:
    clock.set(beijing(2024, 9, 23))  # Monday 09:00


def reviewed(seeded, start: dict) -> Driver:
    d = Driver.start(seeded, "incoming_transfer", **start)
    d.complete(
        "review_transfer", "officer1", review_findings="属于本局管辖，材料齐全", review_suggestion="file"
    )
    return d


def test_audit_clue_accepted(seeded) -> None:
    d = Driver.start(seeded, "incoming_transfer", **AUDIT)
    case = d.case()
    assert (case.status, case.stage, case.number) == ("clue", "移交接收", None)
    assert case.title == "某某医院涉嫌超标准收费（渝北区审计局移交）"
    review = d.task("review_transfer")
    assert review.role == "officer" and review.due_at == DUE
    assert d.clock("移交接收").due_at == DUE
    d.complete(
        "review_transfer", "officer1", review_findings="属于本局管辖，材料齐全", review_suggestion="file"
    )
    decide = d.task("decide_acceptance")
    assert decide.role == "section_chief" and decide.due_at == DUE
    d.complete(
        "decide_acceptance", "chief", decision="file", case_cause="超标准收费", decision_opinion="同意立案"
    )
    assert d.finished
    # The case continues in the penalty procedure at 立案审批, keeping its number and title.
    p = continued_in_penalty_case(d)
    assert p.instance().case_id == d.instance().case_id
    case = d.case()
    assert (case.status, case.stage, case.number) == ("clue", "立案审批", "渝北医保立〔2024〕1号")
    assert case.outcome == ""
    assert p.data()["court_fined"] is False
    assert case.title == "超标准收费"  # the 案由 entered at 立案审批
    assert d.data()["no_second_fine"] is False
    assert d.clock("移交接收").status == "stopped"


def test_returned_by_a_court_that_imposed_a_fine_gets_no_second_fine(seeded) -> None:
    d = reviewed(seeded, COURT)
    d.complete("decide_acceptance", "chief", decision="file", decision_opinion="同意立案，依法不再罚款")
    assert d.finished
    assert d.data()["no_second_fine"] is True
    case = d.case()
    assert (case.status, case.stage, case.number) == ("clue", "立案审批", "渝北医保立〔2024〕1号")
    assert case.outcome == "人民法院已判处罚金20000.00元，依行政处罚法第35条不再给予罚款"
    assert case.fine is None
    # In the penalty case the 法35 flag travels along: a proposed fine is sent back for revision.
    p = continued_in_penalty_case(d)
    p.complete("decide_filing", "chief", decision="file", decision_opinion="同意立案")
    investigate(p)
    review(p)
    propose(p, "10000", "20000", article="a41")
    assert p.open_ids() == ["propose_penalty"]
    assert p.data()["range_message"].startswith("人民法院已判处罚金，依行政处罚法第三十五条不再给予罚款")
    propose(p, "0", "20000", article="a41")
    assert p.open_ids() == ["serve_notice"]
    assert p.data()["fine"] == 0


def test_a_court_fine_without_its_amount_is_refused(seeded) -> None:
    with pytest.raises(WorkflowScriptError) as err:
        Driver.start(seeded, "incoming_transfer", **{**COURT, "court_fine_amount": ""})
    assert "请填写罚金金额" in str(err.value)


def test_case_returned_by_the_police_rejected(seeded) -> None:
    police = {**AUDIT, "sender_type": "police", "sender_name": "渝北区公安分局"}
    d = Driver.start(seeded, "incoming_transfer", **police)
    d.complete("review_transfer", "officer1", review_findings="已超过追责时效", review_suggestion="no_file")
    d.complete("decide_acceptance", "chief", decision="no_file", decision_opinion="超过追责时效")
    assert d.finished
    case = d.case()
    assert (case.status, case.stage, case.number) == ("not_filed", "不予立案", None)
    assert case.outcome == "移交案件不予立案：超过追责时效"
    assert case.closed_at is not None


def test_late_review_and_late_decision_are_supervised(seeded) -> None:
    d = Driver.start(seeded, "incoming_transfer", **AUDIT)
    assert d.advance(to=DUE - timedelta(minutes=1)) == []
    assert d.advance(to=DUE + timedelta(seconds=2)) == [d.id]
    assert d.open_ids() == ["review_overdue", "review_transfer"]
    assert d.task("review_overdue").role == "section_chief"
    d.complete("review_overdue", "chief", review_overdue_instruction="今日内完成审查")
    d.complete("review_transfer", "officer1", review_findings="材料齐全", review_suggestion="file")
    # The clock has already expired: the decision's own timer fires as soon as the task is ready.
    assert d.open_ids() == ["acceptance_overdue", "decide_acceptance"]
    assert d.task("acceptance_overdue").role == "deputy_director"
    d.complete("acceptance_overdue", "deputy", acceptance_overdue_instruction="尽快决定")
    d.complete("decide_acceptance", "chief", decision="file", decision_opinion="同意立案")
    assert d.finished and d.case().status == "clue"  # until 立案审批 in the penalty case
    continued_in_penalty_case(d)
