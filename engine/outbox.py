"""The outbox: everything that leaves the system (emails, referral packages, information copies,
webhooks) is a row written in the same transaction as the step that caused it, and is sent after
commit by a worker. A crash never loses a message; a message is never sent twice for the same
idempotency key (the key is also handed to the peer, so a peer that saw it already can drop it).
Failures are retried with back-off and, after MAX_ATTEMPTS, stay visible as `failed` until a
supervisor retries them. The senders (SMTP, webhook, drop folder …) live in `integrations/` and
are handed in by the entry point: the engine knows only the `Sender` protocol."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from engine import audit
from engine.clock import utcnow
from engine.db import unit_of_work
from engine.errors import InputError, NotFoundError
from engine.models import OutboxMessage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
LEASE = timedelta(minutes=10)  # longer than any sender's timeout


class Status(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class DeliveryError(Exception):
    """A sender could not deliver. `permanent` failures (a refused address, a 4xx answer) are not
    retried; anything else is, with back-off."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class Envelope:
    """What a sender gets: a copy of the row, taken when the worker claimed it."""

    id: int
    idempotency_key: str
    channel: str
    destination: str
    subject: str
    payload: dict[str, Any]
    case_id: int | None
    attempt: int


class Sender(Protocol):
    """Delivers one message to its destination; returns a receipt (message id, HTTP status, file
    name) for the audit trail, or raises DeliveryError. Must hand `idempotency_key` to the peer."""

    def send(self, envelope: Envelope) -> str: ...


@dataclass(frozen=True)
class Dispatch:
    message_id: int
    channel: str
    status: str  # sent, pending (will retry), failed
    detail: str  # the receipt or the error


def enqueue(
    session: Session,
    *,
    channel: str,
    destination: str,
    payload: dict[str, Any],
    idempotency_key: str,
    subject: str = "",
    case_id: int | None = None,
    actor: str = "system",
) -> OutboxMessage:
    """Record a message to send after commit, in the caller's transaction. The same key twice gives
    back the first message (whatever the second call asked for): one event, one delivery."""
    if not channel or not destination or not idempotency_key:
        raise InputError("发送渠道、目的地和幂等键不能为空")
    existing = find(session, idempotency_key)
    if existing is not None:
        return existing
    message = OutboxMessage(
        idempotency_key=idempotency_key[:128],
        channel=channel,
        destination=destination[:255],
        subject=subject[:255],
        payload=payload,
        status=Status.PENDING,
        attempts=0,
        next_attempt_at=utcnow(),
        case_id=case_id,
    )
    try:
        with session.begin_nested():  # another transaction may insert the same key at the same time
            session.add(message)
            session.flush()  # the unique key decides here, inside the savepoint
    except IntegrityError:
        raced = find(session, idempotency_key)
        if raced is None:
            raise
        return raced
    audit.record(
        session,
        actor=actor,
        action="outbox.enqueue",
        object_type="outbox",
        object_id=str(message.id),
        case_id=case_id,
        detail={"channel": channel, "destination": destination, "key": idempotency_key, "subject": subject},
    )
    return message


def find(session: Session, idempotency_key: str) -> OutboxMessage | None:
    return session.scalars(
        select(OutboxMessage).where(OutboxMessage.idempotency_key == idempotency_key[:128])
    ).first()


def backoff(attempts: int) -> timedelta:
    """Wait before the next try after `attempts` failed ones: 30 s, 1 min, 2 min … at most 1 h."""
    return min(FIRST_RETRY * 2 ** max(0, attempts - 1), LONGEST_RETRY)


def _claim(factory: sessionmaker[Session], skip: set[int]) -> Envelope | None:
    """Lease one due message: its attempt is counted and it is hidden for LEASE, so no other worker
    takes it while it is being sent; a worker that dies mid-send leaves it to be retried after that."""
    with unit_of_work(factory) as session:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.status == Status.PENDING, OutboxMessage.next_attempt_at <= utcnow())
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if skip:
            query = query.where(OutboxMessage.id.not_in(skip))
        message = session.scalars(query).first()
        if message is None:
            return None
        message.attempts += 1
        message.next_attempt_at = utcnow() + LEASE
        return Envelope(
            message.id, message.idempotency_key, message.channel, message.destination, message.subject,
            dict(message.payload), message.case_id, message.attempts,
        )  # fmt: skip


