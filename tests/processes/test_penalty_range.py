"""裁量范围 (penalty_range.dmn) at 拟定处罚: a fine above the 从重 band, the highest the table allows,
is sent back for revision like any fine out of range; a case handed over as aggravated (自查自纠中
隐瞒问题) must use the 从重 band, and within it still the band's ceiling holds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine import instances
from engine.clock import clock
from engine.db import unit_of_work
from engine.users import actor_for
from tests.processes.driver import Driver
from tests.processes.test_penalty_case import CLUE, START, filed, investigate, propose, review

HEAVY_A40 = (
    "条例第四十条（从重）：骗取金额4.0至5.0倍：罚款应在 200000.00 元至 250000.00 元之间；"
    "暂停期限 6至12 个月（不暂停填0）"
)


@pytest.fixture(autouse=True)
def _frozen() -> None:
    clock.set(START)


def at_proposal(d: Driver) -> Driver:
    investigate(d)
    review(d)
    return d


def aggravated_case(seeded) -> Driver:
    """A penalty case handed over at 立案审批 with the 从重 flag (as self_inspection does), filed."""
    with unit_of_work(seeded) as s:
        instance = instances.start(
            s,
            "penalty_case",
            actor=actor_for(s, "chief"),
            variables={**CLUE, "clue_source": "inspection"},
            handover={"entry": "filing", "aggravated": True, "facts": "回头看发现隐瞒串换药品问题"},
        )
        d = Driver(seeded, instance.id)
    assert d.open_ids() == ["decide_filing"]
    d.complete("decide_filing", "chief", decision="file", decision_opinion="同意立案，从重处罚")
    return at_proposal(d)


def test_fine_above_the_heavy_band_is_refused(seeded) -> None:
    d = at_proposal(filed(seeded))
    propose(d, "250000.01", "50000", band="heavy")  # 条例40 从重: at most 5 × 50 000
    assert d.open_ids() == ["propose_penalty"]
    assert d.data()["range_message"] == HEAVY_A40
    propose(d, "250000", "50000", band="heavy")  # the ceiling itself is allowed
    assert d.open_ids() == ["serve_notice"]
    assert d.data()["fine"] == Decimal("250000.00")


def test_fixed_amount_above_the_heavy_band_is_refused(seeded) -> None:
    d = at_proposal(filed(seeded))
    propose(d, "50001", "0", article="a39", band="heavy")  # 条例39 从重: 40 000 – 50 000 元
    assert d.open_ids() == ["propose_penalty"]
    assert d.data()["range_message"] == (
        "条例第三十九条（从重）：40000元至50000元：罚款应在 40000.00 元至 50000.00 元之间；本条款不适用暂停"
    )
    propose(d, "50000", "0", article="a39", band="heavy")
    assert d.open_ids() == ["serve_notice"]


def test_aggravated_case_needs_the_heavy_band_and_stays_within_it(seeded) -> None:
    d = aggravated_case(seeded)
    assert d.data()["aggravated"] is True
    propose(d, "200000", "50000", band="normal")  # the 一般 band's ceiling, but not 从重
    assert d.open_ids() == ["propose_penalty"]
    assert d.data()["range_message"] == (
        "自查自纠中隐瞒问题，应从重处罚：裁量档次应为「从重」；"
        "条例第四十条（一般）：骗取金额3.0至4.0倍：罚款应在 150000.00 元至 200000.00 元之间；"
        "暂停期限 6至12 个月（不暂停填0）"
    )
    propose(d, "300000", "50000", band="heavy")  # 从重, but beyond it
    assert d.open_ids() == ["propose_penalty"]
    assert d.data()["range_message"] == HEAVY_A40
    propose(d, "220000", "50000", band="heavy")
    assert d.open_ids() == ["serve_notice"]
    assert d.data()["fine"] == Decimal("220000.00")
