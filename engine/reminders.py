"""Notifications (the bell, and an email through the outbox for a user with an address), 催办 by a
supervisor, and the automatic reminders and escalations of ONE policy table (`escalation_rules`):
N working days before a deadline the assignee is reminded, at the deadline the 科室负责人, some
working days after it the 分管领导 — for open user tasks and running legal clocks alike."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from engine import audit, calendar, outbox
from engine.clock import BEIJING, to_beijing, utcnow
from engine.db import unit_of_work
from engine.errors import FormValidationError, NotFoundError
from engine.models import (
    Case,
    ClockStatus,
    EscalationRule,
    LegalClock,
    Notification,
    ProcessInstance,
    Task,
    TaskState,
    User,
)
from engine.roles import ROLE_NAMES
from engine.users import bureau_of

ASSIGNEE = "assignee"
STEP_NAMES = {
    "remind_assignee": "到期前提醒办理人",
    "escalate_chief": "到期报科室负责人",
    "escalate_deputy": "超期报分管领导",
}
DEFAULT_RULES: list[tuple[str, int, str]] = [  # (step, offset in working days, recipient)
    ("remind_assignee", -2, ASSIGNEE),
    ("escalate_chief", 0, "section_chief"),
    ("escalate_deputy", 3, "deputy_director"),
]
# A pass looks back this many working days past the latest rule: older items were handled when
# they crossed (and a rule added today does not flood everyone with last year's deadlines).
LOOKBACK_GRACE = 5
MAX_MESSAGE = 500


# --- notifications ---------------------------------------------------------------------------------
def notify(
    session: Session,
    *,
    recipient: str,
    kind: str,
    title: str,
    body: str,
    task_id: int | None = None,
    case_id: int | None = None,
    dedupe_key: str | None = None,
    created_by: str = "system",
) -> Notification | None:
    """A bell entry for `recipient`, and an email in the outbox when they have an address. With a
    `dedupe_key` that exists already nothing is created (returns None): each reminder once."""
    note = Notification(
        recipient=recipient, kind=kind, title=title[:255], body=body, task_id=task_id, case_id=case_id,
        dedupe_key=dedupe_key, created_by=created_by, created_at=utcnow(),
    )  # fmt: skip
    try:
        with session.begin_nested():  # another scheduler may create the same reminder at the same time
            session.add(note)
            session.flush()  # the unique dedupe key decides here, inside the savepoint
    except IntegrityError:
        if dedupe_key is None:
            raise
        return None
    user = session.scalars(select(User).where(User.username == recipient)).first()
    if user is not None and user.email and user.is_active:
        outbox.enqueue(
            session, channel="email", destination=user.email, subject=note.title,
            payload={"body": f"{user.full_name}：\n\n{body}", "link": f"/tasks/{task_id}" if task_id else ""},
            idempotency_key=f"notification:{note.id}", case_id=case_id, actor=created_by,
        )  # fmt: skip
    return note


def unread_count(session: Session, username: str) -> int:
    query = select(Notification.id).where(Notification.recipient == username, Notification.read_at.is_(None))
    return len(session.scalars(query.limit(100)).all())  # the bell shows 99+ beyond that


def list_for(
    session: Session, username: str, *, unread_only: bool = False, limit: int = 100
) -> list[Notification]:
    """A user's notifications, newest first."""
    query = select(Notification).where(Notification.recipient == username)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def mark_read(session: Session, username: str, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications read (all unread ones when `ids` is None); returns how many."""
    query = select(Notification).where(Notification.recipient == username, Notification.read_at.is_(None))
    if ids is not None:
        query = query.where(Notification.id.in_(list(ids)))
    now = utcnow()
    notes = list(session.scalars(query))
    for note in notes:
        note.read_at = now
    return len(notes)


# --- who is told --------------------------------------------------------------------------------
class Directory:
    """Active users by role and bureau, read once per pass."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.by_role: dict[str, list[tuple[str, str]]] = {}
        for user in session.scalars(select(User).where(User.is_active.is_(True))):
            bureau = bureau_of(session, user.unit_code)
            for role in user.role_codes:
                self.by_role.setdefault(role, []).append((user.username, bureau))

    def holders(self, roles: Iterable[str], bureau: str | None) -> list[str]:
        found = {u for r in roles for u, b in self.by_role.get(r, []) if bureau is None or b == bureau}
        return sorted(found)

    def workers(self, task: Task) -> list[str]:
        """Who works the task: its assignee, else its candidate users and groups in its bureau."""
        if task.assignee:
            return [task.assignee]
        return sorted(
            set(task.candidate_users or []) | set(self.holders(task.candidate_groups or [], task.unit_code))
        )


# --- the policy table -------------------------------------------------------------------------------
def seed_rules(session: Session) -> int:
    """The default policy, when the table is empty; returns how many rules were added."""
    if session.scalars(select(EscalationRule.id).limit(1)).first() is not None:
        return 0
    for step, offset, recipient in DEFAULT_RULES:
        session.add(
            EscalationRule(step=step, offset_workdays=offset, recipient_role=recipient, process_key="")
        )
    return len(DEFAULT_RULES)


def list_rules(session: Session) -> list[EscalationRule]:
    return list(
        session.scalars(select(EscalationRule).order_by(EscalationRule.offset_workdays, EscalationRule.id))
    )


def save_rule(
    session: Session,
    rule_id: int | None,
    *,
    actor: str,
    step: str,
    offset_workdays: int,
    recipient_role: str,
    process_key: str = "",
    active: bool = True,
) -> EscalationRule:
    """Add (rule_id None) or change a rule; audited. Raises FormValidationError field by field,
    NotFoundError."""
    errors = {}
    step = step.strip()
    if not step or len(step) > 32:
        errors["step"] = "请填写环节代码（最多 32 个字符）"
    if not -30 <= offset_workdays <= 60:
        errors["offset_workdays"] = "相对到期日的工作日数应在 -30 到 60 之间"
    if recipient_role != ASSIGNEE and recipient_role not in ROLE_NAMES:
        errors["recipient_role"] = "接收人应为办理人或一个角色"
    if len(process_key.strip()) > 128:
        errors["process_key"] = "流程标识最多 128 个字符"
    if errors:
        raise FormValidationError(errors)
    rule = EscalationRule() if rule_id is None else session.get(EscalationRule, rule_id)
    if rule is None:
        raise NotFoundError("督办规则不存在")
    before = _rule_dict(rule) if rule_id is not None else None
    rule.step, rule.offset_workdays, rule.recipient_role = step, offset_workdays, recipient_role
    rule.process_key, rule.active = process_key.strip(), active
    session.add(rule)
    session.flush()  # the new rule's id goes into the audit event
    audit.record(
        session, actor=actor, action="escalation_rule.save", object_type="escalation_rule",
        object_id=str(rule.id), detail=_rule_dict(rule), before=before, after=_rule_dict(rule),
    )  # fmt: skip
    return rule


def delete_rule(session: Session, rule_id: int, *, actor: str) -> None:
    """Remove a rule; audited. Raises NotFoundError."""
    rule = session.get(EscalationRule, rule_id)
    if rule is None:
        raise NotFoundError("督办规则不存在")
    audit.record(
        session, actor=actor, action="escalation_rule.delete", object_type="escalation_rule",
        object_id=str(rule.id), detail=_rule_dict(rule), before=_rule_dict(rule),
    )  # fmt: skip
    session.delete(rule)


def _rule_dict(rule: EscalationRule) -> dict[str, object]:
    return {
        "step": rule.step, "offset_workdays": rule.offset_workdays, "recipient_role": rule.recipient_role,
        "process_key": rule.process_key, "active": rule.active,
    }  # fmt: skip


def rules_for(rules: list[EscalationRule], process_key: str) -> list[EscalationRule]:
    """The rules that apply to a process: its own, and the general ones ("") for steps it does not
    define itself."""
    own = [r for r in rules if r.process_key == process_key]
    steps = {r.step for r in own}
    return own + [r for r in rules if r.process_key == "" and r.step not in steps]


def point(cal: calendar.WorkCalendar, due_at: datetime, offset: int) -> datetime:
    """When a rule fires for a deadline: for offset < 0 the start of the working day |offset| working
    days before the due day; otherwise the due instant moved `offset` working days later."""
    day = calendar.add_workdays(cal, due_at, offset).day
    if offset < 0:
        return datetime.combine(day, time(0), BEIJING)
    return to_beijing(due_at) + timedelta(days=(day - to_beijing(due_at).date()).days)


# --- the periodic pass --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Item:
    kind: str  # task or clock
    id: int
    name: str
    process: str
    bureau: str | None
    instance_id: int
    case_id: int | None
    due_at: datetime
    workers: list[str]


def escalate_due(factory: sessionmaker[Session]) -> int:
    """One pass of the policy: every open task and running legal clock whose rule point has passed
    gets its notifications, each exactly once (unique dedupe key). Returns how many were created."""
    with unit_of_work(factory) as session:
        rules = [r for r in list_rules(session) if r.active]
        if not rules:
            return 0
        cal = calendar.load_calendar(session)
        now = utcnow()
        ahead = max(0, -min(r.offset_workdays for r in rules))
        behind = max(0, max(r.offset_workdays for r in rules)) + LOOKBACK_GRACE
        upto = calendar.add_workdays(cal, now, ahead).due_at
        since = datetime.combine(calendar.add_workdays(cal, now, -behind).day, time(0), BEIJING)
        directory = Directory(session)
        created = 0
        for item in _items(session, directory, since, upto):
            for rule in rules_for(rules, item.process):
                if point(cal, item.due_at, rule.offset_workdays) > now:
                    continue
                created += _fire(session, cal, directory, item, rule, now)
        return created


def _items(session: Session, directory: Directory, since: datetime, upto: datetime) -> list[_Item]:
    open_tasks = list(
        session.scalars(
            select(Task).where(Task.state == TaskState.OPEN, Task.due_at >= since, Task.due_at <= upto)
        )
    )
    items = [
        _Item("task", t.id, t.name, t.process_key, t.unit_code, t.instance_id, t.case_id, t.due_at,
              directory.workers(t))
        for t in open_tasks
    ]  # fmt: skip
    clocks = session.execute(
        select(LegalClock, ProcessInstance)
        .join(ProcessInstance, ProcessInstance.id == LegalClock.instance_id)
        .where(
            LegalClock.status == ClockStatus.RUNNING, LegalClock.due_at >= since, LegalClock.due_at <= upto
        )
    ).all()
    if not clocks:
        return items
    instance_ids = {c.instance_id for c, _ in clocks}
    by_instance: dict[int, list[Task]] = {}
    for t in session.scalars(
        select(Task).where(Task.state == TaskState.OPEN, Task.instance_id.in_(instance_ids))
    ):
        by_instance.setdefault(t.instance_id, []).append(t)
    for c, instance in clocks:
        siblings = by_instance.get(c.instance_id, [])
        if any(t.due_at == c.due_at for t in siblings):
            continue  # a task due with the clock stands for it: one reminder, not two
        workers = sorted({u for t in siblings for u in directory.workers(t)})
        if not workers and instance.started_by != "system":
            workers = [instance.started_by]
        items.append(
            _Item("clock", c.id, c.name, instance.process_key, instance.unit_code, c.instance_id, c.case_id,
                  c.due_at, workers)
        )  # fmt: skip
    return items


def _fire(
    session: Session, cal: calendar.WorkCalendar, directory: Directory, item: _Item, rule: EscalationRule,
    now: datetime,
) -> int:  # fmt: skip
    recipients = (
        item.workers
        if rule.recipient_role == ASSIGNEE
        else directory.holders([rule.recipient_role], item.bureau)
    )
    due_day = to_beijing(item.due_at).strftime("%Y%m%d")
    keys = {r: f"{rule.step}:{item.kind[0]}{item.id}:{due_day}:{r}"[:128] for r in recipients}
    done = set(
        session.scalars(select(Notification.dedupe_key).where(Notification.dedupe_key.in_(keys.values())))
    )
    todo = [r for r in recipients if keys[r] not in done]
    if not todo:
        return 0
    case = session.get(Case, item.case_id) if item.case_id else None
    what = f"任务「{item.name}」" if item.kind == "task" else f"法定期限「{item.name}」"
    state = due_text(cal, item.due_at, now)
    reminder = rule.offset_workdays < 0
    title = ("【到期提醒】" if reminder else "【超期督办】") + f"{item.name}（{state}）" + _number(case)
    body = f"{describe(case, what)}的期限为{due_line(cal, item.due_at, now)}。"
    body += "请及时办理。" if reminder else f"承办：{'、'.join(item.workers) or '未指定'}。请督促办理。"
    created = 0
    for r in todo:
        note = notify(
            session, recipient=r, kind="reminder" if reminder else "escalation", title=title, body=body,
            task_id=item.id if item.kind == "task" else None, case_id=item.case_id, dedupe_key=keys[r],
        )  # fmt: skip
        created += note is not None
    if created:
        audit.record(
            session, actor="system", action=f"{item.kind}.{'remind' if reminder else 'escalate'}",
            object_type=item.kind, object_id=str(item.id), case_id=item.case_id, instance_id=item.instance_id,
            detail={"name": item.name, "step": rule.step, "to": todo, "due": due_day},
        )  # fmt: skip
    return created


def _number(case: Case | None) -> str:
    return f" {case.number}" if case is not None and case.number else ""


def describe(case: Case | None, what: str) -> str:
    """「案件 N（当事人）任务「…」」: what a notification is about."""
    if case is None:
        return what
    return f"案件 {case.number or '#' + str(case.id)}（{case.party_name or case.title}）{what}"


def due_line(cal: calendar.WorkCalendar, due_at: datetime | None, now: datetime | None = None) -> str:
    if due_at is None:
        return "无期限"
    return f"{to_beijing(due_at):%Y-%m-%d %H:%M}（{due_text(cal, due_at, now or utcnow())}）"


def due_text(cal: calendar.WorkCalendar, due_at: datetime, now: datetime) -> str:
    """「已逾期 N 个工作日」, 「今日到期」 or 「剩余 N 个工作日」, as the inbox reads it."""
    today, due_day = to_beijing(now).date(), to_beijing(due_at).date()
    if due_at < now:
        return f"已逾期 {max(1, calendar.workdays_between(cal, due_day, today))} 个工作日"
    if due_day == today:
        return "今日到期"
    return f"剩余 {calendar.workdays_between(cal, today, due_day)} 个工作日"
