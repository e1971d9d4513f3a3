"""Rate limits kept in the database: a counter per bucket (one client address, or everyone) and
fixed window, so every web worker counts against the same limit. Client addresses are stored only
as a keyed digest, never in clear: the public intake must not become a record of who reported."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.errors import RateLimitedError
from engine.models import RateLimitWindow

KEEP_WINDOWS = 48  # old windows are pruned as new ones are counted


@dataclass(frozen=True)
class Limit:
    """At most `count` hits per `window` in `bucket`; `message` is what the user reads when over."""

    bucket: str
    count: int
    window: timedelta
    message: str


def address_bucket(prefix: str, client_addr: str | None, secret: str) -> str:
    """A bucket name for one client address; the address itself is not recoverable from it."""
    digest = hashlib.sha256(f"{secret}|{client_addr or '-'}".encode()).hexdigest()[:40]
    return f"{prefix}:{digest}"


def window_start(now: datetime, window: timedelta) -> datetime:
    seconds = int(window.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, now.tzinfo)


def hit(session: Session, limits: Sequence[Limit]) -> None:
    """Count one hit in every limit's current window, in the caller's transaction; raises
    RateLimitedError (with the first exceeded limit's message) when any is over. The counting row
    stays locked until the transaction ends, so concurrent workers cannot both slip under a limit."""
    now = utcnow()
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert  # type: ignore[union-attr]
    for limit in limits:
        start = window_start(now, limit.window)
        session.execute(
            insert(RateLimitWindow)
            .values(bucket=limit.bucket, window_start=start, count=0)
            .on_conflict_do_nothing(index_elements=["bucket", "window_start"])
        )
        key = (RateLimitWindow.bucket == limit.bucket) & (RateLimitWindow.window_start == start)
        session.execute(update(RateLimitWindow).where(key).values(count=RateLimitWindow.count + 1))
        count = session.scalars(select(RateLimitWindow.count).where(key)).one()
        if count > limit.count:
            raise RateLimitedError(limit.message)
        session.execute(
            delete(RateLimitWindow).where(
                RateLimitWindow.bucket == limit.bucket,
                RateLimitWindow.window_start < start - limit.window * KEEP_WINDOWS,
            )
        )
