"""超期督办 pages: the board with filters and groups, 催办 into the bell, failed messages re-sent,
the escalation rules table, and the users' email field."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from engine import outbox
from engine.clock import BEIJING, clock
from engine.db import unit_of_work
from engine.models import EscalationRule, Notification, OutboxMessage, User
from tests.processes.driver import Driver

CLUE = {"clue_source": "report", "party_type": "institution", "clue_summary": "串换药品"}


@pytest.fixture
def cases(seeded):  # type: ignore[no-untyped-def]
    """An overdue verification (甲药房) and one due later (乙医院), read on 2024-10-18."""
    clock.set(datetime(2024, 9, 23, 10, tzinfo=BEIJING))
    late = Driver.start(seeded, "penalty_case", "officer1", party_name="甲药房", **CLUE)
    clock.set(datetime(2024, 10, 14, 10, tzinfo=BEIJING))
    fresh = Driver.start(seeded, "penalty_case", "officer1", party_name="乙医院", **CLUE)
    clock.set(datetime(2024, 10, 18, 9, tzinfo=BEIJING))
    return late, fresh


def test_board_filters_and_groups(as_user, cases) -> None:  # type: ignore[no-untyped-def]
    sup = as_user("supervisor")
    page = sup.get("/supervision/?within=15").get_data(as_text=True)
    assert "超期督办" in page and "甲药房" in page and "乙医院" in page
    assert "已逾期 1 个工作日" in page and "剩余 11 个工作日" in page
    assert page.index("甲药房") < page.index("乙医院")  # most overdue first
    assert "按办案人员" in page and "待认领（办案人员）" in page and "张办案" in page
    only = sup.get("/supervision/?within=15&institution=乙医院").get_data(as_text=True)
    assert "乙医院" in only and "甲药房" not in only
    soon = sup.get("/supervision/?within=3").get_data(as_text=True)
    assert "甲药房" in soon and "乙医院" not in soon
    by_process = sup.get("/supervision/?within=15&group=process").get_data(as_text=True)
    assert "按流程" in by_process and "行政处罚" in by_process
    assert sup.get("/supervision/?within=abc&page=-3").status_code == 200  # junk ignored, never a 500


def test_only_board_roles_see_it(as_user, cases) -> None:  # type: ignore[no-untyped-def]
    assert as_user("officer1").get("/supervision/").status_code == 403
    for user in ("chief", "deputy", "director"):
        assert as_user(user).get("/supervision/").status_code == 200
    assert as_user("other").get("/supervision/rules").status_code == 403


def test_urge_arrives_in_the_bell(as_user, cases, seeded) -> None:  # type: ignore[no-untyped-def]
    late, _ = cases
    task_id = late.task("verify_clue").id
    sup = as_user("supervisor")
    sup.get("/supervision/?within=15")
    empty = sup.post(
        f"/supervision/tasks/{task_id}/urge", {"message": "  ", "next": "/supervision/?within=15"}
    )
    assert empty.status_code == 400 and "请填写催办意见" in empty.get_data(as_text=True)
    sent = sup.post(
        f"/supervision/tasks/{task_id}/urge", {"message": "请今天完成核查", "next": "/supervision/?within=15"}
    )
    assert sent.status_code == 302 and sent.location.endswith("/supervision/?within=15")
    assert "已催办" in sup.get(sent.location).get_data(as_text=True)

    officer = as_user("officer2")
    inbox = officer.get("/").get_data(as_text=True)
    assert 'class="badge">1<' in inbox
    listing = officer.get("/notifications/").get_data(as_text=True)
    assert "【催办】" in listing and "请今天完成核查" in listing
    with seeded() as s:
        note = s.scalars(select(Notification).where(Notification.recipient == "officer2")).one()
    opened = officer.get(f"/notifications/{note.id}")
    assert opened.location.endswith(f"/tasks/{task_id}")
    task_page = officer.get(opened.location).get_data(as_text=True)
    assert "催办 1 次" in task_page and "请今天完成核查" in task_page
    assert 'class="badge"' not in task_page
    assert officer.get("/notifications/999999").status_code == 302  # not theirs: back to the list


def test_failed_message_is_sent_again(as_user, cases, seeded) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(seeded) as s:
        m = outbox.enqueue(
            s,
            channel="email",
            destination="x@yubei.example",
            subject="测试邮件",
            payload={},
            idempotency_key="t:1",
        )
        m.status, m.attempts, m.last_error = "failed", 8, "无法连接邮件服务器"
        message_id = m.id
    sup = as_user("supervisor")
    page = sup.get("/supervision/").get_data(as_text=True)
    assert "测试邮件" in page and "已失败" in page and "重新发送" in page
    assert sup.post(f"/supervision/outbox/{message_id}/retry", {}).status_code == 302
    with seeded() as s:
        assert s.get(OutboxMessage, message_id).status == "pending"  # type: ignore[union-attr]


def test_rules_are_edited_field_by_field(as_user, seeded) -> None:  # type: ignore[no-untyped-def]
    sup = as_user("supervisor")
    page = sup.get("/supervision/rules").get_data(as_text=True)
    assert "督办规则" in page and "remind_assignee" in page
    bad = sup.post(
        "/supervision/rules", {"step": "remind_twice", "offset_workdays": "abc", "recipient_role": "assignee"}
    )
    text = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "请填写整数工作日数" in text and 'value="remind_twice"' in text
    bad = sup.post("/supervision/rules", {"step": "", "offset_workdays": "99", "recipient_role": "assignee"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "请填写环节代码" in text and "-30 到 60" in text
    ok = sup.post(
        "/supervision/rules",
        {"step": "escalate_director", "offset_workdays": "10", "recipient_role": "director", "active": "1"},
    )
    assert ok.status_code == 302
    with seeded() as s:
        rule = s.scalars(select(EscalationRule).where(EscalationRule.step == "escalate_director")).one()
        assert (rule.offset_workdays, rule.recipient_role, rule.active) == (10, "director", True)
    assert sup.post(f"/supervision/rules/{rule.id}/delete", {}).status_code == 302
    with seeded() as s:
        assert s.get(EscalationRule, rule.id) is None


def test_admin_sets_a_users_email(as_user, seeded) -> None:  # type: ignore[no-untyped-def]
    admin = as_user("admin")
    bad = admin.post(
        "/admin/users",
        {
            "username": "officer9",
            "full_name": "新办案",
            "unit_code": "yubei-jhk",
            "password": "password9",
            "roles": "officer",
            "email": "not-an-address",
        },
    )
    assert bad.status_code == 400 and "格式不正确" in bad.get_data(as_text=True)
    with seeded() as s:
        officer1 = s.scalars(select(User).where(User.username == "officer1")).one()
    saved = admin.post(
        f"/admin/users/{officer1.id}",
        {
            "full_name": "张办案",
            "unit_code": "yubei-jhk",
            "roles": "officer",
            "active": "1",
            "email": "officer1@yubei.example",
        },
    )
    assert saved.status_code == 302
    with seeded() as s:
        assert s.get(User, officer1.id).email == "officer1@yubei.example"  # type: ignore[union-attr]
