"""A small driver for path tests: play one process instance through the real engine, as the
officers would, with the injectable clock. Every call is its own transaction."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine import inbox, instances, messages, tasks, timers
from engine.clock import BEIJING, clock, utcnow
from engine.db import unit_of_work
from engine.models import AuditEvent, Case, LegalClock, MessageWait, ProcessInstance, Task, TaskState
from engine.users import SYSTEM, actor_for


def beijing(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=BEIJING)


def end_of(d: date) -> datetime:
    """The due instant of a day-based legal deadline: 23:59:59 Beijing time."""
    return datetime(d.year, d.month, d.day, 23, 59, 59, tzinfo=BEIJING)


class Driver:
    """One process instance under test."""

    def __init__(self, sf: sessionmaker[Session], instance_id: int) -> None:
        self.sf = sf
        self.id = instance_id

    @classmethod
    def start(cls, sf: sessionmaker[Session], key: str, user: str = "officer1", **variables: Any) -> Driver:
        with unit_of_work(sf) as s:
            actor = SYSTEM if user == "system" else actor_for(s, user)
            return cls(sf, instances.start(s, key, actor=actor, variables=variables).id)

    # --- reading ---------------------------------------------------------------------------
    def open_tasks(self) -> list[Task]:
        with self.sf() as s:
            query = (
                select(Task)
                .where(Task.instance_id == self.id, Task.state == TaskState.OPEN)
                .order_by(Task.id)
            )
            return list(s.scalars(query))

    def open_ids(self) -> list[str]:
        return sorted(t.bpmn_id for t in self.open_tasks())

    def task(self, bpmn_id: str) -> Task:
        """The one open task with this BPMN id (fails when there are none or several)."""
        found = [t for t in self.open_tasks() if t.bpmn_id == bpmn_id]
        assert len(found) == 1, f"expected one open {bpmn_id}, open: {self.open_ids()}"
        return found[0]

    def tasks_named(self, bpmn_id: str) -> list[Task]:
        return [t for t in self.open_tasks() if t.bpmn_id == bpmn_id]

    def instance(self) -> ProcessInstance:
        with self.sf() as s:
            instance = s.get(ProcessInstance, self.id)
            assert instance is not None
            return instance

    @property
    def finished(self) -> bool:
        return self.instance().status == "completed"

    def case(self) -> Case:
        with self.sf() as s:
            instance = s.get(ProcessInstance, self.id)
            assert instance is not None and instance.case_id is not None, "no case opened"
            case = s.get(Case, instance.case_id)
            assert case is not None
            return case

    def clock(self, name: str) -> LegalClock:
        with self.sf() as s:
            query = select(LegalClock).where(LegalClock.instance_id == self.id, LegalClock.name == name)
            row = s.scalars(query).first()
            assert row is not None, f"no legal clock {name}"
            return row

    def handed_over(self) -> list[Driver]:
        """The instances this one handed over to (start_process), in the order they started."""
        with self.sf() as s:
            query = (
                select(AuditEvent)
                .where(AuditEvent.instance_id == self.id, AuditEvent.action == "instance.handover")
                .order_by(AuditEvent.seq)
            )
            return [Driver(self.sf, e.detail["started_instance"]) for e in s.scalars(query)]

    def accepted_messages(self) -> set[str]:
        with self.sf() as s:
            return {w.name for w in s.scalars(select(MessageWait).where(MessageWait.instance_id == self.id))}

    def data(self) -> dict[str, Any]:
        """The process data as of the last completed task (reads the workflow: tests only)."""
        from engine.workflow import runtime

        with self.sf() as s:
            loaded = instances.load(s, s.get(ProcessInstance, self.id), SYSTEM)
            return runtime.workflow_data(loaded.workflow)

    def task_data(self, bpmn_id: str) -> dict[str, Any]:
        """The data the one open task `bpmn_id` sees (its own copy, inside a subprocess too)."""
        from engine.workflow import runtime

        task = self.task(bpmn_id)
        with self.sf() as s:
            loaded = instances.load(s, s.get(ProcessInstance, self.id), SYSTEM)
            found = runtime.find_task(loaded.workflow, task.spiff_task_id)
            assert found is not None
            return runtime.task_data(found)

    # --- acting ----------------------------------------------------------------------------
    def complete(self, bpmn_id: str, user: str, **data: Any) -> Driver:
        task = self.task(bpmn_id)
        with unit_of_work(self.sf) as s:
            tasks.complete(s, task.id, actor=actor_for(s, user), data=data)
        return self

    def complete_all(self, bpmn_id: str, users: list[str], **data: Any) -> Driver:
        """Complete every open instance of a multi-instance task, one per user, in order."""
        open_ = self.tasks_named(bpmn_id)
        assert len(open_) == len(users), f"{len(open_)} open {bpmn_id} for {len(users)} users"
        for task, user in zip(open_, users, strict=True):
            with unit_of_work(self.sf) as s:
                tasks.complete(s, task.id, actor=actor_for(s, user), data=data)
        return self

    def deliver(
        self, name: str, user: str = "system", correlation_key: str | None = None, **payload: Any
    ) -> Driver:
        with unit_of_work(self.sf) as s:
            actor = SYSTEM if user == "system" else actor_for(s, user)
            if correlation_key is None:
                messages.deliver(s, name, actor=actor, payload=payload, instance_id=self.id)
            else:
                messages.deliver(s, name, actor=actor, payload=payload, correlation_key=correlation_key)
        return self

    def advance(self, delta: timedelta | None = None, *, to: datetime | None = None) -> list[int]:
        """Move the clock (by `delta` or to `to`) and fire every due timer."""
        clock.set(to if to is not None else utcnow() + (delta or timedelta()))
        return timers.fire_due(self.sf)


def continued_in_penalty_case(d: Driver, user: str = "chief") -> Driver:
    """The one penalty_case that `d` handed its case over to: it waits at 立案审批 (线索核查 skipped),
    and the task is in `user`'s inbox."""
    handed = d.handed_over()
    assert len(handed) == 1, f"{len(handed)} hand-overs"
    p = handed[0]
    assert p.instance().process_key == "penalty_case" and p.open_ids() == ["decide_filing"]
    task_id = p.task("decide_filing").id
    with p.sf() as s:
        page = inbox.inbox(s, actor_for(s, user), inbox.InboxFilter(process="penalty_case"), per_page=100)
        assert task_id in {row.task.id for row in page.rows}
    return p
