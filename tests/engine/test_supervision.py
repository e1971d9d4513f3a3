"""The overdue board over tasks and legal clocks, grouped and filtered."""

from __future__ import annotations

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
