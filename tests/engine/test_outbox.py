"""The outbox: written with the step, sent after commit, retried with back-off, never twice.
The peers of the real adapters are tested in tests/integrations; here a recording sender stands in
for the outside world, as STYLE.md allows for code that merely uses an adapter."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from engine import outbox
from engine.clock import BEIJING, clock
from engine.db import unit_of_work
from engine.errors import InputError
from engine.models import AuditEvent, OutboxMessage
from engine.outbox import DeliveryError, Envelope

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=BEIJING)


class Recorder:
    """A peer that records what it got; `fail` makes the next n sends fail."""

    def __init__(self, fail: int = 0, permanent: bool = False) -> None:
        self.got: list[Envelope] = []
        self.fail = fail
        self.permanent = permanent
        self.lock = threading.Lock()

    def send(self, envelope: Envelope) -> str:
        with self.lock:
            if self.fail:
                self.fail -= 1
                raise DeliveryError("对方服务器无响应", permanent=self.permanent)
            self.got.append(envelope)
            return f"ok-{envelope.idempotency_key}"


def _enqueue(sf, key: str = "referral:1", **kw):  # type: ignore[no-untyped-def]
    with unit_of_work(sf) as s:
        message = outbox.enqueue(
            s, channel=kw.pop("channel", "email"), destination="police@example.cn", subject="移送",
            payload={"n": 1}, idempotency_key=key, **kw,
        )  # fmt: skip
        return message.id


def test_the_same_key_is_one_message_sent_once(sf) -> None:  # type: ignore[no-untyped-def]
    clock.set(T0)
    first = _enqueue(sf)
    assert _enqueue(sf) == first  # a retried step records nothing new
    peer = Recorder()
    sent = outbox.dispatch_due(sf, {"email": peer})
    assert [(d.message_id, d.status) for d in sent] == [(first, "sent")]
    assert outbox.dispatch_due(sf, {"email": peer}) == []
    assert [e.idempotency_key for e in peer.got] == ["referral:1"]
    with sf() as s:
        row = s.get(OutboxMessage, first)
        assert row is not None and row.status == "sent" and row.sent_at is not None and row.attempts == 1
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    assert actions == ["outbox.enqueue", "outbox.sent"]


def test_nothing_is_sent_when_the_step_rolls_back(sf) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError), unit_of_work(sf) as s:
        outbox.enqueue(s, channel="email", destination="a@b.cn", payload={}, idempotency_key="k")
        raise RuntimeError("the workflow step failed")
    peer = Recorder()
    assert outbox.dispatch_due(sf, {"email": peer}) == [] and peer.got == []


def test_failures_back_off_then_fail_for_good_and_can_be_requeued(sf) -> None:  # type: ignore[no-untyped-def]
    clock.set(T0)
    mid = _enqueue(sf)
    peer = Recorder(fail=outbox.MAX_ATTEMPTS)
    waits = []
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        [result] = outbox.dispatch_due(sf, {"email": peer})
        assert result.detail == "对方服务器无响应"
        with sf() as s:
            row = s.get(OutboxMessage, mid)
            assert row is not None and row.attempts == attempt
            next_at, last_error = row.next_attempt_at, row.last_error
        if attempt < outbox.MAX_ATTEMPTS:
            assert result.status == "pending"
            waits.append(next_at - clock.now())
            assert outbox.dispatch_due(sf, {"email": peer}) == []  # not before the back-off
            clock.set(next_at)
        else:
            assert result.status == "failed" and last_error == "对方服务器无响应"
    assert waits[:3] == [timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2)]
    assert max(waits) <= outbox.LONGEST_RETRY
    with sf() as s:
        assert [m.id for m in outbox.list_troubled(s)] == [mid]  # the board shows it
    clock.advance(timedelta(days=1))
    assert outbox.dispatch_due(sf, {"email": peer}) == []  # failed stays failed
    with unit_of_work(sf) as s:
        outbox.retry(s, mid, actor="supervisor")
    [result] = outbox.dispatch_due(sf, {"email": peer})
    assert result.status == "sent" and len(peer.got) == 1
    with sf() as s:
        assert outbox.list_troubled(s) == []
    with pytest.raises(InputError), unit_of_work(sf) as s:
        outbox.retry(s, mid, actor="supervisor")


def test_a_permanent_refusal_or_an_unknown_channel_is_not_retried(sf) -> None:  # type: ignore[no-untyped-def]
    clock.set(T0)
    refused = _enqueue(sf, "a")
    unknown = _enqueue(sf, "b", channel="fax")
    results = {d.message_id: d for d in outbox.dispatch_due(sf, {"email": Recorder(fail=1, permanent=True)})}
    assert results[refused].status == "failed"
    assert results[unknown].status == "failed" and "fax" in results[unknown].detail


def test_a_sender_bug_is_recorded_and_retried(sf) -> None:  # type: ignore[no-untyped-def]
    class Broken:
        def send(self, envelope: Envelope) -> str:
            raise KeyError("smtp_host")

    clock.set(T0)
    mid = _enqueue(sf)
    [result] = outbox.dispatch_due(sf, {"email": Broken()})
    assert result.status == "pending" and "KeyError" in result.detail
    with sf() as s:
        assert s.get(OutboxMessage, mid).attempts == 1  # type: ignore[union-attr]


def test_a_worker_that_died_mid_send_leaves_it_to_be_retried_after_the_lease(sf) -> None:  # type: ignore[no-untyped-def]
    clock.set(T0)
    mid = _enqueue(sf)
    leased = outbox._claim(sf, set())  # the worker leased it, then its process was killed
    assert leased is not None and leased.id == mid
    peer = Recorder()
    assert outbox.dispatch_due(sf, {"email": peer}) == []
    clock.advance(outbox.LEASE)
    [result] = outbox.dispatch_due(sf, {"email": peer})
    assert result.status == "sent" and peer.got[0].attempt == 2  # same key: the peer can drop a repeat


def test_two_workers_send_each_message_once(sf) -> None:  # type: ignore[no-untyped-def]
    clock.set(T0)
    with unit_of_work(sf) as s:
        for n in range(60):
            outbox.enqueue(
                s, channel="email", destination="x@y.cn", payload={"n": n}, idempotency_key=f"k{n}"
            )
    peer = Recorder()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            outbox.dispatch_due(sf, {"email": peer})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(e.payload["n"] for e in peer.got) == list(range(60))
    with sf() as s:
        assert s.scalar(select(func.count()).where(OutboxMessage.status == "sent")) == 60
