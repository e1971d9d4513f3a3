"""催办 and the escalation policy: reminders before a deadline, the 科室负责人 at it, the 分管领导
after it — for tasks and legal clocks, each notification once, in the bell and by email (received by
a local aiosmtpd server)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import select, update

from engine import casefile, outbox, reminders, supervision, tasks
from engine.clock import clock
from engine.db import unit_of_work
from engine.errors import FormValidationError, InputError, NotPermittedError
from engine.models import AuditEvent, EscalationRule, Notification, User, UserRole
from engine.users import actor_for
from integrations.senders import SenderSettings, build_senders
from tests.integrations.smtp_peer import SmtpPeer
from tests.processes.driver import Driver, beijing
from tests.processes.test_penalty_case import START, filed, to_statement_window

CLUE = {
    "clue_source": "report",
    "party_type": "institution",
    "clue_summary": "串换药品",
    "party_name": "甲药房",
}
EMAILS = {
    "officer1": "officer1@yubei.example",
    "chief": "chief@yubei.example",
    "deputy": "deputy@yubei.example",
}


@pytest.fixture(autouse=True)
def _frozen() -> None:
    clock.set(START)  # Monday 2024-09-23 10:00 Beijing


@pytest.fixture
def mail(seeded) -> Iterator[SmtpPeer]:  # type: ignore[no-untyped-def]
    with unit_of_work(seeded) as s:
        for username, address in EMAILS.items():
            s.execute(update(User).where(User.username == username).values(email=address))
    peer = SmtpPeer().start()
    yield peer
    peer.stop()


def send_mail(seeded, peer: SmtpPeer) -> list[outbox.Dispatch]:  # type: ignore[no-untyped-def]
    return outbox.dispatch_due(
        seeded, build_senders(SenderSettings(smtp_host="127.0.0.1", smtp_port=peer.port))
    )


def bell(seeded, username: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with seeded() as s:
        return [(n.kind, n.title) for n in reversed(reminders.list_for(s, username))]


def at(seeded, when: datetime) -> int:  # type: ignore[no-untyped-def]
    clock.set(when)
    return reminders.escalate_due(seeded)


def test_default_policy_is_seeded(seeded) -> None:  # type: ignore[no-untyped-def]
    with seeded() as s:
        rules = [
            (r.step, r.offset_workdays, r.recipient_role, r.process_key) for r in reminders.list_rules(s)
        ]
    assert rules == [
        ("remind_assignee", -2, "assignee", ""),
        ("escalate_chief", 0, "section_chief", ""),
        ("escalate_deputy", 3, "deputy_director", ""),
    ]


def test_task_escalation_chain_across_the_national_day(seeded, mail: SmtpPeer) -> None:  # type: ignore[no-untyped-def]
    """A filed case's investigation, claimed by officer1, due with the 办案 clock on Monday
    2024-12-23. Remind 10 working days ahead (across no holiday: 12-09), chief at the deadline,
    deputy 3 working days after it (12-26)."""
    d = filed(seeded)
    task_id = d.task("investigate").id
    with unit_of_work(seeded) as s:
        remind = s.scalars(select(EscalationRule).where(EscalationRule.step == "remind_assignee")).one()
        reminders.save_rule(s, remind.id, actor="admin", step="remind_assignee", offset_workdays=-10,
                            recipient_role="assignee")  # fmt: skip
        tasks.claim(s, task_id, actor=actor_for(s, "officer1"))
    number = d.case().number
    assert at(seeded, beijing(2024, 12, 8, 23, 59)) == 0  # Sunday before the 10th working day back
    assert at(seeded, beijing(2024, 12, 9, 8)) == 1
    assert at(seeded, beijing(2024, 12, 9, 9)) == 0  # exactly once
    assert bell(seeded, "officer1") == [("reminder", f"【到期提醒】调查取证（剩余 10 个工作日） {number}")]
    assert at(seeded, beijing(2024, 12, 23, 23, 59)) == 0
    assert at(seeded, beijing(2024, 12, 24, 0, 1)) == 1
    assert bell(seeded, "chief") == [("escalation", f"【超期督办】调查取证（已逾期 1 个工作日） {number}")]
    assert at(seeded, beijing(2024, 12, 26, 23, 0)) == 0
    assert at(seeded, beijing(2024, 12, 27, 9)) == 1
    assert [k for k, _ in bell(seeded, "deputy")] == ["escalation"]
    assert at(seeded, beijing(2024, 12, 30, 9)) == 0
    assert bell(seeded, "director") == []

    sent = send_mail(seeded, mail)
    assert [x.status for x in sent] == ["sent"] * 3
    for username, address in EMAILS.items():
        [message] = mail.to(address)
        body = message.get_body(preferencelist=("plain",)).get_content()
        assert number in message["Subject"] and number in body
        with seeded() as s:
            name = s.scalars(select(User.full_name).where(User.username == username)).one()
        assert body.startswith(f"{name}：")
    case = d.case()
    with seeded() as s:
        trail = casefile.timeline(s, case)
    assert [(e.label, e.detail) for e in trail if e.action.startswith("task.")][-3:] == [
        ("到期提醒", "通知：officer1"), ("超期督办", "通知：chief"), ("超期督办", "通知：deputy"),
    ]  # fmt: skip


def test_reminder_points_skip_holidays_and_count_makeup_days(seeded) -> None:  # type: ignore[no-untyped-def]
    """An unclaimed verification task started 2024-09-23 is due 10-17 (15 working days over the
    National Day). Ten working days back from 10-17 is Sunday 09-29, a 调休 working day: the
    candidates (all officers of the bureau) are reminded from that morning."""
    with unit_of_work(seeded) as s:
        remind = s.scalars(select(EscalationRule).where(EscalationRule.step == "remind_assignee")).one()
        remind.offset_workdays = -10
    clock.set(START)
    Driver.start(seeded, "penalty_case", "officer1", **CLUE)
    assert at(seeded, beijing(2024, 9, 28, 18)) == 0  # Saturday
    assert at(seeded, beijing(2024, 9, 29, 7)) == 3
    assert [bool(bell(seeded, u)) for u in ("officer1", "officer2", "officer3", "other")] == [True] * 3 + [
        False
    ]
    # 10-17 is the due day: the chief only after it, on Friday 10-18.
    assert at(seeded, beijing(2024, 10, 17, 23)) == 0
    assert at(seeded, beijing(2024, 10, 18, 8)) == 1
    # +3 working days: 10-18 (Fri), 10-21, 10-22.
    assert at(seeded, beijing(2024, 10, 22, 12)) == 0
    assert at(seeded, beijing(2024, 10, 23, 8)) == 1


def test_a_running_clock_without_its_own_task_is_escalated(seeded) -> None:  # type: ignore[no-untyped-def]
    """In the 陈述申辩 window the open task is due with the 陈述申辩 clock (one reminder for both), while
    the 办案 clock, due 2024-12-23, has no task of its own: it is reminded to the case's officers."""
    d = filed(seeded)
    to_statement_window(d)
    with unit_of_work(seeded) as s:
        s.execute(update(EscalationRule).where(EscalationRule.step != "remind_assignee").values(active=False))
    assert at(seeded, beijing(2024, 9, 26, 8)) == 3  # record_party_response: due 09-29 (调休 Sunday)
    with seeded() as s:
        assert s.scalars(select(Notification).where(Notification.task_id.is_(None))).all() == []
    assert at(seeded, beijing(2024, 12, 18, 23)) == 0
    assert at(seeded, beijing(2024, 12, 19, 8)) == 3  # 12-19 and 12-20 are the 2 working days before
    with seeded() as s:
        clock_notes = list(s.scalars(select(Notification).where(Notification.task_id.is_(None))))
        events = s.scalars(select(AuditEvent.action).where(AuditEvent.action == "clock.remind")).all()
    assert {n.recipient for n in clock_notes} == {"officer1", "officer2", "officer3"}
    assert all("法定期限「办案」" in n.body and d.case().number in n.body for n in clock_notes)
    assert events == ["clock.remind"]


