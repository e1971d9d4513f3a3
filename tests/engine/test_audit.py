"""The audit chain (全过程记录) on a real database: appends, tamper detection, round trips, concurrency."""

from __future__ import annotations

import hashlib
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from engine import audit
from engine.clock import BEIJING, clock
from engine.models import AuditEvent, AuditHead


def _append(session: Session, n: int, *, case_id: int = 7) -> list[AuditEvent]:
    events = [
        audit.record(
            session,
            actor=f"clerk{i}",
            action="task.complete",
            object_type="task",
            object_id=str(100 + i),
            detail={"step": i, "意见": "同意"},
            before={"state": "open"},
            after={"state": "completed"},
            case_id=case_id,
            instance_id=3,
            client_addr="10.0.0.8",
        )
        for i in range(n)
    ]
    session.commit()
    return events


def _raw(session: Session, sql: str, **params: object) -> None:
    session.execute(text(sql), params)
    session.commit()


def _event_id(session: Session, seq: int) -> int:
    return session.scalars(select(AuditEvent.id).where(AuditEvent.seq == seq)).one()


def test_five_events_chain_and_verify_ok(session: Session) -> None:
    events = _append(session, 5)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == audit.GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert events[0].before_digest == audit.digest({"state": "open"})
    head = session.scalars(select(AuditHead)).one()
    assert (head.id, head.seq, head.hash) == (1, 5, events[-1].hash)
    assert audit.verify(session) == audit.VerifyResult(ok=True, checked=5)
    assert audit.verify(session, batch_size=2) == audit.VerifyResult(ok=True, checked=5)


def test_empty_chain_verifies_and_first_record_creates_head(session: Session) -> None:
    assert audit.verify(session) == audit.VerifyResult(ok=True, checked=0)
    assert session.get(AuditHead, 1) is None
    _append(session, 1)
    assert audit.verify(session).ok


def test_record_never_commits(session: Session) -> None:
    _append(session, 1)
    audit.record(session, actor="a", action="x", object_type="case", object_id="1")
    session.rollback()
    assert session.scalars(select(AuditEvent.seq)).all() == [1]
    assert audit.verify(session).ok
    _append(session, 1)
    assert session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)).all() == [1, 2]


@pytest.mark.parametrize("batch_size", [1000, 2])
def test_edited_detail_is_named(session: Session, batch_size: int) -> None:
    _append(session, 5)
    _raw(session, "UPDATE audit_events SET detail = :d WHERE seq = 4", d='{"step":3,"意见":"不同意"}')
    result = audit.verify(session, batch_size=batch_size)
    event_id = _event_id(session, 4)
    assert result == audit.VerifyResult(
        ok=False,
        checked=3,
        broken_seq=4,
        broken_id=event_id,
        reason=f"第 4 条记录（id {event_id}）内容被修改：哈希不符",
    )


def test_edited_actor_is_named(session: Session) -> None:
    _append(session, 5)
    _raw(session, "UPDATE audit_events SET actor = 'director' WHERE seq = 2")
    result = audit.verify(session)
    assert (result.ok, result.broken_seq, result.broken_id) == (False, 2, _event_id(session, 2))
    assert "内容被修改" in result.reason


def test_timestamp_moved_by_one_microsecond_is_named(session: Session) -> None:
    events = _append(session, 3)
    moved = events[1].occurred_at + timedelta(microseconds=1)
    session.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(occurred_at=moved))
    session.commit()
    assert audit.verify(session).broken_seq == 2


def test_deleted_middle_row_is_named_as_missing(session: Session) -> None:
    _append(session, 5)
    _raw(session, "DELETE FROM audit_events WHERE seq = 3")
    result = audit.verify(session)
    assert result == audit.VerifyResult(
        ok=False, checked=2, broken_seq=3, broken_id=None, reason="第 3 条记录缺失（序号不连续）"
    )


def test_deleted_newest_row_is_caught_by_the_head(session: Session) -> None:
    _append(session, 5)
    _raw(session, "DELETE FROM audit_events WHERE seq = 5")
    result = audit.verify(session)
    assert (result.ok, result.checked, result.broken_seq) == (False, 4, 5)
    assert result.reason.startswith("链尾与链头不一致：最后的记录被删除")


def test_rewritten_row_with_recomputed_hash_breaks_the_next_link(session: Session) -> None:
    events = _append(session, 4)
    forged = events[1]
    fields = {name: getattr(forged, name) for name in audit._HASHED_FIELDS} | {"actor": "director"}
    forged_hash = audit._event_hash(forged.prev_hash, fields)
    _raw(session, "UPDATE audit_events SET actor = 'director', hash = :h WHERE seq = 2", h=forged_hash)
    result = audit.verify(session)
    assert (result.ok, result.checked, result.broken_seq) == (False, 2, 3)
    assert "哈希链接不符" in result.reason


def test_edited_head_hash_is_reported(session: Session) -> None:
    _append(session, 3)
    _raw(session, "UPDATE audit_head SET hash = :h", h="f" * 64)
    result = audit.verify(session)
    assert (result.ok, result.checked, result.broken_seq) == (False, 3, 3)
    assert "链头哈希" in result.reason


def test_rows_beyond_the_head_are_reported(session: Session) -> None:
    events = _append(session, 3)
    _raw(session, "UPDATE audit_head SET seq = 2, hash = :h", h=events[1].hash)
    result = audit.verify(session)
    assert (result.ok, result.checked, result.broken_seq, result.broken_id) == (False, 2, 3, events[2].id)
    assert "多余的记录" in result.reason


