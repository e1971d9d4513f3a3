"""Working-day calendar (工作日历) and legal-clock due dates.

The bureau's calendar is Monday to Friday plus exceptions: `calendar_days` holds weekday holidays and
weekend 调休 workdays, and `calendar_years` the years whose exceptions have been entered. Every date
here is a Beijing date. A period's start day is not counted (期间开始之日不计算在内); a deadline that
touches a year without entered data is still computed, on whatever is known, but flagged unverified.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any

import chinese_calendar  # type: ignore[import-untyped]
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import audit
from engine.clock import BEIJING, to_beijing, utcnow
from engine.errors import CalendarError
from engine.models import CalendarDay, CalendarYear, ClockUnit

SEED_SOURCE = "chinese-calendar"
ADMIN_SOURCE = "admin"
END_OF_DAY = time(23, 59, 59)
ONE_DAY = timedelta(days=1)

# chinese_calendar uses short names for three festivals; the State Council notices use these.
_OFFICIAL_NAMES = {"清明": "清明节", "端午": "端午节", "中秋": "中秋节"}


@dataclass(frozen=True)
class WorkCalendar:
    """Exceptions to the Monday-to-Friday rule, and the years whose exceptions are complete."""

    overrides: Mapping[date, bool] = field(default_factory=dict)
    years: frozenset[int] = frozenset()

    def is_workday(self, d: date) -> bool:
        """True on a working day: an override if there is one, else Monday to Friday."""
        return self.overrides.get(d, d.weekday() < 5)

    def covers(self, year: int) -> bool:
        """True when the year's holidays and 调休 days have been entered."""
        return year in self.years


@dataclass(frozen=True)
class Deadline:
    """The last day of a period; `unverified` when part of the count fell in an uncovered year."""

    day: date
    unverified: bool

    @property
    def due_at(self) -> datetime:
        """The end of the last day in Beijing time (23:59:59+08:00)."""
        return datetime.combine(self.day, END_OF_DAY, tzinfo=BEIJING)


