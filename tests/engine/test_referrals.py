"""Referrals in the engine: the hand-over step records the referral, its manifest and one outbox
message in the same transaction; replies are delivered to the waiting instance by referral number,
and the legal windows run as timers after each reply."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from engine import outbox, referrals, tasks
from engine import referral_replies as replies
from engine.clock import clock, utcnow
from engine.db import unit_of_work
from engine.errors import FormValidationError, NotFoundError
from engine.models import AuditEvent, OutboxMessage, Referral, ReferralReply
from engine.users import SYSTEM, actor_for
from tests.engine.referral_steps import (
    NUMBER,
    SECRET,
    START,
    add_materials,
    approved,
    configure,
    deliver,
    referral,
)
from tests.processes.driver import Driver, beijing, end_of


def reply(sf, kind: str, reason: str = "", *, user: str = "officer1", number: str = NUMBER) -> None:
    with unit_of_work(sf) as s:
        replies.record(s, number, replies.Reply(kind, reason), actor=actor_for(s, user), source="paper")


def outbox_count(sf) -> int:
    with sf() as s:
        return s.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def test_hand_over_records_the_referral_its_manifest_and_one_outbox_message(seeded, tmp_path) -> None:
    configure(seeded, "webhook", "https://police.example/referrals")
    d = approved(seeded)
    add_materials(seeded, d, tmp_path / "documents", tmp_path / "evidence")
    deliver(d)
    row = referral(seeded)
    assert (row.destination_code, row.destination_name, row.receiver, row.channel) == (
        "police", "公安机关", "渝北区公安分局", "webhook",
    )  # fmt: skip
    manifest = row.manifest
    assert manifest["referral_no"] == NUMBER == d.data()["referral_no"]
    assert manifest["case_number"] == "" and "某某诊所涉嫌诈骗罪" in manifest["case_title"]
    assert manifest["parties"] == [{"name": "某某诊所", "type": "institution", "type_label": "定点医药机构"}]
    assert manifest["amounts"] == {"amount_involved": "56000.00"}
    assert (manifest["suspected_offence"], manifest["facts"]) == ("诈骗罪", START["facts"])
    kinds = {(f["type"], f.get("kind")) for f in manifest["files"]}
    assert kinds == {("document", "涉嫌犯罪案件移送书"), ("evidence", "书证")}
    letter = next(f for f in manifest["files"] if f["type"] == "document")
    assert letter["number"] == NUMBER  # the 移送书 carries the referral number, not a second 文号
    stored = tmp_path / "documents"
    assert any(hashlib.sha256(p.read_bytes()).hexdigest() == letter["sha256"] for p in stored.rglob("*.docx"))
    assert row.manifest_sha256 == hashlib.sha256(referrals.manifest_bytes(manifest)).hexdigest()
    with seeded() as s:
        message = s.get(OutboxMessage, row.outbox_id)
        assert message is not None
        assert (message.idempotency_key, message.channel, message.destination, message.status) == (
            f"referral:{NUMBER}:police", "webhook", "https://police.example/referrals", "pending",
        )  # fmt: skip
        assert NUMBER in message.subject and message.case_id == row.case_id
        assert message.payload["manifest"] == manifest
        assert set(message.payload["sources"]) == {f["path"] for f in manifest["files"]}
        assert s.scalar(select(func.count()).where(AuditEvent.action == "referral.send")) == 1


def test_without_a_configured_destination_the_referral_is_delivered_on_paper(seeded) -> None:
    d = approved(seeded)
    deliver(d)
    row = referral(seeded)
    assert (row.channel, row.outbox_id) == ("manual", None)
    assert outbox_count(seeded) == 0
    assert "police_receipt" in d.accepted_messages()


def test_a_failed_step_leaves_neither_referral_nor_outbox_message(seeded) -> None:
    """The outbox row is written in the step's transaction: when the step rolls back, so does it."""
    configure(seeded, "webhook", "https://police.example/referrals")
    d = approved(seeded)
    task = d.task("deliver_to_police")
    with pytest.raises(RuntimeError), unit_of_work(seeded) as s:
        data = {"police_unit": "渝北区公安分局", "referral_letter": "移送书.pdf"}
        tasks.complete(s, task.id, actor=actor_for(s, "officer1"), data=data)
        assert s.scalar(select(func.count()).select_from(Referral)) == 1  # written, not yet committed
        raise RuntimeError("the request fails after the step")
    assert outbox_count(seeded) == 0
    with seeded() as s:
        assert s.scalar(select(func.count()).select_from(Referral)) == 0
    assert d.task("deliver_to_police").id == task.id


