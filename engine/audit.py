"""全过程记录: an append-only audit trail whose events are hash-chained in `seq` order.

Each event's hash covers the previous event's hash and every recorded field, so editing a row breaks
its own hash and deleting one leaves a gap in `seq`. The single AuditHead row holds the chain's last
link: it catches deletion of the newest rows, and locking it serializes appends so the chain never forks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Insert, Select, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.models import AuditEvent, AuditHead

HEAD_ID = 1
GENESIS_HASH = "0" * 64
VERIFY_BATCH_SIZE = 1000

# The fields an event's hash covers, besides the previous hash. Changing this list (or how a field is
# serialized) invalidates every stored chain, so it would need a format version stored with each event.
_HASHED_FIELDS = (
    "seq",
    "occurred_at",
    "actor",
    "client_addr",
    "action",
    "object_type",
    "object_id",
    "case_id",
    "instance_id",
    "before_digest",
    "after_digest",
    "detail",
)
# Column lengths of AuditEvent: PostgreSQL rejects longer values and SQLite silently keeps them,
# so record() checks them itself to behave the same on both.
_MAX_LEN = {"actor": 64, "client_addr": 64, "action": 64, "object_type": 32, "object_id": 64}


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of verify(): `reason` is Chinese UI text naming the first broken link."""

    ok: bool
    checked: int  # events found intact before the first break (all of them when ok)
    broken_seq: int | None = None
    broken_id: int | None = None
    reason: str = "记录完整，未发现改动"


