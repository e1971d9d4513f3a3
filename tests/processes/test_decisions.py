"""The decision tables of the penalty case, row by row at their boundaries, evaluated by the DMN
engine through the expression sandbox; and a changed table, deployed as a new version, routing new
cases differently while a case already running keeps the version it started with."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine import functions, registry
from engine.calendar import WorkCalendar
from engine.clock import clock
from engine.clocks import ClockBook
from engine.db import unit_of_work
from engine.workflow.parser import YbjgParser, parse_xml
from engine.workflow.sandbox import make_script_engine
from tests.processes.driver import Driver, beijing

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
CASE: dict[str, Any] = {
    "party_type": "institution",
    "fine": Decimal("0"),
    "amount_recovered": Decimal("0"),
    "suspension_months": 0,
    "terminate_agreement": False,
    "hearing_held": False,
    "complex": False,
}


@dataclass
class _Workflow:
    script_engine: Any


@dataclass
class _Task:
    """What Spiff's DMN engine reads from a task: its data and its workflow's script engine."""

    data: dict[str, Any]
    workflow: _Workflow = field(
        default_factory=lambda: _Workflow(
            make_script_engine(helpers=functions.build(ClockBook(WorkCalendar(), {}, "test")))
        )
    )


def decide(decision: str, **data: Any) -> dict[str, Any]:
    parser = YbjgParser()
    parser.add_dmn_xml(parse_xml((BPMN_DIR / f"{decision}.dmn").read_bytes()), filename=f"{decision}.dmn")
    return dict(parser.get_engine(decision, None).result(_Task(dict(data))))


@pytest.mark.parametrize(
    ("inputs", "required", "reason"),
    [
        ({"party_type": "person", "fine": Decimal("9999.99")}, False, "未达到法制审核标准"),
        ({"party_type": "person", "fine": Decimal("10000")}, True, "对个人罚款1万元以上"),
        ({"fine": Decimal("299999.99")}, False, "未达到法制审核标准"),
        ({"fine": Decimal("300000")}, True, "对单位罚款30万元以上"),
        ({"party_type": "person", "amount_recovered": Decimal("10000")}, True, "涉及个人退回基金1万元以上"),
        ({"amount_recovered": Decimal("299999.99")}, False, "未达到法制审核标准"),
        ({"amount_recovered": Decimal("300000")}, True, "涉及单位退回基金30万元以上"),
        ({"suspension_months": 2}, False, "未达到法制审核标准"),
        ({"suspension_months": 3}, True, "拟暂停医药服务或联网结算3个月以上"),
        ({"terminate_agreement": True}, True, "拟解除医保服务协议"),
        ({"hearing_held": True, "fine": Decimal("300000")}, True, "经过听证的案件"),  # first hit
        ({"complex": True}, True, "案情复杂或者涉及多个法律关系"),
    ],
)
def test_legal_review_required(inputs: dict[str, Any], required: bool, reason: str) -> None:
    out = decide("legal_review_required", **(CASE | inputs))
    assert out == {"legal_review_required": required, "legal_review_reason": reason}


@pytest.mark.parametrize(
    ("inputs", "required", "reason"),
    [
        ({}, False, "无需集体讨论"),
        ({"complex": True}, True, "情节复杂或者重大违法行为"),
        ({"terminate_agreement": True}, True, "拟解除医保服务协议"),
        ({"hearing_held": True}, True, "经过听证的案件"),
        ({"party_type": "person", "fine": Decimal("49999.99")}, False, "无需集体讨论"),
        ({"party_type": "person", "fine": Decimal("50000")}, True, "对个人罚款5万元以上"),
        ({"fine": Decimal("499999.99")}, False, "无需集体讨论"),
        ({"fine": Decimal("500000")}, True, "对单位罚款50万元以上"),
        ({"amount_recovered": Decimal("999999.99")}, False, "无需集体讨论"),
        ({"amount_recovered": Decimal("1000000")}, True, "涉及医保基金100万元以上"),
        ({"suspension_months": 5}, False, "无需集体讨论"),
        ({"suspension_months": 6}, True, "拟暂停医药服务或联网结算6个月以上"),
    ],
)
def test_collective_discussion_required(inputs: dict[str, Any], required: bool, reason: str) -> None:
    out = decide("collective_discussion_required", **(CASE | inputs))
    assert out == {"collective_discussion_required": required, "discussion_reason": reason}


@pytest.mark.parametrize(
    ("inputs", "rights", "reason"),
    [
        ({"party_type": "person", "fine": Decimal("4999.99")}, False, "不属于听证范围"),
        (
            {"party_type": "person", "fine": Decimal("5000")},
            True,
            "对个人处5000元以上罚款，当事人有权要求听证",
        ),
        ({"fine": Decimal("99999.99")}, False, "不属于听证范围"),
        ({"fine": Decimal("100000")}, True, "对单位处10万元以上罚款，当事人有权要求听证"),
        ({"suspension_months": 1}, True, "拟暂停医药服务或联网结算，当事人有权要求听证"),
        ({"terminate_agreement": True}, True, "拟解除医保服务协议，当事人有权要求听证"),
    ],
)
def test_hearing_rights(inputs: dict[str, Any], rights: bool, reason: str) -> None:
    out = decide("hearing_rights", **(CASE | inputs))
    assert out == {"hearing_rights": rights, "hearing_reason": reason}


@pytest.mark.parametrize(
    ("party", "article", "band", "multiples", "amounts", "months"),
    [
        ("institution", "a38", "light", (1.0, 1.3), (None, None), (6, 12)),
        ("institution", "a38", "normal", (1.3, 1.7), (None, None), (6, 12)),
        ("institution", "a38", "heavy", (1.7, 2.0), (None, None), (6, 12)),
        ("institution", "a39", "light", (None, None), (10000, 20000), (0, 0)),
        ("institution", "a39", "normal", (None, None), (20000, 40000), (0, 0)),
        ("institution", "a39", "heavy", (None, None), (40000, 50000), (0, 0)),
        ("institution", "a40", "light", (2.0, 3.0), (None, None), (6, 12)),
        ("institution", "a40", "normal", (3.0, 4.0), (None, None), (6, 12)),
        ("institution", "a40", "heavy", (4.0, 5.0), (None, None), (6, 12)),
        ("person", "a41", "light", (2.0, 3.0), (None, None), (3, 12)),
        ("person", "a41", "normal", (3.0, 4.0), (None, None), (3, 12)),
        ("person", "a41", "heavy", (4.0, 5.0), (None, None), (3, 12)),
    ],
)
def test_penalty_range(
    party: str,
    article: str,
    band: str,
    multiples: tuple[float | None, float | None],
    amounts: tuple[int | None, int | None],
    months: tuple[int, int],
) -> None:
    out = decide("penalty_range", party_type=party, penalty_article=article, penalty_band=band)
    assert out["range_applicable"] is True
    assert (out["min_multiple"], out["max_multiple"]) == multiples
    assert (out["min_amount"], out["max_amount"]) == amounts
    assert (out["suspension_min"], out["suspension_max"]) == months
    assert out["range_basis"].startswith("条例第")


@pytest.mark.parametrize(("party", "article"), [("person", "a40"), ("institution", "a41"), ("person", "a38")])
def test_penalty_range_article_not_applicable(party: str, article: str) -> None:
    out = decide("penalty_range", party_type=party, penalty_article=article, penalty_band="normal")
    assert out["range_applicable"] is False
    assert out["range_basis"] == "所选条款不适用于该类当事人，请重新选择适用条款"


@pytest.mark.parametrize(
    ("party", "kind", "fine", "allowed"),
    [
        ("person", "fine", Decimal("200"), True),
        ("person", "fine", Decimal("200.01"), False),
        ("institution", "fine", Decimal("3000"), True),
        ("institution", "fine", Decimal("3000.01"), False),
        ("institution", "warning", Decimal("0"), True),
    ],
)
def test_simple_procedure(party: str, kind: str, fine: Decimal, allowed: bool) -> None:
    out = decide("simple_procedure", party_type=party, onsite_penalty_kind=kind, onsite_fine=fine)
    assert out["simple_allowed"] is allowed


# --- a changed table is a new version; running cases keep theirs ------------------------------
def to_legal_check(d: Driver) -> None:
    """A 25 万 fine to an organisation (条例40 一般档, 3–4 × 70 000), the party waiving its rights:
    the next step is the 复核 after which the 法制审核 table is read."""
    d.complete("verify_clue", "officer1", verification="核查", suggestion="file")
    d.complete("decide_filing", "chief", decision="file", decision_opinion="同意立案")
    d.complete(
        "investigate",
        "officer1",
        investigators="officer1,officer2",
        evidence_list="清单",
        investigation_step="report",
    )
    d.complete(
        "investigation_report",
        "officer1",
        facts="骗取医保基金",
        amount_confirmed="70000",
        report_suggestion="penalise",
    )
    d.complete("review_case", "chief", review_outcome="penalise", review_opinion="同意")
    d.complete(
        "propose_penalty",
        "officer1",
        penalty_article="a40",
        penalty_band="normal",
        proposed_recovery="70000",
        proposed_fine="250000",
        proposed_penalty="责令退回70000元，罚款250000元",
        legal_basis="条例第四十条",
    )
    d.complete("serve_notice", "officer1", notice_service_method="direct")
    d.complete("record_party_response", "officer1", party_response="waived")


def consider(d: Driver) -> None:
    d.complete(
        "consider_arguments",
        "officer1",
        arguments_adopted="none",
        revised_fine="250000",
        consideration_note="无",
    )


def test_changed_threshold_routes_new_cases_only(seeded) -> None:
    clock.set(beijing(2024, 9, 23, 10))
    clue = {
        "clue_source": "smart",
        "party_name": "某某医院",
        "party_type": "institution",
        "clue_summary": "虚构诊疗项目",
        "amount_involved": "70000",
    }
    earlier = Driver.start(seeded, "penalty_case", "officer1", **clue)
    to_legal_check(earlier)

    # The process owner lowers the organisation threshold for 法制审核 from 30 万 to 20 万.
    path = BPMN_DIR / "legal_review_required.dmn"
    original = path.read_text(encoding="utf-8")
    row = '<inputEntry id="In_5_2"><text>&gt;= 300000</text></inputEntry>'
    assert original.count(row) == 1
    changed = original.replace(row, row.replace("300000", "200000")).replace("30万元以上", "20万元以上")
    with unit_of_work(seeded) as s:
        created = registry.deploy(
            s, [registry.Upload("legal_review_required.dmn", changed.encode("utf-8"))], actor="modeler"
        )
        assert [(d.key, d.version) for d in created] == [("legal_review_required", 2)]

    later = Driver.start(seeded, "penalty_case", "officer1", **clue)
    to_legal_check(later)
    consider(later)
    assert later.data()["legal_review_reason"] == "对单位罚款20万元以上"
    assert later.open_ids() == ["submit_review"]

    consider(earlier)  # pinned to version 1 at its start
    assert earlier.data()["legal_review_required"] is False
    assert earlier.open_ids() == ["decide_penalty"]
