"""How dates, deadlines and amounts read in the UI (zh-CN)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import Flask, g

from engine import calendar
from engine.clock import to_beijing, utcnow
from engine.roles import role_name
from webui.db import get_session

PROCESS_NAMES = {
    "penalty_case": "行政处罚",
    "legal_review": "法制审核",
    "collective_discussion": "集体讨论",
    "ledger_clearance": "问题台账整改",
    "self_inspection": "自查自纠",
    "referral_police": "行刑衔接",
    "referral_discipline": "行纪移送",
    "referral_agency": "行政协作",
    "incoming_transfer": "案件移交接收",
}
# Tasks inside an embedded subprocess carry the subprocess's id as their process key: show the
# process they belong to.
PROCESS_NAMES.update(
    {
        **dict.fromkeys(
            (
                "investigation",
                "case_extension",
                "case_suspension",
                "case_termination",
                "publication_withdrawal",
            ),
            "行政处罚",
        ),
        "review_work": "法制审核",
        "member_opinions": "集体讨论",
        "rectification": "问题台账整改",
        "institution_inspection": "自查自纠",
        **dict.fromkeys(("await_police_decision", "await_review_decision", "fine_instead_guard"), "行刑衔接"),
        "await_feedback": "行纪移送",
        "await_agency": "行政协作",
    }
)
CASE_STATUS = {
    "clue": "线索核查",
    "open": "已立案",
    "not_filed": "不予立案",
    "suspended": "中止",
    "closed": "已结案",
    "terminated": "已终止",
    "referred": "已移送",
}


def _calendar() -> calendar.WorkCalendar:
    if "work_calendar" not in g:
        g.work_calendar = calendar.load_calendar(get_session())
    cal: calendar.WorkCalendar = g.work_calendar
    return cal


def when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "" if value is None else to_beijing(value).strftime(fmt)


def day(value: datetime | None) -> str:
    return when(value, "%Y-%m-%d")


def due_state(due: datetime | None) -> tuple[str, str]:
    """(text, css class): 「已逾期 N 个工作日」, 「今日到期」 or 「剩余 N 个工作日」."""
    if due is None:
        return "无期限", "due-none"
    now = utcnow()
    today, due_day = to_beijing(now).date(), to_beijing(due).date()
    if due < now:
        n = max(1, calendar.workdays_between(_calendar(), due_day, today))
        return f"已逾期 {n} 个工作日", "due-over"
    if due_day == today:
        return "今日到期", "due-soon"
    n = calendar.workdays_between(_calendar(), today, due_day)
    return f"剩余 {n} 个工作日", "due-soon" if n <= 3 else "due-ok"


def money(value: Decimal | str | None) -> str:
    if value in (None, ""):
        return "—"
    return f"{Decimal(str(value)):,.2f} 元"


def show(value: Any) -> str:
    """A process value as an officer reads it."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list | tuple):
        return "、".join(show(v) for v in value)
    if isinstance(value, dict):
        return "；".join(f"{k}：{show(v)}" for k, v in value.items())
    return str(value)


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(when=when, day=day, money=money, show=show, role=role_name)
    app.jinja_env.globals.update(
        due_state=due_state,
        process_name=lambda key: PROCESS_NAMES.get(key, key),
        case_status=lambda s: CASE_STATUS.get(s, s),
    )