def digest(value: object) -> str | None:
    """SHA-256 hex of a value: str as UTF-8, bytes as is, anything else as canonical JSON; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        data = value.encode("utf-8")
    elif isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
    else:
        data = _canonical_json(value).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    detail: dict[str, Any] | None = None,
    before: object = None,
    after: object = None,
    case_id: int | None = None,
    instance_id: int | None = None,
    client_addr: str | None = None,
) -> AuditEvent:
    """Append one event to the chain in the caller's transaction (never commits). Raises TypeError/ValueError
    on values the chain could not store faithfully (wrong types, too long, NaN or non-JSON detail)."""
    for name, text_value in (
        ("actor", actor),
        ("action", action),
        ("object_type", object_type),
        ("object_id", object_id),
        ("client_addr", client_addr),
    ):
        _check_text(name, text_value, nullable=name == "client_addr")
    _check_int("case_id", case_id)
    _check_int("instance_id", instance_id)
    # Store exactly what is hashed: the detail as it reads back from JSON (dates and Decimals become
    # strings, tuples lists), so the hash recomputed from the stored row matches.
    stored_detail = json.loads(_canonical_json(detail or {}, allow_nan=False))
    if not isinstance(stored_detail, dict):
        raise TypeError("audit detail must be a dict")

    prev_seq, prev_hash = _lock_head(session)
    event = AuditEvent(
        seq=prev_seq + 1,
        occurred_at=utcnow(),
        actor=actor,
        client_addr=client_addr,
        action=action,
        object_type=object_type,
        object_id=object_id,
        case_id=case_id,
        instance_id=instance_id,
        before_digest=digest(before),
        after_digest=digest(after),
        detail=stored_detail,
        prev_hash=prev_hash,
    )
    event.hash = _event_hash(prev_hash, {name: getattr(event, name) for name in _HASHED_FIELDS})
    # A Core UPDATE, not the ORM object: with expire_on_commit=False an AuditHead kept in the identity
    # map from an earlier transaction would be stale, and reusing it would fork the chain.
    session.execute(
        update(AuditHead)
        .where(AuditHead.id == HEAD_ID)
        .values(seq=event.seq, hash=event.hash)
        .execution_options(synchronize_session=False)
    )
    session.add(event)  # inserted at the caller's next flush or commit; no flush needed here
    return event


def verify(session: Session, *, batch_size: int = VERIFY_BATCH_SIZE) -> VerifyResult:
    """Walk the chain by seq in batches and report the first edited, missing or unlinked event."""
    head = _read_head(session)
    if head is None:
        first = session.execute(_event_rows().limit(1)).first()
        if first is None:
            return VerifyResult(ok=True, checked=0)
        return _broken(0, first.seq, first.id, "链头记录缺失：无法确认最后的记录是否完整")
    head_seq, head_hash = head

    # Only events up to the head read first: on PostgreSQL each batch sees newer commits, and events
    # appended meanwhile belong to a newer head. Extra rows beyond the head are checked at the end.
    checked = 0
    prev_hash = GENESIS_HASH
    last_seq = 0
    while True:
        batch = session.execute(
            _event_rows()
            .where(AuditEvent.seq > last_seq, AuditEvent.seq <= head_seq)
            .order_by(AuditEvent.seq)
            .limit(batch_size)
        ).all()
        if not batch:
            break
        for row in batch:
            fields = row._mapping
            expected_seq = last_seq + 1
            if row.seq != expected_seq:
                return _broken(checked, expected_seq, None, f"第 {expected_seq} 条记录缺失（序号不连续）")
            where = f"第 {row.seq} 条记录（id {row.id}）"
            if _event_hash(row.prev_hash, fields) != row.hash:
                return _broken(checked, row.seq, row.id, f"{where}内容被修改：哈希不符")
            if row.prev_hash != prev_hash:
                reason = f"{where}与上一条记录的哈希链接不符：第 {row.seq - 1} 条或本条记录被改动"
                return _broken(checked, row.seq, row.id, reason)
            checked += 1
            prev_hash = row.hash
            last_seq = row.seq

    if last_seq < head_seq:
        reason = f"链尾与链头不一致：最后的记录被删除（第 {last_seq + 1} 条至第 {head_seq} 条）"
        return _broken(checked, last_seq + 1, None, reason)
    if prev_hash != head_hash:
        return _broken(checked, head_seq, None, f"链尾与链头不一致：链头哈希与第 {head_seq} 条记录不符")

    # Rows beyond the head: read the largest seq first, then the head again. Events and the head are
    # committed together, so a legitimate chain always has head >= the max read before it.
    max_seq = session.scalar(select(func.max(AuditEvent.seq))) or 0
    latest = _read_head(session)
    if latest is None or latest[0] < max_seq:
        beyond = _event_rows().where(AuditEvent.seq > head_seq).order_by(AuditEvent.seq)
        extra = session.execute(beyond).first()
        return _broken(
            checked,
            extra.seq if extra else head_seq + 1,
            extra.id if extra else None,
            "链头之后存在多余的记录：记录未经正常途径写入，或链头被改动",
        )
    return VerifyResult(ok=True, checked=checked)


def list_events(
    session: Session,
    *,
    case_id: int | None = None,
    instance_id: int | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    """Events matching every given filter, newest first, at most `limit`."""
    stmt = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
    if case_id is not None:
        stmt = stmt.where(AuditEvent.case_id == case_id)
    if instance_id is not None:
        stmt = stmt.where(AuditEvent.instance_id == instance_id)
    if object_type is not None:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id is not None:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    return list(session.scalars(stmt))


def _broken(checked: int, seq: int | None, event_id: int | None, reason: str) -> VerifyResult:
    return VerifyResult(ok=False, checked=checked, broken_seq=seq, broken_id=event_id, reason=reason)


def _lock_head(session: Session) -> tuple[int, str]:
    """Lock the head row until the caller's transaction ends (creating it if missing); return its seq, hash.

    PostgreSQL: SELECT ... FOR UPDATE makes a second appender wait for our commit and then read the new
    head (READ COMMITTED; under REPEATABLE READ it gets a serialization error to retry instead).
    SQLite renders no FOR UPDATE; its BEGIN IMMEDIATE already serializes writing transactions.
    """
    stmt = select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ID).with_for_update()
    row = session.execute(stmt).first()
    if row is None:
        # Two first appenders may both find no head: ON CONFLICT DO NOTHING lets the loser wait for the
        # winner's commit and then lock the winner's row, instead of failing on the primary key.
        session.execute(_insert_head_if_missing(session))
        row = session.execute(stmt).one()
    return row.seq, row.hash


def _insert_head_if_missing(session: Session) -> Insert:
    values = {"id": HEAD_ID, "seq": 0, "hash": GENESIS_HASH}
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(AuditHead).values(values).on_conflict_do_nothing(index_elements=["id"])
    return sqlite.insert(AuditHead).values(values).on_conflict_do_nothing(index_elements=["id"])


def _read_head(session: Session) -> tuple[int, str] | None:
    row = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ID)).first()
    return None if row is None else (row.seq, row.hash)


def _event_rows() -> Select[Any]:
    # Plain rows, not AuditEvent objects: a million-event walk must not fill the session's identity map.
    return select(AuditEvent.id, AuditEvent.prev_hash, AuditEvent.hash, *_hashed_columns())


def _hashed_columns() -> list[Any]:
    return [getattr(AuditEvent, name) for name in _HASHED_FIELDS]


def _event_hash(prev_hash: str, fields: Mapping[Any, Any]) -> str:
    payload = {name: fields[name] for name in _HASHED_FIELDS}
    payload["occurred_at"] = _iso_utc(payload["occurred_at"])
    payload["prev_hash"] = prev_hash
    return hashlib.sha256(_canonical_json(payload, allow_nan=False).encode("utf-8")).hexdigest()


def _iso_utc(instant: datetime) -> str:
    # SQLite hands back naive UTC text and PostgreSQL an aware value; UTCDateTime makes both aware UTC,
    # and a naive value here would be read as local time by astimezone(), so refuse it.
    if instant.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return instant.astimezone(UTC).isoformat(timespec="microseconds")


def _canonical_json(value: object, *, allow_nan: bool = True) -> str:
    return json.dumps(
        value,
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=_json_default,
        allow_nan=allow_nan,
    )


def _json_default(value: object) -> object:
    # A set's str() order changes between processes (hash randomization), so sort its members.
    if isinstance(value, set | frozenset):
        return sorted(value, key=_canonical_json)
    return str(value)  # dates, datetimes, Decimals, UUIDs


def _check_text(name: str, value: object, *, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str):
        raise TypeError(f"audit {name} must be str, not {type(value).__name__}")
    if len(value) > _MAX_LEN[name]:
        raise ValueError(f"audit {name} longer than {_MAX_LEN[name]} characters")


def _check_int(name: str, value: object) -> None:
    # bool is an int subclass that JSON would hash as true while the database stores 1.
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"audit {name} must be int or None, not {type(value).__name__}")
