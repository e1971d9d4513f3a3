"""Legal clocks (法定期限): named deadlines of one instance that BPMN starts, extends, suspends and
reads. While a workflow steps they live in a ClockBook in memory (timer expressions read them at
once); the book is then written to `legal_clocks`, which the supervision board reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import calendar
from engine.clock import BEIJING, to_beijing, utcnow
from engine.errors import InputError
from engine.models import ClockRule, ClockStatus, ClockUnit, LegalClock

# The defaults of DOMAIN.md's table; the clock_rules table (seeded from these) is what runs.
DEFAULT_RULES: dict[str, tuple[int, ClockUnit, str]] = {
    "核查立案": (15, ClockUnit.WORKDAYS, "核查线索、决定是否立案：15个工作日，经负责人批准可延长15个工作日"),
    "办案": (90, ClockUnit.DAYS, "立案之日起90日内作出决定（法60），经负责人批准可延长30日"),
    "先行登记保存": (7, ClockUnit.WORKDAYS, "先行登记保存后7个工作日内作出处理决定（法56）"),
    "陈述申辩": (5, ClockUnit.WORKDAYS, "告知书送达后陈述申辩期（地方规定3–5个工作日，默认5）"),
    "听证申请": (5, ClockUnit.WORKDAYS, "告知书送达后5个工作日内提出听证申请（法64）"),
    "送达": (7, ClockUnit.WORKDAYS, "决定作出后7个工作日内送达（法61）"),
    "公告送达": (30, ClockUnit.DAYS, "公告之日起30日视为送达"),
    "罚款缴纳": (15, ClockUnit.DAYS, "收到决定书之日起15日内缴纳罚款（法67）"),
    "公示撤回": (3, ClockUnit.WORKDAYS, "决定变更或撤销后3个工作日内撤回公示（法48）"),
    "移送审批": (3, ClockUnit.DAYS, "书面报告后3日内作出批准或不批准移送的决定（310）"),
    "移送送达": (24, ClockUnit.HOURS, "批准移送后24小时内移送公安机关（310）"),
    "公安审查": (3, ClockUnit.DAYS, "公安机关接受移送后3日内审查"),
    "证据移交": (3, ClockUnit.DAYS, "公安立案通知后3日内移交涉案物品和证据"),
    "复议申请": (3, ClockUnit.DAYS, "收到不予立案通知后3日内提请复议"),
    "举报受理": (5, ClockUnit.WORKDAYS, "收到举报后5个工作日内决定是否受理"),
    "法制审核": (10, ClockUnit.WORKDAYS, "法制审核10个工作日，经科室负责人批准可延长10个工作日"),
    "听证通知": (7, ClockUnit.WORKDAYS, "举行听证的7个工作日前通知当事人听证的时间、地点（法64）"),
    "催告": (10, ClockUnit.DAYS, "催告书送达10日后仍未履行的，可申请人民法院强制执行"),
    "复议期": (60, ClockUnit.DAYS, "当事人申请行政复议的期限：60日"),
    "诉讼期": (6, ClockUnit.MONTHS, "当事人提起行政诉讼的期限：6个月"),
    "强制执行申请": (3, ClockUnit.MONTHS, "复议、诉讼期限届满之日起3个月内申请人民法院强制执行"),
    "延期缴纳": (30, ClockUnit.DAYS, "经批准暂缓或分期缴纳罚款的期限（默认30日，按批准内容调整）"),
    "复议答复": (3, ClockUnit.DAYS, "公安机关收到复议申请后3日内作出决定"),
    "整改": (30, ClockUnit.DAYS, "问题台账整改期限（默认30日，可按问题设定）"),
    "自查自纠": (60, ClockUnit.DAYS, "自查自纠活动期限（默认60日）"),
    "纪检反馈": (30, ClockUnit.DAYS, "行纪移送后等待纪检监察机关反馈（地方规定，默认30日）"),
    "协作反馈": (30, ClockUnit.DAYS, "行政协作移送后等待协作部门反馈（地方规定，默认30日）"),
    "移交接收": (5, ClockUnit.WORKDAYS, "收到移交案件后审查材料、决定是否受理（默认5个工作日）"),
    "回头看": (3, ClockUnit.MONTHS, "销号或零报告、未报告后开展回头看的期限（地方规定，默认3个月）"),
    "追责时效": (24, ClockUnit.MONTHS, "违法行为二年内未被发现的，不再给予行政处罚（法36）"),
    "追责时效（危害生命健康）": (60, ClockUnit.MONTHS, "危害生命健康、金融安全的，五年（法36）"),
    "立案监督建议": (3, ClockUnit.DAYS, "收到公安机关复议决定后3日内建议人民检察院立案监督（310第9条）"),
}


# The due instant read from a suspended clock (中止): a timer set to it is never due, and a
# task or the scheduler reads it as "no due instant". Resuming the clock re-times those timers.
NEVER = datetime(9999, 12, 30, 23, 59, 59, tzinfo=BEIJING)


class Due(str):
    """An ISO 8601 instant (+08:00) that remembers whether the calendar behind it was verified."""

    unverified: bool = False

    def __new__(cls, instant: datetime, unverified: bool = False) -> Due:
        self = super().__new__(cls, calendar_iso(instant))
        self.unverified = unverified
        return self


def is_never(instant: datetime | None) -> bool:
    """Whether an instant is the one a suspended clock reads (no due instant)."""
    return instant is not None and instant >= NEVER


def calendar_iso(instant: datetime) -> str:
    """ISO 8601 in Beijing time, seconds precision: what timer expressions return."""
    return to_beijing(instant).isoformat(timespec="seconds")


@dataclass
class ClockState:
    name: str
    started_at: datetime
    amount: int
    unit: ClockUnit
    extended: int = 0
    suspensions: list[list[str]] = field(default_factory=list)
    suspended_since: datetime | None = None
    status: ClockStatus = ClockStatus.RUNNING
    stopped_at: datetime | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    due_at: datetime | None = None
    due_unverified: bool = False

    def recompute(self, cal: calendar.WorkCalendar) -> None:
        spans = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in self.suspensions]
        self.due_at, self.due_unverified = calendar.clock_due(
            cal,
            started_at=self.started_at,
            amount=self.amount,
            unit=self.unit,
            extended=self.extended,
            suspensions=spans,
            suspended_since=self.suspended_since,
        )


class ClockBook:
    """The legal clocks of one instance, changed by BPMN scripts and read by timer expressions."""

    def __init__(
        self, cal: calendar.WorkCalendar, rules: dict[str, tuple[int, ClockUnit]], actor: str
    ) -> None:
        self.cal = cal
        self.rules = rules
        self.actor = actor
        self.clocks: dict[str, ClockState] = {}
        self.changed: set[str] = set()  # to be written to legal_clocks
        self.moved: set[str] = set()  # timers reading these must be re-timed

    # --- reading -------------------------------------------------------------------------
    def get(self, name: str) -> ClockState:
        try:
            return self.clocks[name]
        except KeyError:
            raise InputError(f"法定期限「{name}」尚未开始计时") from None

    def due(self, name: str) -> Due:
        """The due instant; NEVER while the clock is suspended (a timer reading it waits)."""
        state = self.get(name)
        if state.due_at is None:
            return Due(NEVER)
        return Due(state.due_at, state.due_unverified)

    # --- changing ------------------------------------------------------------------------
    def start(
        self, name: str, amount: int | None = None, unit: str | None = None, at: datetime | None = None
    ) -> Due:
        if amount is None or unit is None:
            if name not in self.rules:
                raise InputError(f"未知的法定期限「{name}」：请在期限规则表中配置，或写明时长和单位")
            rule_amount, rule_unit = self.rules[name]
            amount = rule_amount if amount is None else amount
            unit = rule_unit if unit is None else unit
        try:
            clock_unit = ClockUnit(unit)
        except ValueError:
            raise InputError(f"期限单位「{unit}」无效，应为 workdays / days / months / hours") from None
        now = at or utcnow()
        state = ClockState(name=name, started_at=now, amount=int(amount), unit=clock_unit)
        state.history.append(self._event("start", now, amount=int(amount), unit=clock_unit.value))
        self._put(state)
        return self.due(name)

    def extend(self, name: str, amount: int, reason: str = "", approver: str | None = None) -> Due:
        state = self._running(name)
        state.extended += int(amount)
        state.history.append(
            self._event("extend", utcnow(), amount=int(amount), reason=reason, approver=approver)
        )
        self._put(state)
        return self.due(name)

    def suspend(self, name: str, reason: str = "") -> None:
        state = self._running(name)
        if state.suspended_since is None:
            state.suspended_since = utcnow()
            state.status = ClockStatus.SUSPENDED
            state.history.append(self._event("suspend", state.suspended_since, reason=reason))
            self._put(state)

    def resume(self, name: str, reason: str = "") -> Due:
        state = self.get(name)
        if state.suspended_since is not None:
            now = utcnow()
            state.suspensions.append([state.suspended_since.isoformat(), now.isoformat()])
            state.suspended_since = None
            state.status = ClockStatus.RUNNING
            state.history.append(self._event("resume", now, reason=reason))
            self._put(state)
        return self.due(name)

    def stop(self, name: str) -> None:
        state = self.clocks.get(name)
        if state is not None and state.status != ClockStatus.STOPPED:
            state.status = ClockStatus.STOPPED
            state.stopped_at = utcnow()
            state.history.append(self._event("stop", state.stopped_at))
            self.changed.add(name)
            self.moved.add(name)

    def _running(self, name: str) -> ClockState:
        state = self.get(name)
        if state.status == ClockStatus.STOPPED:
            raise InputError(f"法定期限「{name}」已停止")
        return state

    def _put(self, state: ClockState) -> None:
        state.recompute(self.cal)
        self.clocks[state.name] = state
        self.changed.add(state.name)
        self.moved.add(state.name)

    def _event(self, kind: str, at: datetime, **detail: Any) -> dict[str, Any]:
        return {"kind": kind, "at": at.isoformat(), "by": self.actor, **detail}


def load_rules(session: Session) -> dict[str, tuple[int, ClockUnit]]:
    rows = session.scalars(select(ClockRule)).all()
    rules = {name: (amount, unit) for name, (amount, unit, _) in DEFAULT_RULES.items()}
    rules.update({r.name: (r.amount, ClockUnit(r.unit)) for r in rows})
    return rules


def seed_rules(session: Session) -> int:
    """Insert DOMAIN.md's default clock rules that the table lacks; returns how many."""
    existing = set(session.scalars(select(ClockRule.name)))
    added = 0
    for name, (amount, unit, description) in DEFAULT_RULES.items():
        if name not in existing:
            session.add(ClockRule(name=name, amount=amount, unit=unit, description=description))
            added += 1
    return added


