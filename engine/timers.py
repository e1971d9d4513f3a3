"""The scheduler: fires due timers, one instance per transaction, each timer exactly once even
with several schedulers on one PostgreSQL (rows are claimed with FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine import audit, instances, reminders
from engine.clock import utcnow
from engine.db import unit_of_work
from engine.errors import DomainError
from engine.models import InstanceStatus, ProcessInstance
from engine.users import SYSTEM
from engine.workflow import runtime

log = logging.getLogger(__name__)
RETRY_AFTER_ERROR = timedelta(minutes=5)


def _claim_due(session: Session, skip: set[int]) -> ProcessInstance | None:
    query = (
        select(ProcessInstance)
        .where(
            ProcessInstance.status == InstanceStatus.RUNNING,
            ProcessInstance.next_timer_at <= utcnow(),
        )
        .order_by(ProcessInstance.next_timer_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if skip:
        query = query.where(ProcessInstance.id.not_in(skip))
    return session.scalars(query).first()


def fire_instance(session: Session, instance: ProcessInstance) -> list[str]:
    """Fire the due timers of one claimed instance and run it on; returns the fired timer ids."""
    loaded = instances.load(session, instance, SYSTEM)
    now = utcnow()
    due = [bpmn_id for bpmn_id, at in runtime.pending_timers(loaded.workflow) if at is not None and at <= now]
    runtime.run(loaded.workflow)
    still = {
        bpmn_id for bpmn_id, at in runtime.pending_timers(loaded.workflow) if at is not None and at <= now
    }
    fired = [t for t in due if t not in still]
    instance.incident = None
    instances.save(session, loaded, actor=SYSTEM, action="timer.fire", detail={"timers": fired})
    return fired


def fire_due(factory: sessionmaker[Session], *, limit: int | None = None) -> list[int]:
    """Fire every due timer now (one transaction per instance); returns the instance ids handled.
    A failing instance gets an incident and is retried later; it never blocks the others."""
    handled: list[int] = []
    failed: set[int] = set()
    while limit is None or len(handled) < limit:
        instance_id = None
        try:
            with unit_of_work(factory) as session:
                instance = _claim_due(session, failed)
                if instance is None:
                    break
                instance_id = instance.id
                fire_instance(session, instance)
            handled.append(instance_id)
        except DomainError as exc:
            if instance_id is None:
                raise
            failed.add(instance_id)
            _record_incident(factory, instance_id, exc)
    return handled


def _record_incident(factory: sessionmaker[Session], instance_id: int, exc: DomainError) -> None:
    log.warning("timer of instance %s failed: %s", instance_id, exc)
    with unit_of_work(factory) as session:
        instance = session.get(ProcessInstance, instance_id)
        if instance is None:
            return
        instance.incident = str(exc)[:2000]
        instance.next_timer_at = utcnow() + RETRY_AFTER_ERROR
        audit.record(
            session,
            actor=SYSTEM.username,
            action="timer.error",
            object_type="instance",
            object_id=str(instance_id),
            instance_id=instance_id,
            case_id=instance.case_id,
            detail={"error": str(exc)[:2000]},
        )


def next_due_in(factory: sessionmaker[Session]) -> float | None:
    """Seconds until the earliest timer of any running instance, or None when none waits."""
    with factory() as session:
        at = session.scalars(
            select(ProcessInstance.next_timer_at)
            .where(
                ProcessInstance.status == InstanceStatus.RUNNING, ProcessInstance.next_timer_at.is_not(None)
            )
            .order_by(ProcessInstance.next_timer_at)
            .limit(1)
        ).first()
    return None if at is None else max(0.0, (at - utcnow()).total_seconds())


def run_scheduler(factory: sessionmaker[Session], stop: threading.Event, *, interval: float = 5.0) -> None:
    """Fire due timers and send due reminders (engine/reminders.py) until `stop` is set; wakes at the
    next due timer or every `interval` s."""
    while not stop.is_set():
        try:
            fire_due(factory)
            reminders.escalate_due(factory)
            wait = next_due_in(factory)
        except Exception:  # the loop must survive a database hiccup; the error is logged
            log.exception("scheduler pass failed")
            wait = interval
        stop.wait(interval if wait is None else min(max(wait, 0.05), interval))


def start_scheduler_thread(factory: sessionmaker[Session], *, interval: float = 5.0) -> threading.Event:
    """Run the scheduler in a daemon thread (the embedded default); set the event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_scheduler, args=(factory, stop), kwargs={"interval": interval}, daemon=True
    )
    thread.name = "ybjg-scheduler"
    thread.start()
    return stop
