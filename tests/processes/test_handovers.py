"""Hand-overs (start_process) are idempotent, and the party's 陈述申辩 / 听证申请 windows stop their
legal clocks once answered or closed, so the 督办 board no longer lists them."""

from __future__ import annotations

from datetime import timedelta

from engine import instances, supervision
from engine.clock import clock
from engine.db import unit_of_work
from engine.models import ProcessInstance
from engine.users import SYSTEM
from tests.processes import test_ledger_clearance as ledger
from tests.processes.driver import beijing, continued_in_penalty_case
from tests.processes.test_penalty_case import START, filed, investigate, notify, propose, respond, review


def board_clocks(sf) -> set[str]:  # type: ignore[no-untyped-def]
    with sf() as s:
        rows, _ = supervision.board(s, supervision.BoardFilter(within_workdays=30))
        return {r.name for r in rows if r.kind == "clock"}


def test_the_same_hand_over_retried_starts_nothing_twice(seeded) -> None:
    clock.set(beijing(2024, 9, 23))
    d = ledger.register(seeded)
    d.advance(to=ledger.DEFAULT_DUE + timedelta(seconds=2))
    d.complete("rectify_overdue", "deputy", overdue_decision="escalate", overdue_instruction="转立案")
    first = continued_in_penalty_case(d)
    with unit_of_work(seeded) as s:  # the escalation's hand-over asked for again
        loaded = instances.load(s, s.get(ProcessInstance, d.id), SYSTEM)
        loaded.handovers.start_process(
            "penalty_case", "filing", clue_source="inspection", party_name="某医院", clue_summary="重复"
        )
        instances.save(s, loaded, actor=SYSTEM, action="instance.retry")
    assert [p.id for p in d.handed_over()] == [first.id]


def test_answered_notice_stops_both_clocks(seeded) -> None:
    clock.set(START)
    d = filed(seeded)
    investigate(d)
    review(d)
    propose(d, "150000", "50000")  # 10 万 or more: hearing rights, both windows run
    notify(d)
    assert {d.clock("陈述申辩").status, d.clock("听证申请").status} == {"running"}
    assert {"陈述申辩", "听证申请"} <= board_clocks(seeded)
    respond(d, "waived")
    assert {d.clock("陈述申辩").status, d.clock("听证申请").status} == {"stopped"}
    clock.set(beijing(2024, 11, 1))  # long after both windows
    assert not {"陈述申辩", "听证申请"} & board_clocks(seeded)


def test_closed_window_stops_the_clock(seeded) -> None:
    clock.set(START)
    d = filed(seeded)
    investigate(d)
    review(d)
    propose(d, "40000", "12000")  # no hearing rights
    notify(d)
    respond(d, "none")
    assert d.clock("陈述申辩").status == "running"  # the window is still open
    d.advance(to=beijing(2024, 9, 30, 9))
    assert d.open_ids() == ["consider_arguments"]
    assert d.clock("陈述申辩").status == "stopped"
    clock.set(beijing(2024, 11, 1))
    assert "陈述申辩" not in board_clocks(seeded)
