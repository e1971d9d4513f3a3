"""统计分析 over a year of cases played through the real processes (tests/engine/year_of_cases.py):
every figure is checked against an independent raw SQL count and against what the year's script did."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from engine import calendar, statistics
from engine.errors import InputError, NotFoundError
from tests.engine import year_of_cases
from tests.engine.year_of_cases import PENALTY

YEAR = statistics.Scope(date(2024, 1, 1), date(2024, 12, 31), "yubei")
# The year's bounds in UTC, as text both databases compare with their timestamps.
LO, HI = "2023-12-31 16:00:00+00", "2024-12-31 16:00:00+00"
IN_YEAR = "unit_code = 'yubei' AND opened_at >= :lo AND opened_at < :hi"
FILED = f"{IN_YEAR} AND kind IN ('penalty_case', 'incoming_transfer') AND status NOT IN ('clue', 'not_filed')"


@pytest.fixture
def year(seeded, db_engine):
    return year_of_cases.load(seeded, db_engine)


def sql(session, query: str) -> object:
    return session.execute(text(query), {"lo": LO, "hi": HI}).scalar()


def money(value: object) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def specs_2024(*paths: str) -> list[year_of_cases.Spec]:
    return [s for s in PENALTY if s.opened.year == 2024 and (not paths or s.path in paths)]


def test_headline_figures_equal_raw_sql_and_the_year_played(year) -> None:
    with year() as s:
        st = statistics.compute(s, YEAR)
        assert st.unit_name == "渝北区医疗保障局"
        handled = sql(s, f"SELECT count(*) FROM cases WHERE {FILED}")
        assert st.value("penalty_cases") == handled == len(specs_2024()) - len(specs_2024("not_filed"))
        published = sql(s, f"SELECT count(*) FROM cases WHERE {FILED} AND published = true")
        assert st.value("published") == published == len(specs_2024("closed", "heard", "discussed"))
        reviewed = sql(s, f"SELECT count(*) FROM cases WHERE {FILED} AND legal_review = true")
        assert st.value("legal_review_cases") == reviewed == len(specs_2024("heard", "discussed"))
        fines = money(sql(s, f"SELECT sum(fine) FROM cases WHERE {FILED}"))
        played = sum(x.recovery * x.multiple for x in specs_2024("closed", "heard", "discussed"))
        assert st.value("fines") == fines == Decimal(played + 200)  # + 张某's 200 元 on the spot
        damages = money(sql(s, f"SELECT sum(liquidated_damages) FROM cases WHERE {IN_YEAR}"))
        assert st.value("liquidated_damages") == damages == Decimal(sum(x.damages for x in specs_2024()))
        recovered = money(
            sql(s, f"SELECT sum(amount_recovered) FROM cases WHERE {IN_YEAR} AND kind <> 'self_inspection'")
        )
        # The decided penalties' refunds and the two cleared ledger items.
        expected = sum(x.recovery for x in specs_2024("closed", "heard", "discussed")) + Decimal("15000.50")
        assert st.value("recovered") == recovered == expected
        smart = sum(x.recovery for x in specs_2024("closed", "heard", "discussed") if x.source == "smart")
        assert st.value("smart_recovered") == Decimal(smart)
        refunds = money(
            sql(s, f"SELECT sum(amount_recovered) FROM cases WHERE {IN_YEAR} AND kind = 'self_inspection'")
        )
        assert st.value("self_inspection_refunds") == refunds == Decimal("1944000.00")
        # Decisions: penalties and no-penalty decisions (the simple procedure's too).
        decisions = len(specs_2024("closed", "heard", "discussed", "minor", "simple"))
        assert st.value("decisions") == decisions
        assert st.value("legal_review_share") == statistics.percent(
            len(specs_2024("heard", "discussed")), decisions
        )
        assert st.value("discussion_share") == statistics.percent(1, decisions)
        assert st.value("ledger_clearance_rate") == Decimal("66.7")  # 2 of 3 items cleared
        assert st.table("per_year").rows == ((2022, 1), (2023, 2), (2024, handled))


def test_breakdowns(year) -> None:
    with year() as s:
        st = statistics.compute(s, YEAR)
        rows = s.execute(text(f"SELECT violation_types FROM cases WHERE {FILED}"), {"lo": LO, "hi": HI})
        counted: dict[str, int] = {}
        for (raw,) in rows:
            for label in (json.loads(raw) if isinstance(raw, str) else raw) or ["（未认定）"]:
                counted[label] = counted.get(label, 0) + 1
    assert dict(st.table("by_violation").rows) == counted
    assert counted["超标准收费"] == 4 and counted["冒名就医"] == 1
    institutions = {row[0]: row[1] for row in st.table("by_institution").rows}
    assert institutions == {
        "民营医院": 5,
        "定点零售药店": 4,
        "公立医院": 2,
        "参保人": 2,
        "诊所、门诊部": 2,
        "基层医疗卫生机构": 1,
    }
    outcomes = dict(st.table("by_outcome").rows)
    assert outcomes["行政处罚"] == len(specs_2024("closed", "heard", "discussed"))
    assert outcomes["违法行为轻微，不予行政处罚"] == 2 and outcomes["办理中"] == 2
    assert outcomes["不予立案"] == 2 and outcomes["涉嫌犯罪移送"] == 1
    assert dict(st.table("by_stage").rows)["调查取证"] == len(specs_2024("open"))
    assert st.table("referrals").rows == (("公安机关", "公安立案", 1), ("市场监督管理局", "办理中", 1))
    assert st.table("ledger").rows == (("已销号", 2), ("转立案查处", 0), ("整改中", 1))
    assert sum(n for _, n in st.table("per_month").rows) == st.value("penalty_cases")


def test_stage_times_and_on_time_rates(year) -> None:
    with year() as s:
        st = statistics.compute(s, YEAR)
        stages = {row[0]: row for row in st.table("stage_times").rows}
        late = [x for x in specs_2024() if x.late_verify]
        # Two cases were verified 25 days after the clue (past the 15 working days), the rest in 4.
        verify = stages["线索核查"]
        tasks = sql(
            s,
            f"SELECT count(*) FROM tasks t JOIN cases c ON c.id = t.case_id WHERE c.{IN_YEAR} "
            "AND t.stage = '线索核查' AND t.state = 'completed' AND t.due_at IS NOT NULL",
        )
        on_time = sql(
            s,
            f"SELECT count(*) FROM tasks t JOIN cases c ON c.id = t.case_id WHERE c.{IN_YEAR} "
            "AND t.stage = '线索核查' AND t.state = 'completed' AND t.completed_at <= t.due_at",
        )
        cal = calendar.load_calendar(s)
    assert (verify[4], verify[5]) == (tasks, on_time) and tasks - on_time == len(late)
    assert verify[6] == statistics.percent(on_time, tasks)
    spans = [calendar.workdays_between(cal, x.opened, x.opened + timedelta(days=25)) for x in late]
    assert verify[3] == min(spans)  # the 90th percentile of 18 spans is the 17th: the shorter late one
    assert stages["调查取证"][6] == Decimal("100.0")
    assert list(stages)[:3] == ["线索核查", "立案审批", "调查取证"]  # in the order the procedure runs


def test_percentile_and_percent() -> None:
    assert statistics.p90([]) is None
    assert statistics.p90([5]) == 5
    assert statistics.p90(list(range(1, 11))) == 9
    assert statistics.p90(list(range(1, 12))) == 10
    assert statistics.percent(1, 3) == Decimal("33.3")
    assert statistics.percent(2, 0) is None


def test_units_and_ranges(year) -> None:
    with year() as s:
        legal = statistics.compute(s, statistics.Scope(YEAR.start, YEAR.end, "yubei-fgk"))
        # 法规科 worked (法制审核) the heard and discussed cases only.
        assert legal.value("penalty_cases") == len(specs_2024("heard", "discussed"))
        assert legal.value("legal_review_cases") == legal.value("penalty_cases")
        other = statistics.compute(s, statistics.Scope(YEAR.start, YEAR.end, "jiangbei"))
        assert other.value("penalty_cases") == 0 and other.value("legal_review_share") is None
        march = statistics.compute(s, statistics.Scope(date(2024, 3, 1), date(2024, 3, 31), "yubei"))
        assert march.value("penalty_cases") == 2
        assert statistics.units_of(s, "yubei")[0] == ("yubei", "渝北区医疗保障局")
        assert {code for code, _ in statistics.units_of(s, "yubei")} == {"yubei", "yubei-jhk", "yubei-fgk"}
        with pytest.raises(NotFoundError):
            statistics.compute(s, statistics.Scope(YEAR.start, YEAR.end, "nowhere"))
    with pytest.raises(InputError, match="结束日期不能早于开始日期"):
        statistics.scope_for(date(2024, 2, 1), date(2024, 1, 1), "yubei")
    with pytest.raises(InputError, match="三年"):
        statistics.scope_for(date(2020, 1, 1), date(2024, 1, 1), "yubei")
