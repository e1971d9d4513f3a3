"""The overdue board over tasks and legal clocks, grouped and filtered."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from engine import supervision
from engine.clock import BEIJING, clock
from tests.processes.driver import Driver

CLUE = {"clue_source": "report", "party_type": "institution", "clue_summary": "串换药品"}


def test_board_lists_overdue_and_due_soon(seeded) -> None:  # type: ignore[no-untyped-def]
    clock.set(datetime(2024, 9, 23, 10, tzinfo=BEIJING))
    late = Driver.start(seeded, "penalty_case", "officer1", party_name="甲药房", **CLUE)
    clock.set(datetime(2024, 10, 14, 10, tzinfo=BEIJING))
    fresh = Driver.start(seeded, "penalty_case", "officer1", party_name="乙医院", **CLUE)
    # Both verify_clue tasks carry the 核查立案 clock: the first is due 2024-10-17, the second 11-04.
    clock.set(datetime(2024, 10, 18, 9, tzinfo=BEIJING))
    with seeded() as s:
        rows, total = supervision.board(s, supervision.BoardFilter(within_workdays=3, bureau="yubei"))
        assert total == 2  # the late task and its clock; the fresh case is not due within 3 working days
        assert {(r.kind, r.institution) for r in rows} == {("task", "甲药房"), ("clock", "甲药房")}
        rows, total = supervision.board(s, supervision.BoardFilter(within_workdays=15, bureau="yubei"))
        assert total == 4 and rows[0].institution == "甲药房"  # most overdue first
        assert supervision.board(s, supervision.BoardFilter(within_workdays=15, bureau="jiangbei"))[1] == 0
        by_institution = supervision.counts(s, supervision.BoardFilter(within_workdays=15), "institution")
        assert by_institution == [("甲药房", 2, 0), ("乙医院", 0, 2)]
        only = supervision.board(s, supervision.BoardFilter(only_overdue=True, institution="甲"))[1]
        assert only == 2
    assert late.open_ids() == ["verify_clue"] and fresh.open_ids() == ["verify_clue"]


def test_board_filters_groups_and_order(seeded) -> None:  # type: ignore[no-untyped-def]
    """Three real processes started on Monday 2024-09-23, read on Monday 10-21: the unclaimed
    verification (due 10-17, overdue) and its 核查立案 clock, the ledger's 整改 task of officer2 and its
    clock (due 10-23, soon), and a filed case whose 办案 clock runs to 12-23 (not on the board)."""
    from tests.processes.test_ledger_clearance import register
    from tests.processes.test_penalty_case import START, filed

    clock.set(START)
    Driver.start(seeded, "penalty_case", "officer1", party_name="甲药房", **CLUE)
    register(seeded)
    filed(seeded)
    clock.set(datetime(2024, 10, 21, 9, tzinfo=BEIJING))
    f = supervision.BoardFilter(within_workdays=3, bureau="yubei")
    with seeded() as s:
        rows, total = supervision.board(s, f)
        assert total == 4
        assert [(r.kind, r.name, r.officer, r.unit) for r in rows] == [
            ("clock", "核查立案", "officer1", "yubei-jhk"),
            ("task", rows[1].name, "officer", "yubei"),
            ("clock", "整改", "chief", "yubei-jhk"),
            ("task", rows[3].name, "officer2", "yubei-jhk"),
        ]
        assert rows[0].due_at == rows[1].due_at < rows[2].due_at == rows[3].due_at  # most overdue first
        assert supervision.counts(s, f, "process") == [("penalty_case", 2, 0), ("ledger_clearance", 0, 2)]
        assert supervision.counts(s, f, "unit") == [("yubei-jhk", 1, 2), ("yubei", 1, 0)]
        officer2 = supervision.board(s, supervision.BoardFilter(within_workdays=3, officer="officer2"))[0]
        assert [(r.kind, r.institution) for r in officer2] == [("task", "重庆某某医院")]
        ledger = supervision.board(s, supervision.BoardFilter(within_workdays=3, process="ledger_clearance"))[
            0
        ]
        assert {r.name for r in ledger} == {"整改", rows[3].name}
        stage = rows[3].stage
        assert stage and all(r.stage == stage for r in supervision.board(s, replace(f, stage=stage))[0])
        assert supervision.board(s, replace(f, only_overdue=True))[1] == 2
        assert supervision.board(s, replace(f, within_workdays=60))[1] == 6  # the filed case's task and clock


def test_a_suspended_clock_is_never_on_the_board(seeded) -> None:  # type: ignore[no-untyped-def]
    from tests.processes.test_penalty_case import START, filed, suspend

    clock.set(START)
    d = filed(seeded)
    clock.set(datetime(2024, 10, 8, 10, tzinfo=BEIJING))
    suspend(d)
    d.complete("approve_suspension", "deputy", suspension_approved=True, suspension_opinion="同意中止")
    case_id = d.case().id
    d.advance(to=datetime(2025, 1, 10, 10, tzinfo=BEIJING))  # long past the original 12-23
    with seeded() as s:
        rows, _ = supervision.board(s, supervision.BoardFilter(within_workdays=60))
    mine = [r for r in rows if r.case_id == case_id]
    assert [r for r in mine if r.kind == "clock" or r.name == "调查取证"] == []
