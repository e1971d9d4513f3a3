"""案卷: what the case page shows besides the record itself — the process instances, the steps, the
legal clocks with their history, and one chronological timeline of every step with who and when."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine import cases, diagram
from engine.models import AuditEvent, Case, LegalClock, ProcessInstance, Task, TaskState, User
from engine.roles import role_name

# The Chinese label of every action a timeline or audit trail can show: the one place to add new ones.
ACTION_LABELS: dict[str, str] = {
    "instance.start": "启动流程",
    "case.open": "登记案件",
    "case.update": "更新案件信息",
    "task.created": "任务到达",
    "task.claim": "认领任务",
    "task.unclaim": "放弃认领",
    "task.reassign": "转办",
    "task.delegate": "委派",
    "task.resolve": "委派办结",
    "task.copy": "抄送",
    "task.urge": "催办",
    "task.remind": "到期提醒",
    "task.escalate": "超期督办",
    "clock.remind": "期限到期提醒",
    "clock.escalate": "期限超期督办",
    "task.add_signer": "加签",
    "task.complete": "办理完成",
    "task.return": "退回",
    "task.withdraw": "撤回",
    "task.cancelled": "环节取消",
    "task.draft": "保存草稿",
    "timer.fire": "定时器触发",
    "timer.error": "定时器出错",
    "message.deliver": "收到消息",
    "message.send": "发出消息",
    "outbox.sent": "消息已送达",
    "clock.start": "期限开始计时",
    "clock.extend": "期限延长",
    "clock.suspend": "期限中止",
    "clock.resume": "期限恢复计时",
    "clock.stop": "期限停止",
    "document.generate": "生成文书",
    "document.download": "下载文书",
    "evidence.upload": "上传证据",
    "evidence.download": "下载证据",
    "comment.add": "发表意见",
    "referral.send": "移送",
    "auth.login": "登录",
    "auth.failed": "登录失败",
    "demo.case": "演示数据",
}
CLOCK_UNITS = {"workdays": "个工作日", "days": "日", "months": "个月", "hours": "小时"}
CASE_FIELDS = {
    "stage": "阶段",
    "status": "状态",
    "outcome": "结果",
    "title": "案由",
    "party_name": "当事人",
    "party_type": "当事人类型",
    "amount_involved": "涉案金额",
    "amount_recovered": "追回金额",
    "fine": "罚款",
    "penalty_interest": "加处罚款",
    "liquidated_damages": "违约金",
    "institution_type": "机构类型",
    "clue_source": "线索来源",
    "referral_destination": "移送部门",
    "referral_result": "移送结果",
    "legal_review": "法制审核",
    "collective_discussion": "集体讨论",
    "published": "公示",
    "violation_types": "违法类型",
}
VALUE_NAMES: dict[str, dict[str, str]] = {
    "party_type": {"institution": "定点医药机构", "person": "参保人"},
    "institution_type": cases.INSTITUTION_TYPES,
    "clue_source": cases.CLUE_SOURCES,
    "status": {
        "clue": "线索核查",
        "open": "已立案",
        "not_filed": "不予立案",
        "suspended": "中止",
        "closed": "已结案",
        "terminated": "已终止",
        "referred": "已移送",
    },
}
TIMELINE_LIMIT = 2000
UNCAUSED = 2**62  # sorts after every audit seq at the same instant
_KIND = 10**12  # after one cause: clock changes, then tasks ending, then tasks arriving


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action)


@dataclass(frozen=True)
class Entry:
    """One line of the timeline."""

    at: datetime
    action: str
    actor: str  # username, "system", or "" when nobody acted (a task arriving)
    subject: str  # what it concerns: the task, clock, file …
    detail: str = ""
    task_id: int | None = None
    order: tuple[int, int] = (0, 0)  # (seq of the audit event it is or follows, rank after that event)

    @property
    def label(self) -> str:
        return action_label(self.action)


@dataclass(frozen=True)
class ClockView:
    clock: LegalClock
    history: list[Entry]

    @property
    def unit_text(self) -> str:
        return CLOCK_UNITS.get(self.clock.unit, self.clock.unit)

    @property
    def finished_late(self) -> bool:
        c = self.clock
        return c.stopped_at is not None and c.due_at is not None and c.stopped_at > c.due_at


def instances_of(session: Session, case_id: int) -> list[ProcessInstance]:
    query = select(ProcessInstance).where(ProcessInstance.case_id == case_id).order_by(ProcessInstance.id)
    return list(session.scalars(query))


def steps(session: Session, case_id: int) -> list[Task]:
    """Every task of the case's instances, in the order they arrived."""
    query = select(Task).where(Task.case_id == case_id).order_by(Task.created_at, Task.id)
    return list(session.scalars(query))


