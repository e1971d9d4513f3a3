"""The SMTP sender against a real local SMTP server (aiosmtpd), alone and behind the outbox."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from engine import outbox
from engine.clock import clock, utcnow
from engine.db import unit_of_work
from engine.outbox import DeliveryError, Envelope
from integrations.mail import SmtpSender, message_id
from integrations.senders import SenderSettings, build_senders
from tests.integrations.smtp_peer import SmtpPeer, free_port

SUBJECT = "【催办】调查取证 渝北医保立〔2024〕1号"


def envelope(key: str = "notification:1", destination: str = "张办案 <officer1@yubei.example>", **payload):  # type: ignore[no-untyped-def]
    return Envelope(
        1, key, "email", destination, SUBJECT, {"body": "请尽快完成调查取证。", **payload}, None, 1
    )


@pytest.fixture
def peer() -> Iterator[SmtpPeer]:
    server = SmtpPeer(refuse={"nobody@yubei.example"}).start()
    yield server
    server.stop()


def test_chinese_message_with_attachment_arrives(peer: SmtpPeer, tmp_path: Path) -> None:
    package = tmp_path / "移送材料.zip"
    package.write_bytes(b"PK\x03\x04 referral package")
    sender = SmtpSender("127.0.0.1", peer.port, "ybjg@yubei.example", public_url="https://ybjg.example/")
    attachment = {"filename": "移送材料.zip", "content_type": "application/zip", "path": str(package)}
    receipt = sender.send(envelope(link="/tasks/7", attachments=[attachment]))

    assert [r.rcpt_tos for r in peer.received] == [["officer1@yubei.example"]]
    got = peer.received[0].message
    assert got["Subject"] == SUBJECT
    assert got["Message-ID"] == receipt == message_id("notification:1", "ybjg@yubei.example")
    assert got["X-Idempotency-Key"] == "notification:1"
    assert got["To"].addresses[0].display_name == "张办案"
    body = got.get_body(preferencelist=("plain",)).get_content()
    assert "请尽快完成调查取证。" in body and "https://ybjg.example/tasks/7" in body
    [part] = list(got.iter_attachments())
    assert part.get_filename() == "移送材料.zip" and part.get_content_type() == "application/zip"
    assert part.get_content() == b"PK\x03\x04 referral package"


def test_same_key_same_message_id() -> None:
    assert message_id("k", "a@x.example") == message_id("k", "b@x.example")
    assert message_id("k", "a@x.example") != message_id("k2", "a@x.example")


def test_refused_address_and_missing_attachment_are_permanent(peer: SmtpPeer, tmp_path: Path) -> None:
    sender = SmtpSender("127.0.0.1", peer.port, "ybjg@yubei.example")
    with pytest.raises(DeliveryError) as refused:
        sender.send(envelope(destination="nobody@yubei.example"))
    assert refused.value.permanent and "nobody@yubei.example" in refused.value.reason
    missing = {"filename": "a.pdf", "content_type": "application/pdf", "path": str(tmp_path / "none.pdf")}
    with pytest.raises(DeliveryError) as gone:
        sender.send(envelope(attachments=[missing]))
    assert gone.value.permanent and "附件不存在" in gone.value.reason
    assert peer.received == []


def test_server_down_is_retried_later() -> None:
    with pytest.raises(DeliveryError) as down:
        SmtpSender("127.0.0.1", free_port(), "ybjg@yubei.example", timeout=5).send(envelope())
    assert not down.value.permanent and "无法连接邮件服务器" in down.value.reason


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_starttls_and_login(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    server = SmtpPeer(user="ybjg", password="s3cret", tls_context=server_tls).start()
    try:
        client_tls = ssl.create_default_context(cafile=str(cert))
        good = SmtpSender(
            "127.0.0.1", server.port, "ybjg@yubei.example", starttls=True, user="ybjg", password="s3cret",
            tls_context=client_tls,
        )  # fmt: skip
        good.send(envelope())
        assert len(server.received) == 1
        assert server.received[0].message["Subject"] == SUBJECT
    finally:
        server.stop()


def test_settings_build_the_email_sender(peer: SmtpPeer) -> None:
    assert "email" not in build_senders(SenderSettings.from_env({}))
    settings = SenderSettings.from_env(
        {
            "YBJG_SMTP_HOST": "127.0.0.1",
            "YBJG_SMTP_PORT": str(peer.port),
            "YBJG_SMTP_FROM": "ybjg@yubei.example",
        }
    )
    build_senders(settings)["email"].send(envelope())
    assert peer.received[0].mail_from == "ybjg@yubei.example"


def test_outbox_retries_while_the_server_is_down_then_delivers_once(sf) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    senders = build_senders(SenderSettings(smtp_host="127.0.0.1", smtp_port=port, smtp_timeout=5))
    with unit_of_work(sf) as s:
        outbox.enqueue(
            s, channel="email", destination="officer1@yubei.example", subject=SUBJECT,
            payload={"body": "请尽快办理"}, idempotency_key="notification:42",
        )  # fmt: skip
    [first] = outbox.dispatch_due(sf, senders)
    assert first.status == outbox.Status.PENDING and "无法连接邮件服务器" in first.detail
    with sf() as s:
        assert [m.id for m in outbox.list_troubled(s)] == [first.message_id]
    server = SmtpPeer(port=port).start()
    try:
        assert outbox.dispatch_due(sf, senders) == []  # backing off: not due yet
        clock.set(utcnow() + timedelta(minutes=1))
        [second] = outbox.dispatch_due(sf, senders)
        assert second.status == outbox.Status.SENT
        clock.set(utcnow() + timedelta(hours=2))
        assert outbox.dispatch_due(sf, senders) == []
        assert len(server.to("officer1@yubei.example")) == 1
        assert server.received[0].message["X-Idempotency-Key"] == "notification:42"
    finally:
        server.stop()
    with sf() as s:
        assert outbox.list_troubled(s) == []
