"""The working-day calendar: counting rules by hand on 2024's National Day and 2025's Spring Festival,
then the tables (seed, admin edits, cache) on the real databases."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.calendar import (
    WorkCalendar,
    add_days,
    add_workdays,
    clock_due,
    confirm_year,
    covered_years,
    load_calendar,
    seed_from_chinese_calendar,
    set_day,
    workdays_between,
)
from engine.clock import BEIJING, utcnow
from engine.errors import CalendarError
from engine.models import AuditEvent, CalendarDay, CalendarYear

# The State Council's notices for 2024 (中秋/国庆) and 2025 (元旦/春节), entered by hand so the pure
# tests below state the facts they rely on. The seeded tables must agree (test_seeded_calendar_...).
WORKDAY, HOLIDAY = True, False
OVERRIDES = {
    date(2024, 9, 14): WORKDAY,  # Saturday, 中秋调休上班
    date(2024, 9, 16): HOLIDAY,  # Monday, 中秋节
    date(2024, 9, 17): HOLIDAY,  # Tuesday, 中秋节
    date(2024, 9, 29): WORKDAY,  # Sunday, 国庆调休上班
    **{date(2024, 10, d): HOLIDAY for d in (1, 2, 3, 4, 7)},  # 国庆节 on weekdays (5th, 6th: weekend)
    date(2024, 10, 12): WORKDAY,  # Saturday, 国庆调休上班
    date(2025, 1, 1): HOLIDAY,  # Wednesday, 元旦
    date(2025, 1, 26): WORKDAY,  # Sunday, 春节调休上班
    **{date(2025, 1, d): HOLIDAY for d in (28, 29, 30, 31)},  # 春节, Tuesday to Friday
    date(2025, 2, 3): HOLIDAY,  # Monday, 春节
    date(2025, 2, 4): HOLIDAY,  # Tuesday, 春节
    date(2025, 2, 8): WORKDAY,  # Saturday, 春节调休上班
}
CAL = WorkCalendar(OVERRIDES, frozenset({2024, 2025}))


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=BEIJING)


# --- working days ---------------------------------------------------------------------------------


def test_five_workdays_across_national_day_2024() -> None:
    # Start Friday 2024-09-27; the start day is not counted.
    #   09-28 Sat  weekend            -
    #   09-29 Sun  调休 workday        1
    #   09-30 Mon                     2
    #   10-01..10-04 Tue-Fri 国庆节    -
    #   10-05, 10-06 weekend          -
    #   10-07 Mon  国庆节              -
    #   10-08 Tue                     3
    #   10-09 Wed                     4
    #   10-10 Thu                     5  -> due 2024-10-10 23:59:59 Beijing
    d = add_workdays(CAL, date(2024, 9, 27), 5)
    assert d.day == date(2024, 10, 10)
    assert d.unverified is False
    assert d.due_at == bj(2024, 10, 10, 23, 59, 59)
    assert d.due_at.astimezone(UTC) == datetime(2024, 10, 10, 15, 59, 59, tzinfo=UTC)
    assert workdays_between(CAL, date(2024, 9, 27), date(2024, 10, 10)) == 5


def test_tiaoxiu_saturday_counts_as_a_workday() -> None:
    # From Thursday 10-10: 10-11 Fri is 1, 10-12 Sat is a 调休 workday so it is 2.
    assert add_workdays(CAL, date(2024, 10, 10), 2).day == date(2024, 10, 12)
    assert CAL.is_workday(date(2024, 10, 12)) and not CAL.is_workday(date(2024, 10, 13))


def test_zero_workdays_is_the_start_day() -> None:
    # Even on a holiday weekend: zero days after Saturday 2024-10-05 is that Saturday.
    assert add_workdays(CAL, date(2024, 10, 5), 0) == add_days(CAL, date(2024, 10, 5), 0)
    assert add_workdays(CAL, date(2024, 10, 5), 0).day == date(2024, 10, 5)


def test_negative_workdays_count_back_from_a_hearing() -> None:
    # Notify >= 7 working days before a hearing on Monday 2024-10-14. Counting back:
    #   10-13 Sun -, 10-12 Sat 调休 1, 10-11 2, 10-10 3, 10-09 4, 10-08 5,
    #   10-07..10-01 holiday and weekend -, 09-30 Mon 6, 09-29 Sun 调休 7  -> 2024-09-29
    d = add_workdays(CAL, date(2024, 10, 14), -7)
    assert (d.day, d.unverified) == (date(2024, 9, 29), False)


def test_year_without_data_uses_weekends_and_is_unverified() -> None:
    # 2027 has no entered data: Friday 2027-10-01 (National Day in reality) counts as a workday.
    #   From Thursday 09-30: 10-01 Fri 1, 10-02/03 weekend, 10-04 Mon 2, 10-05 Tue 3.
    d = add_workdays(CAL, date(2027, 9, 30), 3)
    assert (d.day, d.unverified) == (date(2027, 10, 5), True)


def test_span_reaching_an_uncovered_year_is_unverified() -> None:
    # From Monday 2025-12-29: 12-30 1, 12-31 2, 2026-01-01 Thu 3, 01-02 Fri 4, 01-05 Mon 5.
    # (The real 2026 notice made 01-01 and 01-02 holidays and Sunday 01-04 a workday, so the true
    # answer is 01-06: exactly why the flag is raised.)
    d = add_workdays(CAL, date(2025, 12, 29), 5)
    assert (d.day, d.unverified) == (date(2026, 1, 5), True)
    # Entirely inside 2025: verified.
    assert add_workdays(CAL, date(2025, 12, 22), 5).unverified is False


def test_workdays_between_matches_add_workdays() -> None:
    for offset in range(60):
        start = date(2024, 9, 10) + timedelta(days=offset)
        for n in (0, 1, 4, 12):
            end = add_workdays(CAL, start, n).day
            assert workdays_between(CAL, start, end) == n
            assert workdays_between(CAL, end, start) == -n
    assert workdays_between(CAL, date(2024, 10, 1), date(2024, 10, 7)) == 0  # all holiday or weekend


def test_aware_datetime_is_read_as_its_beijing_date() -> None:
    # 2024-09-26 18:00 UTC is 2024-09-27 02:00 in Beijing, so this is the Friday example again.
    d = add_workdays(CAL, datetime(2024, 9, 26, 18, 0, tzinfo=UTC), 5)
    assert d.day == date(2024, 10, 10)
    assert add_days(CAL, datetime(2024, 9, 30, 16, 0, tzinfo=UTC), 0).day == date(2024, 10, 1)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(CalendarError):
        add_workdays(CAL, datetime(2024, 9, 27, 9, 0), 5)
    with pytest.raises(CalendarError):
        workdays_between(CAL, datetime(2024, 9, 27, 9, 0), date(2024, 10, 1))


# --- calendar days --------------------------------------------------------------------------------


def test_add_days_rolls_past_a_holiday() -> None:
    # 2024-09-16 + 15 days = 2024-10-01, 国庆节. 10-02..10-04 holiday, 10-05/06 weekend,
    # 10-07 holiday, so the period ends on Tuesday 10-08.
    d = add_days(CAL, date(2024, 9, 16), 15)
    assert (d.day, d.unverified) == (date(2024, 10, 8), False)


def test_add_days_ending_on_a_tiaoxiu_saturday_stays() -> None:
    # 2024-08-30 + 15 = Saturday 2024-09-14, a 调休 workday: no roll.
    assert add_days(CAL, date(2024, 8, 30), 15).day == date(2024, 9, 14)


def test_add_days_ending_on_a_plain_sunday_rolls_to_monday() -> None:
    # 2024-11-02 (Saturday) + 15 = Sunday 2024-11-17 -> Monday 11-18.
    assert add_days(CAL, date(2024, 11, 2), 15).day == date(2024, 11, 18)


def test_add_days_roll_into_an_uncovered_year_is_unverified() -> None:
    cal = WorkCalendar({date(2025, 12, 31): HOLIDAY}, frozenset({2025}))
    # 2025-12-21 + 10 = 12-31, a holiday here, so it rolls to 2026-01-01: outside the data.
    d = add_days(cal, date(2025, 12, 21), 10)
    assert (d.day, d.unverified) == (date(2026, 1, 1), True)
    assert add_days(cal, date(2025, 12, 20), 10).unverified is False  # Tuesday 12-30, no roll


def test_add_days_backwards_rolls_earlier() -> None:
    # 2024-10-08 - 3 days = Saturday 10-05; moving earlier: 10-04..10-01 holiday -> Monday 09-30.
    assert add_days(CAL, date(2024, 10, 8), -3).day == date(2024, 9, 30)


# --- legal clocks ---------------------------------------------------------------------------------


def test_case_clock_of_90_days_with_suspension_and_extension() -> None:
    # 办案: 90 calendar days from 立案 on 2024-09-20, suspended 2024-10-10 -> 2024-10-20 (10 days by
    # Beijing date), extended by 30 days: 90 + 30 + 10 = 130 days after 2024-09-20 (not counted).
    #   to 09-30: 10 | to 10-31: 41 | to 11-30: 71 | to 12-31: 102 | to 2025-01-28: 130
    # 2025-01-28 (Tuesday) is the first day of the 2025 春节 holiday: 01-28..01-31 Tue-Fri, 02-01/02
    # weekend, 02-03/04 Mon-Tue, so the period ends on the next working day, Wednesday 2025-02-05,
    # at 23:59:59 Beijing = 15:59:59 UTC.
    due, unverified = clock_due(
        CAL,
        started_at=bj(2024, 9, 20, 9, 30),
        amount=90,
        unit="days",
        extended=30,
        suspensions=[(bj(2024, 10, 10, 10, 0), bj(2024, 10, 20, 15, 0))],
    )
    assert due == datetime(2025, 2, 5, 15, 59, 59, tzinfo=UTC)
    assert unverified is False
    assert add_days(CAL, date(2024, 9, 20), 130).day == date(2025, 2, 5)


def test_workday_clock_with_suspension_and_extension() -> None:
    # 5 working days + 2 extension, started Friday 2024-09-20, suspended Friday 09-27 -> Wednesday
    # 10-09. Paused working days in (09-27, 10-09]: 09-29 Sun 调休, 09-30, 10-08, 10-09 = 4.
    # So 5 + 2 + 4 = 11 working days after 09-20:
    #   09-23..09-27 (1-5), 09-29 Sun (6), 09-30 (7), 10-08 (8), 10-09 (9), 10-10 (10), 10-11 (11)
    due, unverified = clock_due(
        CAL,
        started_at=bj(2024, 9, 20, 10, 0),
        amount=5,
        unit="workdays",
        extended=2,
        suspensions=[(bj(2024, 9, 27, 16, 0), bj(2024, 10, 9, 9, 0))],
    )
    assert due == bj(2024, 10, 11, 23, 59, 59).astimezone(UTC)
    assert due is not None and due.tzinfo == UTC
    assert unverified is False


def test_hour_clock_adds_exact_paused_durations() -> None:
    # 移送送达: 24 hours from 2024-10-01 09:00 (holidays do not matter), paused 12:00 -> 14:30.
    # 09:00 + 24h + 2h30 = 2024-10-02 11:30 Beijing = 03:30 UTC.
    due, unverified = clock_due(
        CAL,
        started_at=bj(2024, 10, 1, 9, 0),
        amount=24,
        unit="hours",
        suspensions=[(bj(2024, 10, 1, 12, 0), bj(2024, 10, 1, 14, 30))],
    )
    assert (due, unverified) == (datetime(2024, 10, 2, 3, 30, tzinfo=UTC), False)


def test_open_suspension_has_no_due_instant() -> None:
    result = clock_due(
        CAL,
        started_at=bj(2024, 9, 20, 9, 0),
        amount=90,
        unit="days",
        suspensions=[(bj(2024, 10, 1, 9, 0), bj(2024, 10, 2, 9, 0))],
        suspended_since=bj(2024, 10, 10, 9, 0),
    )
    assert result == (None, False)


def test_clock_in_an_uncovered_year_is_unverified() -> None:
    due, unverified = clock_due(CAL, started_at=bj(2027, 3, 1, 9, 0), amount=15, unit="workdays")
    # Weekends alone: 15 working days after Monday 2027-03-01 is Monday 03-22.
    assert due == bj(2027, 3, 22, 23, 59, 59).astimezone(UTC)
    assert unverified is True


@pytest.mark.parametrize(
    "kwargs",
    [
        {"unit": "weeks"},
        {"amount": -1},
        {"started_at": datetime(2024, 9, 20, 9, 0)},
        {"suspensions": [(bj(2024, 10, 2, 9, 0), bj(2024, 10, 1, 9, 0))]},
    ],
    ids=["unknown-unit", "negative", "naive-start", "backwards-suspension"],
)
def test_clock_due_rejects_bad_input(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"started_at": bj(2024, 9, 20, 9, 0), "amount": 5, "unit": "days"} | kwargs
    with pytest.raises(CalendarError):
        clock_due(CAL, **args)  # type: ignore[arg-type]


# --- the tables -----------------------------------------------------------------------------------


def test_seed_enters_every_covered_year_once(session: Session) -> None:
    added = seed_from_chinese_calendar(session)
    assert added > 300  # about 20 rows a year since 2004
    years = session.scalars(select(CalendarYear)).all()
    assert sorted(y.year for y in years) == list(covered_years())
    assert {y.source for y in years} == {"chinese-calendar"}
    national_day = session.get(CalendarDay, date(2024, 10, 1))
    assert national_day is not None
    assert (national_day.is_workday, national_day.name, national_day.source) == (
        False,
        "国庆节",
        "chinese-calendar",
    )
    makeup = session.get(CalendarDay, date(2024, 10, 12))
    assert makeup is not None and makeup.is_workday and makeup.name == "国庆节调休上班"
    assert session.get(CalendarDay, date(2024, 10, 5)) is None  # a Saturday holiday is no exception
    rows = session.scalar(select(CalendarDay).where(CalendarDay.day == date(2024, 9, 16)))
    assert rows is not None and rows.name == "中秋节"

    count = len(session.scalars(select(CalendarDay.day)).all())
    assert seed_from_chinese_calendar(session) == 0
    assert len(session.scalars(select(CalendarDay.day)).all()) == count == added


def test_seeded_calendar_agrees_with_the_notices(session: Session) -> None:
    seed_from_chinese_calendar(session)
    cal = load_calendar(session)
    for day, is_workday in OVERRIDES.items():
        assert cal.is_workday(day) is is_workday, day
    assert cal.covers(2024) and cal.covers(2026) and not cal.covers(2027)
    # The worked examples come out the same on the seeded tables.
    assert add_workdays(cal, date(2024, 9, 27), 5) == add_workdays(CAL, date(2024, 9, 27), 5)
    due, unverified = clock_due(
        cal,
        started_at=bj(2024, 9, 20, 9, 30),
        amount=90,
        unit="days",
        extended=30,
        suspensions=[(bj(2024, 10, 10, 10, 0), bj(2024, 10, 20, 15, 0))],
    )
    assert (due, unverified) == (datetime(2025, 2, 5, 15, 59, 59, tzinfo=UTC), False)


def test_seed_keeps_admin_rows_and_admin_years(session: Session) -> None:
    # An admin entered 2024-10-01 as a workday before any seed, and confirmed 2025 by hand with no
    # exceptions at all. The seed must keep both.
    session.add(CalendarDay(day=date(2024, 10, 1), is_workday=True, name="值班", source="admin"))
    session.add(CalendarYear(year=2025, source="admin", confirmed_by="admin1"))
    seed_from_chinese_calendar(session)
    row = session.get(CalendarDay, date(2024, 10, 1))
    assert row is not None and (row.is_workday, row.name, row.source) == (True, "值班", "admin")
    in_2025 = session.scalars(
        select(CalendarDay.day).where(CalendarDay.day >= date(2025, 1, 1), CalendarDay.day < date(2026, 1, 1))
    ).all()
    assert in_2025 == []
    year = session.get(CalendarYear, 2025)
    assert year is not None and year.source == "admin"
    assert session.get(CalendarDay, date(2024, 10, 2)) is not None  # the rest of 2024 was seeded


def test_set_day_is_seen_by_the_next_load_and_audited(session: Session) -> None:
    seed_from_chinese_calendar(session)
    assert load_calendar(session).is_workday(date(2024, 10, 8))

    set_day(session, date(2024, 10, 8), "holiday", actor="admin1", name="临时调整")
    cal = load_calendar(session)
    assert not cal.is_workday(date(2024, 10, 8))
    row = session.get(CalendarDay, date(2024, 10, 8))
    assert row is not None and (row.source, row.updated_by, row.name) == ("admin", "admin1", "临时调整")

    # Back to the weekday rule: the exception row goes away.
    set_day(session, date(2024, 10, 8), "workday", actor="admin1")
    assert load_calendar(session).is_workday(date(2024, 10, 8))
    assert session.get(CalendarDay, date(2024, 10, 8)) is None

    # Re-entering a seeded row makes it the admin's, so no later seed touches it.
    set_day(session, date(2024, 10, 7), "holiday", actor="admin1", name="国庆节（调整）")
    assert not load_calendar(session).is_workday(date(2024, 10, 7))
    seeded = session.get(CalendarDay, date(2024, 10, 7))
    assert seeded is not None and (seeded.name, seeded.source) == ("国庆节（调整）", "admin")

    session.flush()  # the audit events are inserted at the next flush
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "calendar.set").order_by(AuditEvent.seq)
    ).all()
    assert [(e.object_type, e.object_id, e.actor) for e in events] == [
        ("calendar_day", "2024-10-08", "admin1"),
        ("calendar_day", "2024-10-08", "admin1"),
        ("calendar_day", "2024-10-07", "admin1"),
    ]
    assert events[0].detail["kind"] == "holiday" and events[0].before_digest is None
    assert events[1].before_digest is not None and events[1].after_digest is None


def test_set_day_twice_in_one_transaction(session: Session) -> None:
    set_day(session, date(2027, 2, 6), "workday", actor="admin1", name="春节调休上班")
    set_day(session, date(2027, 2, 6), "workday", actor="admin1", name="春节调休上班（更正）")
    assert load_calendar(session).is_workday(date(2027, 2, 6))  # a Saturday
    rows = session.scalars(select(CalendarDay)).all()
    assert [(r.day, r.name) for r in rows] == [(date(2027, 2, 6), "春节调休上班（更正）")]


def test_set_day_rejects_an_unknown_kind(session: Session) -> None:
    with pytest.raises(CalendarError, match="workday"):
        set_day(session, date(2024, 10, 8), "weekend", actor="admin1")
    assert session.scalars(select(AuditEvent)).all() == []


def test_confirm_year_makes_its_deadlines_verified(session: Session) -> None:
    assert add_workdays(load_calendar(session), date(2027, 3, 1), 5).unverified
    confirm_year(session, 2027, actor="admin1")
    cal = load_calendar(session)
    assert cal.covers(2027)
    assert add_workdays(cal, date(2027, 3, 1), 5).unverified is False
    year = session.get(CalendarYear, 2027)
    assert year is not None and (year.source, year.confirmed_by) == ("admin", "admin1")
    session.flush()  # the audit event is inserted at the next flush
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "calendar.confirm_year")).one()
    assert (event.object_type, event.object_id) == ("calendar_year", "2027")
    with pytest.raises(CalendarError):
        confirm_year(session, 27, actor="admin1")


def test_load_sees_an_edit_committed_by_another_process(sf: sessionmaker[Session]) -> None:
    # Another process's edit never goes through this process's set_day, so only the fingerprint
    # query can notice it. Each session's transaction ends before the other writes (SQLite locks).
    with sf() as reader:
        seed_from_chinese_calendar(reader)
        reader.commit()
        assert load_calendar(reader).is_workday(date(2024, 11, 11))
        reader.commit()
        with sf() as other:
            other.add(CalendarDay(day=date(2024, 11, 11), is_workday=False, name="停电", updated_by="x"))
            other.commit()
        assert not load_calendar(reader).is_workday(date(2024, 11, 11))
        reader.commit()
        with sf() as other:
            row = other.get(CalendarDay, date(2024, 11, 11))
            assert row is not None
            row.is_workday, row.updated_at = True, utcnow()  # same count: only updated_at tells
            other.add(CalendarDay(day=date(2024, 11, 9), is_workday=True, name="补班", updated_by="x"))
            other.delete(other.get(CalendarDay, date(2024, 10, 12)))
            other.commit()
        cal = load_calendar(reader)
        assert cal.is_workday(date(2024, 11, 11))
        assert cal.is_workday(date(2024, 11, 9)) and not cal.is_workday(date(2024, 10, 12))
        reader.commit()
        with sf() as other:
            other.add(CalendarYear(year=2030, source="admin", confirmed_by="x"))
            other.commit()
        assert load_calendar(reader).covers(2030)


def test_load_returns_the_cached_calendar_when_nothing_changed(session: Session) -> None:
    seed_from_chinese_calendar(session)
    assert load_calendar(session) is load_calendar(session)


def test_threads_load_one_calendar(sf: sessionmaker[Session]) -> None:
    with sf() as s:
        seed_from_chinese_calendar(s)
        s.commit()

    def load() -> WorkCalendar:
        with sf() as s:
            return load_calendar(s)

    with ThreadPoolExecutor(max_workers=8) as pool:
        calendars = list(pool.map(lambda _: load(), range(32)))
    assert all(c == calendars[0] for c in calendars)
    assert add_workdays(calendars[0], date(2024, 9, 27), 5).day == date(2024, 10, 10)


def test_months_are_counted_to_the_corresponding_day() -> None:
    from engine.calendar import add_months

    assert add_months(date(2024, 8, 31), 6) == date(2025, 2, 28)  # no 31st: the month's last day
    assert add_months(date(2024, 1, 15), 3) == date(2024, 4, 15)
    cal = WorkCalendar()
    # 6 months from 2024-03-15 is Sunday 2024-09-15: the next working day (weekend-only calendar).
    due, _ = clock_due(cal, started_at=datetime(2024, 3, 15, 10, tzinfo=BEIJING), amount=6, unit="months")
    assert due == datetime(2024, 9, 16, 23, 59, 59, tzinfo=BEIJING)