def clocks(session: Session, case_id: int) -> list[ClockView]:
    """The case's legal clocks with their start/extension/suspension history."""
    rows = session.scalars(
        select(LegalClock).where(LegalClock.case_id == case_id).order_by(LegalClock.started_at, LegalClock.id)
    )
    return [ClockView(row, _clock_history(row)) for row in rows]


def _clock_history(row: LegalClock) -> list[Entry]:
    out = []
    for i, item in enumerate(row.history or []):
        try:
            at = datetime.fromisoformat(str(item.get("at")))
        except ValueError:
            continue
        kind = str(item.get("kind", ""))
        out.append(
            Entry(
                at=at,
                action=f"clock.{kind}",
                actor=str(item.get("by") or ""),
                subject=row.name,
                detail=_clock_detail(item),
                order=(1, row.id * 1000 + i),
            )
        )
    return out


def _clock_detail(item: dict[str, Any]) -> str:
    parts = []
    if item.get("amount") is not None:
        unit = CLOCK_UNITS.get(str(item.get("unit", "")), "")
        parts.append(f"{'延长 ' if item.get('kind') == 'extend' else ''}{item['amount']} {unit}".strip())
    if item.get("approver"):
        parts.append(f"批准人：{item['approver']}")
    if item.get("reason"):
        parts.append(f"理由：{item['reason']}")
    return "；".join(parts)


def timeline(session: Session, case: Case) -> list[Entry]:
    """Tasks arriving and ending, every audit event of the case and its instances, and every legal-clock
    change, in the order they happened."""
    insts = instances_of(session, case.id)
    names: dict[str, str] = {}
    process_names: dict[str, str] = {}
    for inst in insts:
        names.update(diagram.element_names(session, inst))
        definition = diagram.definition_of(session, inst)
        process_names[definition.key] = definition.name or definition.key
    tasks = {t.id: t for t in steps(session, case.id)}
    ids = [i.id for i in insts]
    where = AuditEvent.case_id == case.id
    if ids:
        where = or_(where, AuditEvent.instance_id.in_(ids))
    events = list(
        session.scalars(select(AuditEvent).where(where).order_by(AuditEvent.seq.desc()).limit(TIMELINE_LIMIT))
    )
    events.reverse()
    entries: list[Entry] = []
    for e in events:
        subject, detail, task_id = _describe(e, tasks, names, process_names)
        entries.append(Entry(e.occurred_at, e.action, e.actor, subject, detail, task_id, (e.seq, 0)))

    # A step's effects (tasks arriving, clocks started) are stamped a moment before the audit event of
    # the step that caused them; list them right after that event, as the officer experienced them.
    saves: dict[int | None, list[AuditEvent]] = {}
    for e in events:
        if e.instance_id is not None and e.after_digest is not None:  # a save of the workflow state
            saves.setdefault(e.instance_id, []).append(e)  # seq order is time order
    save_times = {key: [e.occurred_at for e in evs] for key, evs in saves.items()}
    event_time = {e.seq: e.occurred_at for e in events}

    def after_cause(instance_id: int | None, at: datetime, sub: int) -> tuple[int, int]:
        i = bisect_left(save_times.get(instance_id, []), at)
        evs = saves.get(instance_id, [])
        return (evs[i].seq, sub) if i < len(evs) else (UNCAUSED, sub)

    for t in tasks.values():
        groups = "、".join(role_name(g) for g in t.candidate_groups or [])
        who = t.assignee or "、".join(t.candidate_users or []) or groups
        entries.append(
            Entry(
                t.created_at, "task.created", "", t.name, f"待办：{who}" if who else "", t.id,
                after_cause(t.instance_id, t.created_at, 3 * _KIND + t.id),
            )
        )  # fmt: skip
        if t.state == TaskState.CANCELLED and t.completed_at is not None and t.outcome != "returned":
            entries.append(
                Entry(
                    t.completed_at, "task.cancelled", "", t.name, "流程已转向其他环节", t.id,
                    after_cause(t.instance_id, t.completed_at, 2 * _KIND + t.id),
                )
            )  # fmt: skip
    for view in clocks(session, case.id):
        for i, h in enumerate(view.history):
            order = after_cause(view.clock.instance_id, h.at, _KIND + view.clock.id * 1000 + i)
            entries.append(Entry(h.at, h.action, h.actor, h.subject, h.detail, None, order))
    # A caused entry sorts with its cause, even when it was stamped a moment before it.
    entries.sort(key=lambda x: (event_time.get(x.order[0], x.at), x.order))
    return entries