def test_receipt_then_refusal_opens_the_three_day_review_window(seeded) -> None:
    d = approved(seeded)
    deliver(d)
    clock.set(beijing(2024, 9, 25, 9))
    reply(seeded, "受理")
    assert d.case().stage == "公安审查"
    assert d.clock("公安审查").due_at == end_of(date(2024, 9, 29))
    clock.set(beijing(2024, 9, 28, 10))
    with pytest.raises(FormValidationError) as err:
        reply(seeded, "不予立案")  # a refusal states its reasons
    assert set(err.value.errors) == {"reason"}
    reply(seeded, "不予立案", "证据不足，不构成犯罪")
    assert d.data()["police_reason"] == "证据不足，不构成犯罪"
    review = d.task("decide_review")
    # 3 calendar days after Saturday 09-28: 10-01, a holiday; the window ends on the next working day.
    assert d.clock("复议申请").due_at == review.due_at == end_of(date(2024, 10, 8))
    assert d.advance(to=end_of(date(2024, 10, 8)) + timedelta(seconds=2)) == [d.id]
    assert d.open_ids() == ["decide_review", "review_request_overdue"]
    row = referral(seeded)
    assert (row.last_reply, [r.kind for r in replies_of(seeded, row.id)]) == (
        "不予立案",
        ["受理", "不予立案"],
    )


def replies_of(sf, referral_id: int) -> list[ReferralReply]:
    with sf() as s:
        return replies.list_for(s, referral_id)


def test_a_returned_case_goes_back_to_administrative_handling(seeded) -> None:
    d = approved(seeded)
    deliver(d)
    clock.set(beijing(2024, 9, 25, 9))
    reply(seeded, "退回", "不属于刑事案件，退回依法行政处理")  # no separate 回执: 退回 implies receipt
    assert d.open_ids() == ["decide_review"]
    d.complete("decide_review", "director", review_choice="accept", review_opinion="接受，依法行政处罚")
    assert d.finished
    case = d.case()
    assert (case.status, case.stage, case.referral_result) == (
        "clue",
        "立案审批",
        "公安不予立案",
    )  # continued in a penalty_case


def test_police_filing_starts_the_evidence_handover_clock(seeded) -> None:
    d = approved(seeded)
    deliver(d)
    clock.set(beijing(2024, 9, 27, 10))
    reply(seeded, "立案", user="officer2")
    assert d.task("hand_over_evidence").due_at == end_of(date(2024, 9, 30))
    assert [r.message for r in replies_of(seeded, referral(seeded).id)] == ["police_decision"]


def test_a_reply_that_is_not_expected_changes_nothing(seeded) -> None:
    d = approved(seeded)
    deliver(d)
    reply(seeded, "受理")
    before = d.instance().lock_version
    with pytest.raises(replies.ReplyNotExpectedError) as err:
        reply(seeded, "受理")  # already received
    assert "当前不等待「受理」答复" in err.value.detail
    with pytest.raises(NotFoundError):
        reply(seeded, "立案", number="渝北医保移〔2024〕99号")
    with pytest.raises(FormValidationError):
        reply(seeded, "同意")
    assert d.instance().lock_version == before
    assert [r.kind for r in replies_of(seeded, referral(seeded).id)] == ["受理"]