def beijing_date(value: date | datetime) -> date:
    """The Beijing calendar date of a date or an aware datetime. Raises CalendarError on a naive one."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise CalendarError(f"时间 {value.isoformat()} 缺少时区，无法确定北京日期")
        return to_beijing(value).date()
    return value


def add_workdays(cal: WorkCalendar, start: date | datetime, n: int) -> Deadline:
    """The n-th working day after `start` (before it when n < 0); n == 0 gives `start` itself."""
    day = beijing_date(start)
    step = ONE_DAY if n > 0 else -ONE_DAY
    remaining = abs(n)
    unverified = False
    while remaining:
        day += step
        unverified = unverified or not cal.covers(day.year)
        if cal.is_workday(day):
            remaining -= 1
    return Deadline(day, unverified)


def add_days(cal: WorkCalendar, start: date | datetime, n: int) -> Deadline:
    """The n-th calendar day after `start`, moved to the next working day if it is not one.

    For n < 0 the day moves to the previous working day instead, so that an act due "n days before"
    is never placed after the limit. n == 0 gives `start` itself.
    """
    first = beijing_date(start)
    if n == 0:
        return Deadline(first, False)
    step = ONE_DAY if n > 0 else -ONE_DAY
    day = first + timedelta(days=n)
    lo, hi = sorted((first + step, day))
    unverified = any(not cal.covers(y) for y in range(lo.year, hi.year + 1))
    # 民事诉讼法: a period whose last day is a holiday ends on the first working day after it.
    while not cal.is_workday(day):
        day += step
        unverified = unverified or not cal.covers(day.year)
    return Deadline(day, unverified)


def workdays_between(cal: WorkCalendar, a: date | datetime, b: date | datetime) -> int:
    """Working days in (a, b] when b > a, minus those in (b, a] when b < a, 0 when equal."""
    first, last = beijing_date(a), beijing_date(b)
    if first == last:
        return 0
    lo, hi, sign = (first, last, 1) if last > first else (last, first, -1)
    count = sum(1 for k in range(1, (hi - lo).days + 1) if cal.is_workday(lo + timedelta(days=k)))
    return sign * count


def clock_due(
    cal: WorkCalendar,
    *,
    started_at: datetime,
    amount: int,
    unit: str,
    extended: int = 0,
    suspensions: Sequence[tuple[datetime, datetime]] = (),
    suspended_since: datetime | None = None,
) -> tuple[datetime | None, bool]:
    """(due instant in UTC, unverified) of a legal clock; (None, False) while it is suspended.

    Raises CalendarError on an unknown unit, a negative limit, a naive datetime or a suspension
    that ends before it starts.
    """
    _require_aware(started_at)
    if unit not in tuple(ClockUnit):
        raise CalendarError(f"期限单位只能是 workdays、days、months 或 hours，收到 {unit!r}")
    limit = amount + extended
    if limit < 0:
        raise CalendarError(f"期限不能为负数（{amount} + 延长 {extended}）")
    for suspended, resumed in suspensions:
        _require_aware(suspended)
        _require_aware(resumed)
        if resumed < suspended:
            raise CalendarError(f"中止区间有误：恢复时间 {resumed.isoformat()} 早于中止时间")
    if suspended_since is not None:
        # A suspended clock stops counting: its due instant is unknown until it resumes.
        return None, False

    if unit == ClockUnit.HOURS:
        paused = sum((resumed - suspended for suspended, resumed in suspensions), timedelta())
        return (started_at + timedelta(hours=limit) + paused).astimezone(UTC), False

    spans = [(beijing_date(s), beijing_date(r)) for s, r in suspensions]
    pause_unverified = any(not cal.covers(y) for s, r in spans for y in range(s.year, r.year + 1))
    if unit == ClockUnit.MONTHS:
        # 按月计算: the corresponding day of the last month (its last day when there is none),
        # then the paused days, then the holiday roll-forward of add_days.
        end = add_months(beijing_date(started_at), limit)
        paused_days = sum((r - s).days for s, r in spans)
        deadline = add_days(cal, end, paused_days)
        if paused_days == 0 and not cal.is_workday(end):
            deadline = add_days(cal, end - ONE_DAY, 1)
    elif unit == ClockUnit.DAYS:
        paused_days = sum((r - s).days for s, r in spans)
        deadline = add_days(cal, started_at, limit + paused_days)
    else:
        paused_days = sum(workdays_between(cal, s, r) for s, r in spans)
        deadline = add_workdays(cal, started_at, limit + paused_days)
    return deadline.due_at.astimezone(UTC), deadline.unverified or pause_unverified


def add_months(start: date, n: int) -> date:
    """The day corresponding to `start` n months later (the month's last day when it has none)."""
    month_index = start.month - 1 + n
    year, month = start.year + month_index // 12, month_index % 12 + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - ONE_DAY).day
    return date(year, month, min(start.day, last))


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise CalendarError(f"时间 {instant.isoformat()} 缺少时区")


# --- the calendar tables -------------------------------------------------------------------------

_cache: dict[str, tuple[tuple[Any, ...], WorkCalendar]] = {}
_cache_lock = threading.Lock()

# Cheap enough to run on every load: both tables hold a few hundred rows at most. An admin's edit
# changes updated_at/confirmed_at or a count, so another process sharing the database reloads.
_FINGERPRINT = select(
    select(func.count()).select_from(CalendarDay).scalar_subquery(),
    select(func.max(CalendarDay.updated_at)).scalar_subquery(),
    select(func.min(CalendarDay.day)).scalar_subquery(),
    select(func.max(CalendarDay.day)).scalar_subquery(),
    select(func.count()).select_from(CalendarYear).scalar_subquery(),
    select(func.max(CalendarYear.confirmed_at)).scalar_subquery(),
)


def load_calendar(session: Session) -> WorkCalendar:
    """The calendar as this session sees it; cached per process and database, reloaded when it changes."""
    key = session.get_bind().engine.url.render_as_string(hide_password=True)
    fingerprint = tuple(session.execute(_FINGERPRINT).one())
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == fingerprint:
        return hit[1]
    rows = session.execute(select(CalendarDay.day, CalendarDay.is_workday)).all()
    years = session.scalars(select(CalendarYear.year)).all()
    cal = WorkCalendar(MappingProxyType({d: w for d, w in rows}), frozenset(years))
    with _cache_lock:
        _cache[key] = (fingerprint, cal)
    return cal


def _forget_cache() -> None:
    # Writers in this process drop the cache outright, so even an edit that leaves the fingerprint
    # equal (a test with a frozen clock) is seen by the next load.
    with _cache_lock:
        _cache.clear()


def covered_years() -> range:
    """The years for which the installed chinese_calendar package has holiday data."""
    known = chinese_calendar.constants.holidays.keys()
    return range(min(known).year, max(known).year + 1)


def seed_from_chinese_calendar(session: Session, actor: str = "system") -> int:
    """Enter every year chinese_calendar knows and calendar_years lacks; returns calendar_days rows added.

    Idempotent. A year already in calendar_years is left alone (so an admin's edits and deletions
    survive), and an existing calendar_days row is never replaced.
    """
    constants = chinese_calendar.constants
    done = set(session.scalars(select(CalendarYear.year)))
    years = [y for y in covered_years() if y not in done]
    if not years:
        return 0
    have = set(
        session.scalars(
            select(CalendarDay.day).where(
                CalendarDay.day >= date(years[0], 1, 1), CalendarDay.day <= date(years[-1], 12, 31)
            )
        )
    )
    now = utcnow()
    added = 0
    wanted = set(years)
    for source, is_workday in ((constants.holidays, False), (constants.workdays, True)):
        for day, english in sorted(source.items()):
            if day.year not in wanted or day in have or (day.weekday() < 5) == is_workday:
                continue  # outside the years to seed, already entered, or the plain weekday rule
            name = _festival_name(english)
            session.add(
                CalendarDay(
                    day=day,
                    is_workday=is_workday,
                    name=f"{name}调休上班" if is_workday else name,
                    source=SEED_SOURCE,
                    updated_by=actor,
                    updated_at=now,
                )
            )
            added += 1
    for year in years:
        session.add(CalendarYear(year=year, source=SEED_SOURCE, confirmed_by=actor, confirmed_at=now))
    _forget_cache()
    return added


def _festival_name(english: str) -> str:
    chinese: str = chinese_calendar.constants.Holiday(english).chinese
    return _OFFICIAL_NAMES.get(chinese, chinese)


def set_day(session: Session, day: date, kind: str, *, actor: str, name: str = "") -> None:
    """Make `day` a workday or a holiday, audited. Raises CalendarError on any other kind."""
    if kind not in ("workday", "holiday"):
        raise CalendarError(f"日期类型只能是 workday（工作日）或 holiday（节假日），收到 {kind!r}")
    day = beijing_date(day)
    is_workday = kind == "workday"
    by_rule = day.weekday() < 5
    row = session.get(CalendarDay, day)
    before = _day_snapshot(row)
    if is_workday == by_rule:
        # The weekday rule already gives this kind: keep the table to real exceptions only.
        if row is not None:
            session.delete(row)
        after = None
    else:
        if row is None:
            row = CalendarDay(day=day)
            session.add(row)
        row.is_workday = is_workday
        row.name = name
        row.source = ADMIN_SOURCE
        row.updated_by = actor
        row.updated_at = utcnow()
        after = _day_snapshot(row)
    audit.record(
        session,
        actor=actor,
        action="calendar.set",
        object_type="calendar_day",
        object_id=day.isoformat(),
        detail={"kind": kind, "name": name, "weekday_rule": "workday" if by_rule else "holiday"},
        before=before,
        after=after,
    )
    _forget_cache()


def confirm_year(session: Session, year: int, *, actor: str) -> None:
    """Mark `year`'s holidays and 调休 days as entered, audited. Raises CalendarError on a bad year."""
    if not 1900 <= year <= 9999:
        raise CalendarError(f"年份 {year} 无效")
    row = session.get(CalendarYear, year)
    before = _year_snapshot(row)
    if row is None:
        row = CalendarYear(year=year)
        session.add(row)
    row.source = ADMIN_SOURCE
    row.confirmed_by = actor
    row.confirmed_at = utcnow()
    audit.record(
        session,
        actor=actor,
        action="calendar.confirm_year",
        object_type="calendar_year",
        object_id=str(year),
        detail={"year": year},
        before=before,
        after=_year_snapshot(row),
    )
    _forget_cache()


def _day_snapshot(row: CalendarDay | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "day": row.day.isoformat(),
        "is_workday": row.is_workday,
        "name": row.name,
        "source": row.source,
        "updated_by": row.updated_by,
    }


def _year_snapshot(row: CalendarYear | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"year": row.year, "source": row.source, "confirmed_by": row.confirmed_by}