def _describe(
    e: AuditEvent, tasks: dict[int, Task], names: dict[str, str], process_names: dict[str, str]
) -> tuple[str, str, int | None]:
    d = e.detail or {}
    if e.object_type == "task" and e.object_id.isdigit():
        task = tasks.get(int(e.object_id))
        subject = str(d.get("name") or (task.name if task else "") or names.get(str(d.get("bpmn_id")), ""))
        detail = ""
        if e.action == "task.complete" and task is not None and task.outcome:
            detail = f"结果：{task.outcome}"
        elif e.action == "task.return":
            detail = f"退回至「{names.get(str(d.get('to')), d.get('to'))}」；理由：{d.get('reason', '')}"
        elif e.action == "task.reassign":
            detail = f"转办给 {d.get('to', '')}；理由：{d.get('reason', '')}"
        elif d.get("reason"):
            detail = f"理由：{d['reason']}"
        elif d.get("to"):
            detail = f"通知：{'、'.join(map(str, d['to']))}"
        return subject, detail, int(e.object_id) if task else None
    if e.action in ("clock.remind", "clock.escalate"):
        return str(d.get("name", "")), f"通知：{'、'.join(map(str, d.get('to') or []))}", None
    if e.action == "timer.fire":
        fired = [names.get(str(t), str(t)) for t in d.get("timers") or []]
        return "、".join(fired) or "定时检查", "", None
    if e.action == "message.deliver":
        return str(d.get("message", "")), _short(d.get("payload")), None
    if e.action == "instance.start":
        key = str(d.get("key", ""))
        return process_names.get(key, key), "", None
    if e.action in ("case.open", "case.update"):
        return "案件信息", _case_fields(d), None
    if e.object_type == "evidence":
        version = f"（第 {d['version']} 版）" if d.get("version") else ""
        sha = f"SHA-256 {str(d['sha256'])[:12]}…" if d.get("sha256") else ""
        return f"{d.get('title', '')}{version}", sha, None
    if e.object_type == "document":
        return str(d.get("kind") or d.get("title") or ""), str(d.get("number") or ""), None
    if e.action == "comment.add":
        return "办案意见", "", None
    return f"{e.object_type} {e.object_id}", _short(d), None


def _case_fields(d: dict[str, Any]) -> str:
    parts = []
    for key, value in d.items():
        if key not in CASE_FIELDS or value in (None, "", []):
            continue
        if isinstance(value, list):
            shown = "、".join(map(str, value))
        elif isinstance(value, bool):
            shown = "是" if value else "否"
        else:
            shown = VALUE_NAMES.get(key, {}).get(str(value), str(value))
        parts.append(f"{CASE_FIELDS[key]}：{shown}")
    return "；".join(parts)


def _short(value: Any, limit: int = 120) -> str:
    if not value:
        return ""
    text = "；".join(f"{k}：{v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def people(session: Session, usernames: set[str]) -> dict[str, str]:
    """username -> full name, for the names shown on the page."""
    wanted = {u for u in usernames if u}
    if not wanted:
        return {"system": "系统"}
    rows = session.execute(select(User.username, User.full_name).where(User.username.in_(wanted)))
    found = {username: full_name for username, full_name in rows}
    found.setdefault("system", "系统")
    return found
