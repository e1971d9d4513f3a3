"""行纪移送 (referral_discipline): a public official's suspected misconduct goes to the 派驻纪检监察组;
the bureau waits for feedback within the configurable 纪检反馈 limit (default 30 calendar days)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from engine.clock import clock
from engine.errors import NotFoundError
from tests.processes.driver import Driver, beijing, end_of

START = {
    "party_name": "某某医院",
    "party_type": "institution",
    "official_name": "张某",
    "official_position": "区医保中心稽核员",
    "misconduct_type": "corruption",
    "suspected_offence": "收受定点医院财物，放任违规结算",
    "amount_involved": "20000",
    "facts": "稽核中发现张某多次收受该院财物",
}
REFERRAL_NO = "渝北医保移〔2024〕1号"


@pytest.fixture(autouse=True)
def _monday() -> None:
    clock.set(beijing(2024, 9, 23))  # Monday 09:00


def approved(seeded) -> Driver:
    d = Driver.start(seeded, "referral_discipline", **START)
    d.complete(
        "prepare_materials", "officer1", clue_summary="张某收受财物线索", evidence_materials="证据.pdf"
    )
    d.complete("approve_referral", "director", decision="approve", approval_opinion="同意移送")
    return d


def delivered(seeded) -> Driver:
    """Delivered on Tuesday 09-24 10:00."""
    d = approved(seeded)
    clock.set(beijing(2024, 9, 24, 10))
    d.complete("deliver_referral", "officer1", referral_letter="移送函.pdf")
    return d


def test_feedback_in_time(seeded) -> None:
    d = Driver.start(seeded, "referral_discipline", case_number="渝北医保立〔2024〕3号", **START)
    case = d.case()
    assert (case.status, case.stage) == ("referred", "行纪移送审批")
    assert case.title == "渝北医保立〔2024〕3号 张某（区医保中心稽核员）涉嫌收受定点医院财物，放任违规结算"
    assert d.task("prepare_materials").role == "officer"
    d.complete(
        "prepare_materials", "officer1", clue_summary="张某收受财物线索", evidence_materials="证据.pdf"
    )
    assert d.task("approve_referral").role == "director"
    d.complete("approve_referral", "director", decision="approve", approval_opinion="同意移送")
    assert d.data()["referral_no"] == REFERRAL_NO
    clock.set(beijing(2024, 9, 24, 10))
    d.complete("deliver_referral", "officer1", referral_letter="移送函.pdf")
    assert d.data()["discipline_unit"] == "派驻纪检监察组"  # the form's default
    # 30 calendar days after 09-24: Thursday 10-24.
    assert d.clock("纪检反馈").due_at == end_of(date(2024, 10, 24))
    assert d.case().stage == "等待纪检监察反馈"
    assert "discipline_feedback" in d.accepted_messages()
    clock.set(beijing(2024, 10, 15, 10))
    d.deliver("discipline_feedback", correlation_key=REFERRAL_NO, result="已对张某立案审查调查")
    assert d.clock("纪检反馈").status == "stopped"
    task = d.task("record_outcome")
    assert task.role == "officer" and task.stage == "行纪移送"
    assert d.data()["feedback_text"] == "已对张某立案审查调查"
    d.complete("record_outcome", "officer1", discipline_result="investigated", feedback_document="反馈函.pdf")
    assert d.finished
    case = d.case()
    assert (case.status, case.stage) == ("referred", "移送完毕")
    assert case.outcome == "纪检监察机关处理结果：立案审查调查"


def test_late_feedback_is_followed_up(seeded) -> None:
    d = delivered(seeded)
    assert d.advance(to=end_of(date(2024, 10, 24)) - timedelta(minutes=1)) == []
    assert d.advance(to=end_of(date(2024, 10, 24)) + timedelta(seconds=2)) == [d.id]
    assert d.task("urge_feedback").role == "section_chief"
    assert "discipline_feedback" in d.accepted_messages()
    d.complete("urge_feedback", "chief", urge_feedback_note="已电话询问，纪检组称正在核查")
    d.deliver("discipline_feedback", correlation_key=REFERRAL_NO, result="予以诫勉谈话")
    d.complete("record_outcome", "officer1", discipline_result="admonished")
    assert d.finished
    assert d.case().outcome == "纪检监察机关处理结果：批评教育、诫勉谈话"


def test_refused_referral_is_recorded(seeded) -> None:
    d = Driver.start(seeded, "referral_discipline", **START)
    d.complete("prepare_materials", "officer1", clue_summary="线索", evidence_materials="证据.pdf")
    d.complete("approve_referral", "director", decision="refuse", approval_opinion="线索不实，不予移送")
    assert d.finished
    case = d.case()
    assert (case.status, case.outcome) == ("open", "不予移送纪检监察机关：线索不实，不予移送")


def test_feedback_with_a_wrong_number_is_not_delivered(seeded) -> None:
    d = delivered(seeded)
    before = d.instance().lock_version
    with pytest.raises(NotFoundError):
        d.deliver("discipline_feedback", correlation_key="渝北医保移〔2024〕2号", result="x")
    assert d.instance().lock_version == before
    assert d.open_ids() == [] and d.clock("纪检反馈").status == "running"
