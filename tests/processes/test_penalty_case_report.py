"""举报受理 in penalty_case: a report from the public page (it carries a 受理编号) waits for the
acceptance decision within the 举报受理 clock (default 5 working days) before 核查; not accepted ends
the clue; a late decision raises a 督办 task for the section chief. Clues registered by an officer
(no 受理编号) go straight to 核查, as before."""

from __future__ import annotations

from datetime import date

import pytest

from engine.clock import clock
from tests.processes.driver import Driver, beijing, end_of

REPORT = {
    "clue_source": "report",
    "party_name": "某某大药房",
    "party_type": "institution",
    "clue_summary": "【举报 YUBEI-JB2024-00001】串换药品：用医保卡刷保健品",
    "report_receipt": "YUBEI-JB2024-00001",
}
# 5 working days after Monday 09-23: 09-24..09-27 (4), Sunday 09-29 is a 调休 working day (5).
DUE = end_of(date(2024, 9, 29))


@pytest.fixture(autouse=True)
def _monday() -> None:
    clock.set(beijing(2024, 9, 23))


def test_accepted_report_goes_to_verification(seeded) -> None:
    d = Driver.start(seeded, "penalty_case", **REPORT)
    task = d.task("accept_report")
    assert (task.role, task.due_at) == ("officer", DUE)
    assert d.case().stage == "举报受理" and d.clock("举报受理").due_at == DUE
    d.complete("accept_report", "officer1", report_acceptance="accept", report_opinion="属本局管辖，予以受理")
    assert d.open_ids() == ["verify_clue"]
    assert d.clock("举报受理").status == "stopped"
    assert d.case().stage == "线索核查"


def test_report_not_accepted_ends_the_clue(seeded) -> None:
    d = Driver.start(seeded, "penalty_case", **REPORT)
    d.complete(
        "accept_report", "officer1", report_acceptance="reject", report_opinion="不属于医保基金监管范围"
    )
    assert d.finished
    case = d.case()
    assert (case.status, case.stage) == ("not_filed", "不予受理")
    assert case.outcome == "举报不予受理：不属于医保基金监管范围"
    assert d.clock("核查立案").status == "stopped"


def test_late_acceptance_raises_a_supervision_task_once(seeded) -> None:
    d = Driver.start(seeded, "penalty_case", **REPORT)
    assert d.advance(to=beijing(2024, 9, 29, 23, 0)) == []
    assert d.advance(to=beijing(2024, 9, 30, 9)) == [d.id]
    assert d.open_ids() == ["accept_report", "report_overdue"]
    assert d.task("report_overdue").role == "section_chief"
    d.complete("report_overdue", "chief", report_overdue_instruction="今日内作出受理决定")
    assert d.advance(to=beijing(2024, 10, 8, 9)) == []
    d.complete("accept_report", "officer1", report_acceptance="accept", report_opinion="予以受理")
    assert d.open_ids() == ["verify_clue"]


def test_a_clue_registered_by_an_officer_skips_acceptance(seeded) -> None:
    d = Driver.start(seeded, "penalty_case", **{**REPORT, "report_receipt": ""})
    assert d.open_ids() == ["verify_clue"]