def load_book(session: Session, instance_id: int | None, actor: str) -> ClockBook:
    book = ClockBook(calendar.load_calendar(session), load_rules(session), actor)
    if instance_id is None:
        return book
    for row in session.scalars(select(LegalClock).where(LegalClock.instance_id == instance_id)):
        state = ClockState(
            name=row.name,
            started_at=row.started_at,
            amount=row.amount,
            unit=ClockUnit(row.unit),
            extended=row.extended,
            suspensions=list(row.suspensions or []),
            suspended_since=row.suspended_since,
            status=ClockStatus(row.status),
            stopped_at=row.stopped_at,
            history=list(row.history or []),
            due_at=row.due_at,
            due_unverified=row.due_unverified,
        )
        book.clocks[row.name] = state
    return book


def save_book(session: Session, book: ClockBook, instance_id: int, case_id: int | None) -> list[str]:
    """Write the changed clocks; returns their names."""
    if not book.changed:
        return []
    rows = {
        r.name: r
        for r in session.scalars(
            select(LegalClock).where(LegalClock.instance_id == instance_id, LegalClock.name.in_(book.changed))
        )
    }
    for name in sorted(book.changed):
        s = book.clocks[name]
        row = rows.get(name) or LegalClock(instance_id=instance_id, name=name)
        row.case_id = case_id
        row.started_at = s.started_at
        row.amount = s.amount
        row.unit = s.unit
        row.extended = s.extended
        row.suspensions = list(s.suspensions)
        row.suspended_since = s.suspended_since
        row.status = s.status
        row.due_at = s.due_at
        row.due_unverified = s.due_unverified
        row.stopped_at = s.stopped_at
        row.history = list(s.history)
        session.add(row)
    changed = sorted(book.changed)
    book.changed.clear()
    return changed