def test_microseconds_and_detail_round_trip(sf: sessionmaker[Session]) -> None:
    # One microsecond before midnight UTC, given in Beijing time: zone, date and microseconds must survive.
    instant = datetime(2024, 3, 1, 7, 59, 59, 999999, tzinfo=BEIJING)
    clock.set(instant)
    detail = {
        "金额": Decimal("1234.50"),
        "日期": date(2024, 2, 29),
        "ratio": 0.1,
        "big": 2**62,
        "nested": {"z": [1, "二", None, True], "a": {}},
        "tuple": (1, 2),
    }
    with sf() as s:
        event = audit.record(
            s, actor="张三", action="case.open", object_type="case", object_id="9", detail=detail
        )
        s.commit()
        expected_hash = event.hash
    with sf() as s:
        stored = s.scalars(select(AuditEvent)).one()
        assert stored.occurred_at == instant and stored.occurred_at.microsecond == 999999
        assert stored.occurred_at.tzinfo is not None
        assert stored.detail == {
            "金额": "1234.50",
            "日期": "2024-02-29",
            "ratio": 0.1,
            "big": 2**62,
            "nested": {"z": [1, "二", None, True], "a": {}},
            "tuple": [1, 2],
        }
        fields = {name: getattr(stored, name) for name in audit._HASHED_FIELDS}
        assert audit._event_hash(stored.prev_hash, fields) == expected_hash == stored.hash
        assert audit.verify(s) == audit.VerifyResult(ok=True, checked=1)


def test_stale_head_in_the_identity_map_does_not_fork(sf: sessionmaker[Session]) -> None:
    with sf() as a, sf() as b:
        audit.record(a, actor="a", action="x", object_type="case", object_id="1")
        stale = a.get(AuditHead, 1)  # kept loaded after commit: the factory has expire_on_commit=False
        a.commit()
        audit.record(b, actor="b", action="x", object_type="case", object_id="1")
        b.commit()
        third = audit.record(a, actor="a", action="x", object_type="case", object_id="1")
        a.commit()
        assert stale is not None and stale.seq == 1
        assert third.seq == 3
        assert audit.verify(a).ok


def test_list_events_filters_newest_first(session: Session) -> None:
    _append(session, 3, case_id=1)
    _append(session, 2, case_id=2)
    audit.record(session, actor="a", action="x", object_type="case", object_id="2", case_id=2)
    session.commit()
    assert [e.seq for e in audit.list_events(session)] == [6, 5, 4, 3, 2, 1]
    assert [e.seq for e in audit.list_events(session, case_id=2)] == [6, 5, 4]
    assert [e.seq for e in audit.list_events(session, case_id=2, object_type="task")] == [5, 4]
    assert [e.seq for e in audit.list_events(session, object_type="task", object_id="101")] == [5, 2]
    assert [e.seq for e in audit.list_events(session, instance_id=3, limit=2)] == [5, 4]
    assert audit.list_events(session, case_id=99) == []


def test_digest() -> None:
    assert audit.digest(None) is None
    assert audit.digest("案件") == hashlib.sha256("案件".encode()).hexdigest()
    assert audit.digest(b"\x00\xff") == hashlib.sha256(b"\x00\xff").hexdigest()
    canonical = '{"a":[1,"二"],"b":"2024-01-02","c":"1.50"}'
    assert audit.digest({"c": Decimal("1.50"), "b": date(2024, 1, 2), "a": [1, "二"]}) == audit.digest(
        canonical
    )
    assert audit.digest({"a": 1, "b": 2}) == audit.digest({"b": 2, "a": 1})
    assert audit.digest({"s": {"x", "y", "z"}}) == audit.digest('{"s":["x","y","z"]}')
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert audit.digest([when]) == audit.digest('["2024-01-02 03:04:05+00:00"]')


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"case_id": True}, TypeError),
        ({"case_id": "7"}, TypeError),
        ({"object_id": 7}, TypeError),
        ({"actor": "x" * 65}, ValueError),
        ({"client_addr": "1" * 65}, ValueError),
        ({"detail": {"ratio": float("nan")}}, ValueError),
    ],
)
def test_record_refuses_values_it_cannot_store_faithfully(
    session: Session, kwargs: dict[str, object], error: type[Exception]
) -> None:
    args: dict[str, object] = {"actor": "a", "action": "x", "object_type": "case", "object_id": "1"} | kwargs
    with pytest.raises(error):
        audit.record(session, **args)  # type: ignore[arg-type]


def test_concurrent_appends_never_fork(sf: sessionmaker[Session]) -> None:
    start = threading.Barrier(2)

    def append_many(worker: int) -> None:
        start.wait()
        for i in range(25):
            with sf() as s:
                audit.record(s, actor=f"w{worker}", action="x", object_type="case", object_id=str(i))
                s.commit()

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(append_many, w) for w in (1, 2)]:
            future.result()  # re-raises a worker's exception here

    with sf() as s:
        assert s.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)).all() == list(range(1, 51))
        assert s.scalars(select(AuditHead.seq)).one() == 50
        assert audit.verify(s) == audit.VerifyResult(ok=True, checked=50)
        actors = s.scalars(select(AuditEvent.actor)).all()
        assert sorted(set(actors)) == ["w1", "w2"] and len(actors) == 50
