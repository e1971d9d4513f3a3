"""Replies to referrals over HTTP: the agencies' signed endpoint (good, bad signature, unknown
number, replay — only the good one moves the instance, every refusal is logged) and an officer's
paper reply with a scan; the referral pages and the administrator's destination table."""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from engine import outbox
from engine.clock import utcnow
from engine.models import AuditEvent, EvidenceFile, ReferralReply
from engine.referral_replies import sign
from integrations.senders import SenderSettings, build_senders
from tests.engine.referral_steps import NUMBER, PDF, SECRET, approved, configure, deliver, referral
from tests.integrations.smtp_peer import free_port

URL = f"/api/referrals/{quote(NUMBER)}/replies"


@pytest.fixture
def waiting(seeded, app, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A police referral delivered and waiting for the 回执, with a signing secret configured."""
    app.config["YBJG_EVIDENCE_DIR"] = tmp_path / "evidence"
    configure(seeded, "webhook", "https://police.example/referrals")
    d = approved(seeded)
    deliver(d)
    return d


def post_signed(
    app, body: dict | bytes, *, secret: str = SECRET, nonce: str = "n-0000000001", url: str = URL
):  # type: ignore[no-untyped-def]
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    stamp = str(int(utcnow().timestamp()))
    headers = {
        "Content-Type": "application/json",
        "X-Ybjg-Timestamp": stamp,
        "X-Ybjg-Nonce": nonce,
        "X-Ybjg-Signature": sign(secret, stamp, nonce, raw),
    }
    return app.test_client().post(url, data=raw, headers=headers)


def refusals(sf) -> list[dict]:  # type: ignore[no-untyped-def]
    with sf() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == "referral.reply_refused")).all()
        return [r.detail for r in rows]


def reply_count(sf) -> int:  # type: ignore[no-untyped-def]
    with sf() as s:
        return s.scalar(select(func.count()).select_from(ReferralReply)) or 0


def test_a_signed_reply_moves_the_waiting_instance(seeded, app, waiting) -> None:
    response = post_signed(app, {"kind": "受理", "reference": "渝北公（经）受字〔2024〕12号"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["accepted"] is True
    assert waiting.case().stage == "公安审查"
    assert "police_decision" in waiting.accepted_messages()
    response = post_signed(app, {"kind": "不予立案", "reason": "证据不足"}, nonce="n-0000000002")
    assert response.status_code == 200
    assert waiting.open_ids() == ["decide_review"]  # the 3-day 复议 window is open
    assert referral(seeded).last_reply == "不予立案"
    assert refusals(seeded) == []


def test_bad_signature_unknown_number_and_replay_change_nothing_and_are_logged(seeded, app, waiting) -> None:
    before = waiting.instance().lock_version
    bad = post_signed(app, {"kind": "受理"}, secret="not-the-agency-secret-000")
    assert bad.status_code == 403 and "签名无效" in bad.get_json()["error"]
    unknown_url = f"/api/referrals/{quote('渝北医保移〔2024〕99号')}/replies"
    unknown = post_signed(app, {"kind": "受理"}, url=unknown_url)
    assert unknown.status_code == 404 and "不存在" in unknown.get_json()["error"]
    assert waiting.instance().lock_version == before and reply_count(seeded) == 0
    signature_refused, number_refused = (r["reason"] for r in refusals(seeded))
    assert signature_refused.startswith("签名无效") and "不存在" in number_refused

    good = post_signed(app, {"kind": "受理"}, nonce="n-replayed-01")
    assert good.status_code == 200
    moved = waiting.instance().lock_version
    replay = post_signed(app, {"kind": "受理"}, nonce="n-replayed-01")
    assert replay.status_code == 409 and "重复的请求" in replay.get_json()["error"]
    assert waiting.instance().lock_version == moved and reply_count(seeded) == 1
    assert len(refusals(seeded)) == 3


def test_malformed_or_unexpected_replies_are_refused_with_chinese_errors(seeded, app, waiting) -> None:
    broken = post_signed(app, b"not json", nonce="n-0000000011")
    assert broken.status_code == 400 and "JSON" in broken.get_json()["error"]
    wrong = post_signed(app, {"kind": "同意"}, nonce="n-0000000012")
    assert wrong.status_code == 400 and "kind" in wrong.get_json()["fields"]
    assert post_signed(app, {"kind": "受理"}, nonce="n-0000000013").status_code == 200
    again = post_signed(app, {"kind": "受理"}, nonce="n-0000000014")
    assert again.status_code == 409 and "当前不等待「受理」答复" in again.get_json()["error"]
    assert reply_count(seeded) == 1 and len(refusals(seeded)) == 3


def test_officer_records_a_paper_reply_with_a_scan(seeded, as_user, waiting) -> None:
    officer = as_user("officer1")
    row = referral(seeded)
    page = officer.get(f"/referrals/{row.id}")
    assert page.status_code == 200 and "登记纸质答复" in page.get_data(as_text=True)
    missing_reason = officer.post(
        f"/referrals/{row.id}/replies",
        {"kind": "退回", "reason": "", "scan": (io.BytesIO(PDF), "退回函.pdf")},
        content_type="multipart/form-data",
    )
    assert missing_reason.status_code == 400
    assert "「退回」应写明理由" in missing_reason.get_data(as_text=True)
    with seeded() as s:  # the scan of a refused reply was not kept either
        assert s.scalar(select(func.count()).select_from(EvidenceFile)) == 0
    done = officer.post(
        f"/referrals/{row.id}/replies",
        {"kind": "退回", "reason": "不构成犯罪，退回行政处理", "reference": "渝北公退字〔2024〕3号",
         "scan": (io.BytesIO(PDF), "退回函.pdf")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert done.status_code == 302
    assert waiting.open_ids() == ["decide_review"]
    with seeded() as s:
        [reply] = s.scalars(select(ReferralReply)).all()
        scan = s.get(EvidenceFile, reply.evidence_id)
        assert (reply.kind, reply.source, reply.recorded_by) == ("退回", "paper", "officer1")
        assert scan is not None and scan.case_id == row.case_id and NUMBER in scan.title
    listing = officer.get("/referrals").get_data(as_text=True)
    assert NUMBER in listing and "退回" in listing


def test_destination_table_for_administrators_never_shows_the_secret(seeded, as_user) -> None:
    admin = as_user("admin")
    saved = admin.post(
        "/admin/referral-destinations",
        {"code": "police", "name": "渝北区公安分局", "channel": "webhook",
         "address": "https://police.example/referrals", "secret": SECRET, "active": "1"},
    )  # fmt: skip
    assert saved.status_code == 302
    page = admin.get("/admin/referral-destinations").get_data(as_text=True)
    assert "渝北区公安分局" in page and "https://police.example/referrals" in page
    assert SECRET not in page and "••••••6789" in page
    bad = admin.post(
        "/admin/referral-destinations",
        {"code": "police", "name": "渝北区公安分局", "channel": "webhook", "address": "ftp://x"},
    )
    assert bad.status_code == 400 and "https://" in bad.get_data(as_text=True)
    assert as_user("officer1").get("/admin/referral-destinations").status_code == 403


def test_a_failing_referral_delivery_shows_on_the_supervision_board(seeded, as_user, tmp_path: Path) -> None:
    port = free_port()  # nobody listens: the agency's server is down
    configure(seeded, "webhook", f"http://127.0.0.1:{port}/referrals")
    deliver(approved(seeded))
    settings = SenderSettings(
        document_dir=str(tmp_path),
        evidence_dir=str(tmp_path),
        package_dir=str(tmp_path / "p"),
        webhook_timeout=5,
    )
    [done] = outbox.dispatch_due(seeded, build_senders(settings, seeded))
    assert done.status == outbox.Status.PENDING
    board = as_user("supervisor").get("/supervision/").get_data(as_text=True)
    assert "发送失败或重试中的消息" in board and NUMBER in board and "无法连接接口" in board