def test_process_rule_overrides_the_general_one(seeded) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(seeded) as s:
        reminders.save_rule(s, None, actor="supervisor", step="escalate_chief", offset_workdays=1,
                            recipient_role="director", process_key="penalty_case")  # fmt: skip
        rules = reminders.list_rules(s)
    chosen = reminders.rules_for(rules, "penalty_case")
    assert sorted((r.step, r.recipient_role) for r in chosen) == [
        ("escalate_chief", "director"),
        ("escalate_deputy", "deputy_director"),
        ("remind_assignee", "assignee"),
    ]
    assert len(reminders.rules_for(rules, "ledger_clearance")) == 3
    with unit_of_work(seeded) as s, pytest.raises(FormValidationError) as bad:
        reminders.save_rule(s, None, actor="supervisor", step="", offset_workdays=99, recipient_role="nobody")
    assert set(bad.value.errors) == {"step", "offset_workdays", "recipient_role"}


def test_urge_reaches_the_assignee_and_is_recorded(seeded, mail: SmtpPeer) -> None:  # type: ignore[no-untyped-def]
    d = filed(seeded)
    task = d.task("investigate")
    with unit_of_work(seeded) as s:
        notes = supervision.urge(
            s, task.id, actor=actor_for(s, "supervisor"), message="请本周内完成  调查取证"
        )
        assert sorted(n.recipient for n in notes) == [
            "officer1",
            "officer2",
            "officer3",
        ]  # unclaimed: the group
    with unit_of_work(seeded) as s:
        tasks.claim(s, task.id, actor=actor_for(s, "officer1"))
    with unit_of_work(seeded) as s:
        notes = supervision.urge(s, task.id, actor=actor_for(s, "chief"), message="仍未完成，请说明原因")
        assert [n.recipient for n in notes] == ["officer1"]
    case = d.case()
    with seeded() as s:
        urges = supervision.urges_of(s, task.id)
        assert [(u.actor, u.message, u.to) for u in urges] == [
            ("supervisor", "请本周内完成 调查取证", ["officer1", "officer2", "officer3"]),
            ("chief", "仍未完成，请说明原因", ["officer1"]),
        ]
        trail = [e for e in casefile.timeline(s, case) if e.action == "task.urge"]
        assert [(e.label, e.subject, e.detail) for e in trail][-1] == (
            "催办",
            "调查取证",
            "理由：仍未完成，请说明原因",
        )
        assert reminders.unread_count(s, "officer1") == 2
    assert [kind for kind, _ in bell(seeded, "officer1")] == ["urge", "urge"]
    send_mail(seeded, mail)
    messages = mail.to(EMAILS["officer1"])
    assert len(messages) == 2
    assert all(case.number in m["Subject"] for m in messages)
    assert "卫督办催办" in messages[0].get_body(preferencelist=("plain",)).get_content()
    with unit_of_work(seeded) as s:
        assert reminders.mark_read(s, "officer1") == 2
    with seeded() as s:
        assert reminders.unread_count(s, "officer1") == 0


def test_urge_refusals(seeded) -> None:  # type: ignore[no-untyped-def]
    d = filed(seeded)
    task = d.task("investigate")
    with unit_of_work(seeded) as s:
        with pytest.raises(NotPermittedError):
            supervision.urge(s, task.id, actor=actor_for(s, "officer2"), message="快")
        with pytest.raises(InputError, match="请填写催办意见"):
            supervision.urge(s, task.id, actor=actor_for(s, "supervisor"), message="  ")
        with pytest.raises(InputError, match="500"):
            supervision.urge(s, task.id, actor=actor_for(s, "supervisor"), message="快" * 501)
        s.add(User(username="jbsup", full_name="江北督办", unit_code="jiangbei"))
    with unit_of_work(seeded) as s:
        user = s.scalars(select(User).where(User.username == "jbsup")).one()
        s.add(UserRole(user_id=user.id, role="supervisor"))
    with unit_of_work(seeded) as s, pytest.raises(NotPermittedError, match="本局"):
        supervision.urge(s, task.id, actor=actor_for(s, "jbsup"), message="快")
    with seeded() as s:
        assert s.scalars(select(Notification)).all() == []
