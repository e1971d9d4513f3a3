"""The functions BPMN expressions (conditions, timers, scripts, DMN cells) may call — the only date
helpers they use. Every date-returning function returns an ISO 8601 string in +08:00 (a timer
expression must return a string); the string also carries `.unverified` when the calendar of
its year has not been entered.

    add_workdays(start, n)   the end of the n-th working day after `start` (start day not counted)
    add_days(start, n)       the end of the n-th calendar day after `start`, moved to the next
                             working day when it falls on a holiday
    add_months(start, n)     the corresponding day n months later (按月计算), moved past holidays
    add_hours(start, n)      `start` plus n clock hours
    now()                    the current instant;  today(): the Beijing date 'YYYY-MM-DD'
    deadline(rule, start)    the due instant of a named clock rule (e.g. '陈述申辩') counted from `start`
    clock_due(name)          the due instant of this case's legal clock `name`; while it is
                             suspended (中止) a far-future instant, so a timer reading it waits
                             and is re-timed when the clock resumes
    clock_suspended(name)    whether this case's legal clock `name` is suspended (中止) now
    start_clock(name[, amount, unit])  extend_clock(name, amount[, reason])
    suspend_clock(name[, reason])  resume_clock(name[, reason])  stop_clock(name)
    yuan(x)                  a money amount as Decimal rounded to 0.01 元
    wan(x)                   x 万元 as Decimal 元
    reject(field, message)   refuse the form just submitted: `message` shows beside `field`, the
                             task stays open and nothing is saved (rules across several fields)

The case record (engine/cases.py), written by scripts so statistics never read workflow data:
    open_case(**fields)      create this instance's case (party_name, party_type, title, stage, …)
    update_case(**fields)    stage, status, outcome, amounts (amount_involved, amount_recovered, fine,
                             penalty_interest), violation_types, legal_review, collective_discussion,
                             published
    assign_case_number(kind) give the case its 文号 once (e.g. 渝北医保立〔2024〕3号) and return it
    document_number(kind)    a fresh 文号 of a kind of document (罚, 告, 移 …) for this case's unit

Referrals (engine/referrals.py):
    send_referral(number, destination, receiver, suspected_offence=…, facts=…, basis=…)
                             record referral `number` to agency `destination` (police, discipline,
                             health_commission …) and queue its package; returns the channel

Hand-overs (engine/instances.py Handovers):
    start_process(key, entry, ref='', same_case=True, facts=None, **variables)
                             after this step, in the same transaction, start the newest version of
                             process `key` on this case (same_case=False: it opens its own) with the
                             start-form `variables` and `handover` = {entry, ref, source_instance,
                             source_process, **facts}; once per (instance, key, ref), however often
                             the step runs
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, NoReturn

from engine import calendar
from engine.clock import BEIJING, to_beijing, utcnow
from engine.clocks import ClockBook, Due
from engine.errors import FormValidationError, InputError
from engine.models import ClockUnit


def to_instant(value: Any) -> datetime:
    """Read a start argument: an aware datetime, an ISO string, or a date (its start, Beijing)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InputError("时间缺少时区")
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=BEIJING)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InputError(f"无法识别的日期时间「{value}」") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=BEIJING)
    raise InputError(f"无法识别的日期时间「{value!r}」")


def money(value: Any) -> Decimal:
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        raise InputError(f"金额「{value}」无效") from None


def build(book: ClockBook) -> dict[str, Callable[..., Any]]:
    """The expression functions bound to one instance's legal clocks and calendar."""
    cal = book.cal

    def add_workdays(start: Any, n: int) -> Due:
        d = calendar.add_workdays(cal, to_beijing(to_instant(start)).date(), int(n))
        return Due(d.due_at, d.unverified)

    def add_days(start: Any, n: int) -> Due:
        d = calendar.add_days(cal, to_beijing(to_instant(start)).date(), int(n))
        return Due(d.due_at, d.unverified)

    def add_months(start: Any, n: int) -> Due:
        due, unverified = calendar.clock_due(cal, started_at=to_instant(start), amount=int(n), unit="months")
        assert due is not None
        return Due(due, unverified)

    def add_hours(start: Any, n: float) -> Due:
        return Due(to_instant(start) + timedelta(hours=float(n)))

    def deadline(rule: str, start: Any) -> Due:
        if rule not in book.rules:
            raise InputError(f"未知的期限规则「{rule}」")
        amount, unit = book.rules[rule]
        if unit == ClockUnit.WORKDAYS:
            return add_workdays(start, amount)
        if unit == ClockUnit.DAYS:
            return add_days(start, amount)
        if unit == ClockUnit.MONTHS:
            return add_months(start, amount)
        return add_hours(start, amount)

    def now() -> Due:
        return Due(utcnow())

    def today() -> str:
        return to_beijing(utcnow()).date().isoformat()

    def clock_due(name: str) -> Due:
        return book.due(name)

    def clock_suspended(name: str) -> bool:
        return book.get(name).suspended_since is not None

    def start_clock(name: str, amount: int | None = None, unit: str | None = None) -> Due:
        return book.start(name, amount, unit)

    def extend_clock(name: str, amount: int, reason: str = "") -> Due:
        return book.extend(name, amount, reason)

    def suspend_clock(name: str, reason: str = "") -> None:
        book.suspend(name, reason)

    def resume_clock(name: str, reason: str = "") -> Due:
        return book.resume(name, reason)

    def stop_clock(name: str) -> None:
        book.stop(name)

    def reject(field: str, message: str) -> NoReturn:
        """Refuse the submitted form with `message` beside `field`: a rule across several fields
        (罚金 required once 法院已判处罚金 is ticked) reads as a field error, and nothing is saved."""
        raise FormValidationError({str(field): str(message)})

    def yuan(value: Any) -> Decimal:
        return money(value)

    def wan(value: Any) -> Decimal:
        return money(Decimal(str(value)) * 10000)

    return {
        "add_workdays": add_workdays,
        "add_days": add_days,
        "add_months": add_months,
        "add_hours": add_hours,
        "deadline": deadline,
        "now": now,
        "today": today,
        "clock_due": clock_due,
        "clock_suspended": clock_suspended,
        "start_clock": start_clock,
        "extend_clock": extend_clock,
        "suspend_clock": suspend_clock,
        "resume_clock": resume_clock,
        "stop_clock": stop_clock,
        "reject": reject,
        "yuan": yuan,
        "wan": wan,
        "Decimal": Decimal,
    }


CASE_FUNCTIONS = frozenset({"open_case", "update_case", "assign_case_number", "document_number"})
REFERRAL_FUNCTIONS = frozenset({"send_referral"})
HANDOVER_FUNCTIONS = frozenset({"start_process"})

# Every name an expression may call; the registry's validation treats them as known.
NAMES = (
    frozenset(build(ClockBook(calendar.WorkCalendar(), {}, "probe")))
    | CASE_FUNCTIONS
    | REFERRAL_FUNCTIONS
    | HANDOVER_FUNCTIONS
)