def _send(envelope: Envelope, senders: Mapping[str, Sender]) -> tuple[bool, str, bool]:
    """(delivered, receipt or reason, permanent failure); never raises for a peer's failure."""
    sender = senders.get(envelope.channel)
    if sender is None:
        return False, f"未配置发送渠道 {envelope.channel}", True
    try:
        return True, sender.send(envelope), False
    except DeliveryError as exc:
        return False, exc.reason, exc.permanent
    except Exception as exc:  # a sender's bug must not stop the queue; it is recorded and retried
        log.exception("sender %s failed on message %s", envelope.channel, envelope.id)
        return False, f"{type(exc).__name__}: {exc}", False


def _record(
    factory: sessionmaker[Session], envelope: Envelope, delivered: bool, detail: str, permanent: bool
) -> Dispatch:
    with unit_of_work(factory) as session:
        message = session.get(OutboxMessage, envelope.id, with_for_update=True)
        assert message is not None  # outbox rows are never deleted
        if message.status != Status.PENDING:  # another worker took it over after our lease ran out
            return Dispatch(message.id, message.channel, message.status, detail)
        if delivered:
            message.status = Status.SENT
            message.sent_at = utcnow()
            message.last_error = None
            action = "outbox.sent"
        else:
            message.last_error = detail[:2000]
            if permanent or message.attempts >= MAX_ATTEMPTS:
                message.status = Status.FAILED
                action = "outbox.failed"
            else:
                message.next_attempt_at = utcnow() + backoff(message.attempts)
                action = "outbox.retry"
        audit.record(
            session, actor="system", action=action, object_type="outbox", object_id=str(message.id),
            case_id=message.case_id,
            detail={"channel": message.channel, "attempt": message.attempts, "detail": detail[:500]},
        )  # fmt: skip
        return Dispatch(message.id, message.channel, message.status, detail)


def dispatch_due(
    factory: sessionmaker[Session], senders: Mapping[str, Sender], *, limit: int | None = None
) -> list[Dispatch]:
    """Send every message that is due. No transaction is open while a peer is talked to (a slow SMTP
    server must not hold the SQLite write lock): lease in one transaction, send, record in another."""
    done: list[Dispatch] = []
    seen: set[int] = set()
    while limit is None or len(done) < limit:
        envelope = _claim(factory, seen)
        if envelope is None:
            break
        seen.add(envelope.id)
        done.append(_record(factory, envelope, *_send(envelope, senders)))
    return done


def retry(session: Session, message_id: int, *, actor: str) -> OutboxMessage:
    """Put a failed message back in the queue now (a supervisor's 重新发送)."""
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFoundError("待发送消息不存在")
    if message.status == Status.SENT:
        raise InputError("该消息已发送，不能重发")
    message.status = Status.PENDING
    message.attempts = 0
    message.next_attempt_at = utcnow()
    audit.record(
        session, actor=actor, action="outbox.requeue", object_type="outbox", object_id=str(message.id),
        case_id=message.case_id, detail={"last_error": message.last_error or ""},
    )  # fmt: skip
    return message


def list_troubled(session: Session, *, case_ids: list[int] | None = None) -> list[OutboxMessage]:
    """Messages that failed for good or are being retried: the supervision board shows them."""
    query = (
        select(OutboxMessage)
        .where(
            or_(
                OutboxMessage.status == Status.FAILED,
                (OutboxMessage.status == Status.PENDING) & (OutboxMessage.attempts > 0),
            )
        )
        .order_by(OutboxMessage.created_at)
    )
    if case_ids is not None:
        query = query.where(OutboxMessage.case_id.in_(case_ids))
    return list(session.scalars(query))


def run_worker(
    factory: sessionmaker[Session],
    senders: Mapping[str, Sender],
    stop: threading.Event,
    *,
    interval: float = 5.0,
) -> None:
    """Send due messages until `stop` is set, every `interval` seconds."""
    while not stop.is_set():
        try:
            dispatch_due(factory, senders)
        except Exception:  # the loop must survive a database hiccup; the error is logged
            log.exception("outbox pass failed")
        stop.wait(interval)


def start_worker_thread(
    factory: sessionmaker[Session], senders: Mapping[str, Sender], *, interval: float = 5.0
) -> threading.Event:
    """Run the outbox worker in a daemon thread (the embedded default); set the event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_worker, args=(factory, senders, stop), kwargs={"interval": interval}, daemon=True
    )
    thread.name = "ybjg-outbox"
    thread.start()
    return stop