def test_signed_requests_are_checked_for_signature_time_and_replay(seeded) -> None:
    configure(seeded, "webhook", "https://police.example/referrals")
    d = approved(seeded)
    deliver(d)
    body = '{"kind": "受理"}'.encode()
    stamp = str(int(utcnow().timestamp()))

    def check(signature: str, *, nonce: str = "nonce-0001", at: str = stamp) -> None:
        with seeded() as s:
            replies.verify(s, NUMBER, timestamp=at, nonce=nonce, signature=signature, body=body)

    good = replies.sign(SECRET, stamp, "nonce-0001", body)
    check(good)
    with pytest.raises(replies.SignatureError):
        check(replies.sign("another-secret-0123456789", stamp, "nonce-0001", body))
    with pytest.raises(replies.SignatureError):
        check(good, nonce="nonce-0002")  # the nonce is signed too
    old = str(int(utcnow().timestamp()) - 600)
    with pytest.raises(replies.SignatureError):
        check(replies.sign(SECRET, old, "nonce-0001", body), at=old)
    with pytest.raises(NotFoundError), seeded() as s:
        replies.verify(
            s, "渝北医保移〔2024〕99号", timestamp=stamp, nonce="nonce-0001", signature=good, body=body
        )
    with unit_of_work(seeded) as s:
        replies.record(s, NUMBER, replies.Reply("受理"), actor=SYSTEM, source="webhook", nonce="nonce-0001")
    with pytest.raises(replies.ReplayError):
        check(good)


def test_agency_reply_without_receipt_takes_both_steps(seeded) -> None:
    clock.set(beijing(2024, 9, 23))
    d = Driver.start(
        seeded, "referral_agency", party_name="某某大药房", party_type="institution",
        suspected_offence="销售过期药品", amount_involved="3200", facts="货架上有过期药品",
        destination="market_regulation",
    )  # fmt: skip
    d.complete("prepare_letter", "officer1", letter_content="移送线索", letter_materials="照片.zip")
    d.complete("approve_letter", "chief", decision="approve", letter_opinion="同意")
    d.complete("deliver_letter", "officer1", agency_unit="渝北区市场监督管理局", referral_letter="移送函.pdf")
    row = referral(seeded)
    assert (row.destination_code, row.destination_name) == ("market_regulation", "市场监督管理局")
    reply(seeded, "立案", "已立案调查")
    assert d.data()["feedback_result"] == "立案：已立案调查"
    assert [r.message for r in replies_of(seeded, row.id)] == ["agency_feedback"]


def test_outbox_failures_are_listed_with_the_referral_number(seeded) -> None:
    configure(seeded, "webhook", "https://police.example/referrals")
    d = approved(seeded)
    deliver(d)
    with seeded() as s:
        message = s.get(OutboxMessage, referral(seeded).outbox_id)
        message.attempts, message.last_error = 2, "HTTP 500"
        s.commit()
        troubled = outbox.list_troubled(s)
        assert [m.id for m in troubled] == [message.id] and NUMBER in troubled[0].subject


def test_destination_form_errors_and_masked_secret(seeded) -> None:
    with pytest.raises(FormValidationError) as err, unit_of_work(seeded) as s:
        referrals.save_destination(
            s, actor="admin", code="公安", name="", channel="webhook", address="ftp://x", secret="short"
        )
    assert set(err.value.errors) == {"code", "name", "address", "secret"}
    assert referrals.mask(SECRET) == "••••••6789"
    configure(seeded, "email", "jz@police.example")
    with unit_of_work(seeded) as s:  # a change without a new secret keeps the stored one
        row = referrals.save_destination(
            s, actor="admin", code="police", name="渝北区公安分局", channel="email",
            address="x@police.example", secret=None,
        )  # fmt: skip
        assert row.secret == SECRET and row.address == "x@police.example"
