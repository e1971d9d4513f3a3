"""行政协作 (referral_agency): a transfer to the competent department (卫健委 / 市场监管局 / 民政局)
with 移送函, 回执 and result feedback within the configurable 协作反馈 limit (default 30 days);
or 信息抄告, which only copies the case facts to member agencies."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from engine.clock import clock
from engine.errors import NotFoundError
from tests.processes.driver import Driver, beijing, end_of

START = {
    "party_name": "某某大药房",
    "party_type": "institution",
    "suspected_offence": "销售过期药品",
    "amount_involved": "3200",
    "facts": "检查中发现该药房货架上有过期药品",
    "destination": "market_regulation",
}
REFERRAL_NO = "渝北医保移〔2024〕1号"


@pytest.fixture(autouse=True)
def _monday() -> None:
    clock.set(beijing(2024, 9, 23))  # Monday 09:00


def sent(seeded) -> Driver:
    """The letter approved at once and delivered on Tuesday 09-24 10:00."""
    d = Driver.start(seeded, "referral_agency", **START)
    d.complete(
        "prepare_letter", "officer1", letter_content="移送销售过期药品线索", letter_materials="照片.zip"
    )
    d.complete("approve_letter", "chief", decision="approve", letter_opinion="同意")
    clock.set(beijing(2024, 9, 24, 10))
    d.complete("deliver_letter", "officer1", agency_unit="渝北区市场监督管理局", referral_letter="移送函.pdf")
    return d


def test_transfer_with_receipt_and_feedback(seeded) -> None:
    d = Driver.start(seeded, "referral_agency", **START)
    assert (d.case().status, d.case().stage) == ("referred", "行政协作")
    assert d.data()["destination_name"] == "市场监督管理局"
    assert d.task("prepare_letter").role == "officer"
    d.complete("prepare_letter", "officer1", letter_content="初稿", letter_materials="照片.zip")
    assert d.task("approve_letter").role == "section_chief"
    d.complete("approve_letter", "chief", decision="return", letter_opinion="补充检查笔录")
    d.complete(
        "prepare_letter", "officer1", letter_content="移送销售过期药品线索", letter_materials="笔录.pdf"
    )
    d.complete("approve_letter", "chief", decision="approve", letter_opinion="同意")
    assert d.data()["referral_no"] == REFERRAL_NO
    clock.set(beijing(2024, 9, 24, 10))
    d.complete("deliver_letter", "officer1", agency_unit="渝北区市场监督管理局", referral_letter="移送函.pdf")
    # 30 calendar days after 09-24: Thursday 10-24.
    assert d.clock("协作反馈").due_at == end_of(date(2024, 10, 24))
    assert d.accepted_messages() == {"agency_receipt"}
    d.deliver("agency_receipt", correlation_key=REFERRAL_NO, received_by="市场监管局办公室")
    assert d.accepted_messages() == {"agency_feedback"}
    clock.set(beijing(2024, 10, 10, 10))
    d.deliver("agency_feedback", correlation_key=REFERRAL_NO, result="已立案查处，罚款5000元")
    assert d.finished
    case = d.case()
    assert (case.status, case.stage) == ("referred", "移送完毕")
    assert case.outcome == "市场监督管理局反馈：已立案查处，罚款5000元"
    assert d.clock("协作反馈").status == "stopped"


def test_late_feedback_is_urged(seeded) -> None:
    d = sent(seeded)
    d.deliver("agency_receipt", correlation_key=REFERRAL_NO)
    assert d.advance(to=end_of(date(2024, 10, 24)) - timedelta(minutes=1)) == []
    assert d.advance(to=end_of(date(2024, 10, 24)) + timedelta(seconds=2)) == [d.id]
    assert d.task("urge_feedback").role == "section_chief"
    assert d.accepted_messages() == {"agency_feedback"}
    d.complete("urge_feedback", "chief", urge_feedback_note="已发催办函")
    d.deliver("agency_feedback", correlation_key=REFERRAL_NO, result="经查不构成违法")
    assert d.finished


def test_replies_out_of_turn_or_with_a_wrong_number_are_not_delivered(seeded) -> None:
    d = sent(seeded)
    before = d.instance().lock_version
    with pytest.raises(NotFoundError):  # feedback before the receipt: not waited for yet
        d.deliver("agency_feedback", correlation_key=REFERRAL_NO, result="x")
    with pytest.raises(NotFoundError):
        d.deliver("agency_receipt", correlation_key="渝北医保移〔2024〕5号")
    assert d.instance().lock_version == before
    assert d.accepted_messages() == {"agency_receipt"}


def test_information_copy_only(seeded) -> None:
    d = Driver.start(seeded, "referral_agency", cooperation_mode="copy", **START)
    task = d.task("copy_information")
    assert task.role == "officer" and task.stage == "信息抄告"
    d.complete(
        "copy_information",
        "officer1",
        copy_recipients="区卫生健康委员会、区市场监督管理局，区公安分局、区卫生健康委员会",
        copy_content="某某大药房销售过期药品，抄告各成员单位",
    )
    assert d.finished
    assert d.data()["copied_to"] == ["区卫生健康委员会", "区市场监督管理局", "区公安分局"]
    case = d.case()
    assert (case.status, case.stage) == ("closed", "信息抄告")
    assert case.outcome == "已信息抄告：区卫生健康委员会、区市场监督管理局、区公安分局"
    assert d.accepted_messages() == set()
