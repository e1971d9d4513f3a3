"""The deadline_items projection equals what the board used to compute on every request: the
UNION of open tasks and running legal clocks joined to instances, cases and users (kept here as
the oracle), after real processes are driven through claims, 转办, extension, suspension,
completion, case updates and an officer moving to another 科室."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import Session, aliased

from engine import deadlines, supervision, tasks, users
from engine.clock import BEIJING, clock
from engine.db import unit_of_work
from engine.models import Case, ClockStatus, DeadlineItem, LegalClock, ProcessInstance, Task, TaskState, User
from engine.users import actor_for
from tests.processes.driver import Driver

CLUE = {"clue_source": "report", "party_type": "institution", "clue_summary": "串换药品"}


def oracle(session: Session) -> list[tuple[Any, ...]]:
    """The board's former query, without its horizon: every item it could list."""
    worker, starter = aliased(User), aliased(User)
    open_tasks = (
        select(
            literal("task"), Task.id, Task.instance_id, Task.name, ProcessInstance.process_key, Task.stage,
            func.coalesce(Task.assignee, Task.role, ""), func.coalesce(worker.unit_code, Task.unit_code, ""),
            func.coalesce(Task.unit_code, ""), func.coalesce(Case.party_name, ""), Task.case_id, Case.number,
            Task.due_at, Task.due_unverified,
        )
        .join(ProcessInstance, ProcessInstance.id == Task.instance_id)
        .outerjoin(Case, Case.id == Task.case_id)
        .outerjoin(worker, worker.username == Task.assignee)
        .where(Task.state == TaskState.OPEN, Task.due_at.is_not(None))
    )  # fmt: skip
    running_clocks = (
        select(
            literal("clock"), LegalClock.id, LegalClock.instance_id, LegalClock.name,
            ProcessInstance.process_key, func.coalesce(Case.stage, ""), ProcessInstance.started_by,
            func.coalesce(starter.unit_code, ProcessInstance.unit_code, ""),
            func.coalesce(ProcessInstance.unit_code, ""), func.coalesce(Case.party_name, ""),
            LegalClock.case_id, Case.number, LegalClock.due_at, LegalClock.due_unverified,
        )
        .join(ProcessInstance, ProcessInstance.id == LegalClock.instance_id)
        .outerjoin(Case, Case.id == LegalClock.case_id)
        .outerjoin(starter, starter.username == ProcessInstance.started_by)
        .where(LegalClock.status == ClockStatus.RUNNING, LegalClock.due_at.is_not(None))
    )  # fmt: skip
    return sorted(tuple(row) for row in session.execute(union_all(open_tasks, running_clocks)))


def projected(session: Session) -> list[tuple[Any, ...]]:
    columns = [DeadlineItem.__table__.c[name] for name in deadlines.COLUMNS]
    return sorted(tuple(row) for row in session.execute(select(*columns)))


def agrees(seeded) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    with seeded() as s:
        expected = oracle(s)
        assert projected(s) == expected
        return expected


def test_projection_follows_the_processes(seeded) -> None:  # type: ignore[no-untyped-def]
    from tests.processes.test_ledger_clearance import rectify, register
    from tests.processes.test_penalty_case import START, decide, filed, suspend, to_decision

    clock.set(START)
    late = Driver.start(seeded, "penalty_case", "officer1", party_name="甲药房", **CLUE)
    items = agrees(seeded)
    assert {row[0] for row in items} == {"task", "clock"}

    # claim, 转办 and unclaim move the task between officers and 科室
    verify = late.task("verify_clue")
    with unit_of_work(seeded) as s:
        tasks.claim(s, verify.id, actor=actor_for(s, "officer1"))
    assert ("task", verify.id) in {(r[0], r[1]) for r in agrees(seeded) if r[6] == "officer1"}
    with unit_of_work(seeded) as s:
        tasks.reassign(s, verify.id, actor=actor_for(s, "officer1"), to_user="officer2", reason="出差")
    agrees(seeded)
    with unit_of_work(seeded) as s:
        tasks.unclaim(s, verify.id, actor=actor_for(s, "officer2"))
    agrees(seeded)

    # an extension of the 核查立案 clock re-times the clock and the task that reads it
    late.complete(
        "verify_clue", "officer1", verification="需调取票据", suggestion="extend", extension_reason="待票据"
    )
    agrees(seeded)
    late.complete("approve_extension", "chief", extension_approved=True, extension_opinion="同意延长")
    before = {r[3]: r[12] for r in agrees(seeded)}
    assert before["核查立案"] == late.clock("核查立案").due_at

    # filing, investigation, a suspension (the 办案 clock leaves the board) and the ledger's 整改
    case = filed(seeded)
    register(seeded)
    agrees(seeded)
    clock.set(datetime(2024, 10, 8, 10, tzinfo=BEIJING))
    suspend(case)
    case.complete("approve_suspension", "deputy", suspension_approved=True, suspension_opinion="同意中止")
    items = agrees(seeded)
    assert not [r for r in items if r[2] == case.id and r[3] == "办案"]

    # an officer moves to another 科室: their items follow
    with unit_of_work(seeded) as s:
        officer2 = s.scalars(select(User).where(User.username == "officer2")).one()
        users.update_user(
            s,
            officer2.id,
            actor="admin",
            roles=["officer"],
            unit_code="yubei-fgk",
            full_name="李办案",
            active=True,
        )
    assert {r[7] for r in agrees(seeded) if r[6] == "officer2"} == {"yubei-fgk"}

    # a case driven to its decision: stages, case number and clocks change, tasks complete
    other = filed(seeded, {**CLUE, "party_name": "乙医院"})
    to_decision(other)
    decide(other)
    agrees(seeded)
    ledger = Driver(seeded, register(seeded).id)
    rectify(ledger)
    agrees(seeded)
    clock.set(datetime(2025, 3, 3, 10, tzinfo=BEIJING))
    ledger.advance(to=datetime(2025, 3, 3, 10, tzinfo=BEIJING))
    agrees(seeded)

    # and the board reads it: the same rows as the oracle within its horizon
    with seeded() as s:
        rows, total = supervision.board(s, supervision.BoardFilter(within_workdays=400), limit=1000)
        assert total == len(oracle(s)) == len(rows)


def test_rebuild_fills_the_table_from_scratch(seeded) -> None:  # type: ignore[no-untyped-def]
    from tests.processes.test_penalty_case import START, filed

    clock.set(START)
    filed(seeded)
    Driver.start(seeded, "penalty_case", "officer1", party_name="甲药房", **CLUE)
    with unit_of_work(seeded) as s:
        expected = oracle(s)
        assert deadlines.rebuild(s.connection()) == len(expected) > 0
        assert projected(s) == expected
