"""The first real process end to end: 线索登记 → 核查 → 立案审批, with its clock and timer."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from engine import audit, calendar, timers
from engine.clock import BEIJING, clock
from engine.errors import FormValidationError, NotPermittedError
from engine.models import InstanceStatus, LegalClock, ProcessInstance
from tests.engine.helpers import complete, only_task, open_tasks, start

# Monday 2024-09-23 10:00 Beijing: 15 working days across the 2024 National Day holiday.
START = datetime(2024, 9, 23, 10, 0, tzinfo=BEIJING)


def end_of(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 23, 59, 59, tzinfo=BEIJING)


@pytest.fixture(autouse=True)
def _frozen() -> None:
    clock.set(START)


def test_first_task_is_due_when_the_verify_clock_expires(seeded) -> None:
    instance_id = start(seeded)
    task = only_task(seeded, instance_id, "verify_clue")
    # Start day 9-23 is not counted. Working days: 9-24..9-27 (4), 9-29 Sunday 调休 (5), 9-30 (6),
    # 10-1..10-7 holiday, 10-8..10-11 (10), 10-12 Saturday 调休 (11), 10-14..10-17 (15).
    assert task.due_at == end_of(date(2024, 10, 17))
    assert task.role == "officer" and task.candidate_groups == ["officer"]
    assert task.due_unverified is False
    with seeded() as s:
        row = s.scalars(select(LegalClock).where(LegalClock.instance_id == instance_id)).one()
        assert row.name == "核查立案" and row.due_at == task.due_at


def test_filing_path_opens_the_case_clock(seeded) -> None:
    instance_id = start(seeded)
    verify = only_task(seeded, instance_id, "verify_clue")
    complete(seeded, verify.id, "officer1", verification="已现场核查", suggestion="file")
    decide = only_task(seeded, instance_id, "decide_filing")
    assert decide.role == "section_chief" and decide.due_at == verify.due_at
    complete(seeded, decide.id, "chief", decision="file", case_cause="串换药品", decision_opinion="同意立案")
    with seeded() as s:
        instance = s.get(ProcessInstance, instance_id)
        assert instance.status == InstanceStatus.COMPLETED and instance.next_timer_at is None
        clocks = {
            c.name: c for c in s.scalars(select(LegalClock).where(LegalClock.instance_id == instance_id))
        }
        assert clocks["核查立案"].status == "stopped"
        # 办案: 90 calendar days from 9-23 → 2024-12-22, a Sunday → next working day 12-23.
        assert clocks["办案"].due_at == end_of(date(2024, 12, 23))
        assert audit.verify(s).ok


def test_not_filed_path(seeded) -> None:
    instance_id = start(seeded)
    complete(
        seeded,
        only_task(seeded, instance_id, "verify_clue").id,
        "officer2",
        verification="无违法事实",
        suggestion="no_file",
    )
    decide = only_task(seeded, instance_id, "decide_filing")
    complete(seeded, decide.id, "chief", decision="no_file", decision_opinion="不予立案")
    assert open_tasks(seeded, instance_id) == []


def test_extension_moves_the_deadline_by_fifteen_working_days(seeded) -> None:
    instance_id = start(seeded)
    first = only_task(seeded, instance_id, "verify_clue")
    complete(
        seeded,
        first.id,
        "officer1",
        verification="需调取票据",
        suggestion="extend",
        extension_reason="待调取票据",
    )
    approval = only_task(seeded, instance_id, "approve_extension")
    complete(seeded, approval.id, "chief", extension_approved=True, extension_opinion="同意延长")
    second = only_task(seeded, instance_id, "verify_clue")
    extended = calendar.add_workdays(calendar.WorkCalendar(), date(2024, 10, 17), 15)  # 10-18 … no holiday
    assert second.due_at == end_of(extended.day) == end_of(date(2024, 11, 7))
    # A second request for extension is not offered again: it goes to the filing decision.
    complete(seeded, second.id, "officer1", verification="仍需时间", suggestion="extend")
    assert [t.bpmn_id for t in open_tasks(seeded, instance_id)] == ["decide_filing"]


def test_expired_clock_raises_an_overdue_task_without_cancelling_the_work(seeded) -> None:
    instance_id = start(seeded)
    assert timers.fire_due(seeded) == []
    clock.set(datetime(2024, 10, 17, 23, 59, 0, tzinfo=BEIJING))
    assert timers.fire_due(seeded) == []
    clock.set(datetime(2024, 10, 18, 0, 0, 1, tzinfo=BEIJING))
    assert timers.fire_due(seeded) == [instance_id]
    assert sorted(t.bpmn_id for t in open_tasks(seeded, instance_id)) == ["verify_clue", "verify_overdue"]
    assert timers.fire_due(seeded) == []  # fired once
    overdue = only_task(seeded, instance_id, "verify_overdue")
    assert overdue.role == "section_chief"
    complete(seeded, overdue.id, "chief", overdue_instruction="请于3日内报请立案审批")
    assert [t.bpmn_id for t in open_tasks(seeded, instance_id)] == ["verify_clue"]


def test_form_errors_change_nothing(seeded) -> None:
    instance_id = start(seeded)
    task = only_task(seeded, instance_id, "verify_clue")
    with seeded() as s:
        before = s.get(ProcessInstance, instance_id).lock_version
    with pytest.raises(FormValidationError) as err:
        complete(seeded, task.id, "officer1", verification="", suggestion="maybe")
    assert set(err.value.errors) == {"verification", "suggestion"}
    assert "请填写" in err.value.errors["verification"]
    with seeded() as s:
        assert s.get(ProcessInstance, instance_id).lock_version == before
    assert only_task(seeded, instance_id, "verify_clue").id == task.id


def test_only_candidates_may_complete(seeded) -> None:
    instance_id = start(seeded)
    task = only_task(seeded, instance_id, "verify_clue")
    with pytest.raises(NotPermittedError):
        complete(seeded, task.id, "chief", verification="x", suggestion="file")
    with pytest.raises(NotPermittedError):  # an officer of another bureau
        complete(seeded, task.id, "other", verification="x", suggestion="file")


def test_start_form_is_validated(seeded) -> None:
    with pytest.raises(FormValidationError) as err:
        start(
            seeded,
            clue_source="nope",
            party_name="",
            party_type="institution",
            clue_summary="x",
            amount_involved="-5",
        )
    assert set(err.value.errors) == {"clue_source", "party_name", "amount_involved"}
    with seeded() as s:
        assert s.scalars(select(ProcessInstance)).all() == []


def test_deadline_in_2027_is_flagged_unverified(seeded) -> None:
    clock.set(datetime(2026, 12, 20, 9, 0, tzinfo=BEIJING))
    instance_id = start(seeded)
    task = only_task(seeded, instance_id, "verify_clue")
    assert task.due_unverified is True
    assert task.due_at.astimezone(UTC) > datetime(2027, 1, 1, tzinfo=UTC)
    # 12-21..12-25 (5), 12-28..12-31 (9), 2027-01-01 counts: 2027 has no data, weekends only (10),
    # 01-04..01-08 (15).
    assert task.due_at == end_of(date(2027, 1, 8))


def test_case_record_follows_the_steps(seeded) -> None:
    from engine.models import Case

    instance_id = start(seeded)
    with seeded() as s:
        case = s.get(Case, s.get(ProcessInstance, instance_id).case_id)
        assert (case.party_name, case.status, case.stage, str(case.amount_involved)) == (
            "某某大药房",
            "clue",
            "线索核查",
            "12000.50",
        )
        assert case.number is None
    assert only_task(seeded, instance_id, "verify_clue").case_id == case.id
    complete(
        seeded,
        only_task(seeded, instance_id, "verify_clue").id,
        "officer1",
        verification="核",
        suggestion="file",
    )
    decide = only_task(seeded, instance_id, "decide_filing")
    complete(seeded, decide.id, "chief", decision="file", case_cause="串换药品", decision_opinion="同意")
    second = start(seeded)
    complete(
        seeded, only_task(seeded, second, "verify_clue").id, "officer1", verification="核", suggestion="file"
    )
    complete(
        seeded,
        only_task(seeded, second, "decide_filing").id,
        "chief",
        decision="file",
        decision_opinion="同意",
    )
    with seeded() as s:
        numbers = [c.number for c in s.scalars(select(Case).order_by(Case.id))]
        assert numbers == ["渝北医保立〔2024〕1号", "渝北医保立〔2024〕2号"]
        assert s.get(Case, case.id).status == "open"
