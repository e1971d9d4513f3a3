"""The one clock every part of the engine reads, so tests move time instead of sleeping."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")


class Clock:
    """Wall-clock time, or a fixed instant set by a test. Shared by all threads on purpose:
    a test that freezes time must freeze it for the scheduler threads it starts too."""

    def __init__(self) -> None:
        self._fixed: datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        fixed = self._fixed
        return fixed if fixed is not None else datetime.now(UTC)

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("clock instants must be timezone-aware")
        with self._lock:
            self._fixed = instant.astimezone(UTC)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._fixed = (self._fixed or datetime.now(UTC)) + delta
            return self._fixed

    def reset(self) -> None:
        with self._lock:
            self._fixed = None


clock = Clock()


def utcnow() -> datetime:
    """The current instant, timezone-aware UTC."""
    return clock.now()


def to_beijing(instant: datetime) -> datetime:
    """The same instant expressed in Beijing time (+08:00), the zone every legal date is read in."""
    return instant.astimezone(BEIJING)
