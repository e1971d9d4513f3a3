"""Reference and demo data: the working-day calendar, clock rules, the shipped processes, and
demo units and accounts (password `demo`) so a newcomer can sign in and see work at once."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import calendar, clocks, infocopy, registry, reminders
from engine.db import ROOT
from engine.models import User
from engine.users import create_user, ensure_unit

BPMN_DIR = ROOT / "bpmn"
BUREAU = "yubei"

DEMO_USERS: list[tuple[str, str, str, list[str]]] = [
    ("officer1", "张办案", "yubei-jhk", ["officer"]),
    ("officer2", "李办案", "yubei-jhk", ["officer"]),
    ("officer3", "王办案", "yubei-jhk", ["officer"]),
    ("chief", "赵科长", "yubei-jhk", ["section_chief"]),
    ("legal", "钱法审", "yubei-fgk", ["legal_reviewer"]),
    ("counsel", "孙律师", "yubei-fgk", ["legal_counsel"]),
    ("deputy", "周副局长", "yubei", ["deputy_director", "discussion_member"]),
    ("director", "吴局长", "yubei", ["director", "discussion_member"]),
    ("member1", "郑委员", "yubei", ["discussion_member"]),
    ("member2", "冯委员", "yubei", ["discussion_member"]),
    ("member3", "陈委员", "yubei", ["discussion_member"]),
    ("hearing", "褚主持", "yubei-fgk", ["hearing_officer"]),
    ("supervisor", "卫督办", "yubei", ["supervisor"]),
    ("modeler", "蒋流程", "yubei", ["process_admin"]),
    ("admin", "沈管理", "yubei", ["admin"]),
    ("other", "韩办案", "jiangbei-jhk", ["officer"]),
]


def seed_reference(session: Session, bpmn_dir: Path = BPMN_DIR) -> dict[str, int]:
    """Calendar, clock rules and shipped processes; idempotent."""
    days = calendar.seed_from_chinese_calendar(session)
    rules = clocks.seed_rules(session)
    deployed = registry.deploy_directory(session, bpmn_dir)
    agencies = infocopy.seed_agencies(session)
    escalation = reminders.seed_rules(session)
    return {
        "calendar_days": days,
        "clock_rules": rules,
        "definitions": len(deployed),
        "member_agencies": agencies,
        "escalation_rules": escalation,
    }


def seed_demo_accounts(session: Session) -> int:
    """Units and one demo account per role (password `demo`); idempotent."""
    ensure_unit(session, BUREAU, "渝北区医疗保障局", doc_prefix="渝北医保")
    ensure_unit(session, "yubei-jhk", "基金监管科（稽核科）", BUREAU)
    ensure_unit(session, "yubei-fgk", "法规科", BUREAU)
    ensure_unit(session, "jiangbei", "江北区医疗保障局", doc_prefix="江北医保")
    ensure_unit(session, "jiangbei-jhk", "基金监管科", "jiangbei")
    existing = set(session.scalars(select(User.username)))
    added = 0
    for username, name, unit, roles in DEMO_USERS:
        if username not in existing:
            create_user(session, username, name, unit, roles, "demo")
            added += 1
    return added
