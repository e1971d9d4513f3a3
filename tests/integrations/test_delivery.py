"""Referral packages delivered by the outbox through real local peers: an SMTP server (aiosmtpd), an
HTTP server that checks the HMAC signature, and a drop folder. A peer that is down or failing makes
the outbox retry and the message appear among the troubled ones; when it recovers, exactly one
delivery arrives."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from engine import outbox
from engine.clock import clock, utcnow
from engine.models import OutboxMessage
from engine.referral_replies import sign
from integrations.dropfolder import DropFolderSender, file_stem
from integrations.packages import build_zip
from integrations.senders import SenderSettings, build_senders
from tests.engine.referral_steps import NUMBER, SECRET, add_materials, approved, configure, deliver, referral
from tests.integrations.smtp_peer import SmtpPeer, free_port


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    return {name: tmp_path / name for name in ("documents", "evidence", "packages", "drop")}


def senders_for(sf, dirs: dict[str, Path], *, smtp_port: int = 0) -> dict[str, outbox.Sender]:  # type: ignore[no-untyped-def]
    settings = SenderSettings(
        smtp_host="127.0.0.1" if smtp_port else "", smtp_port=smtp_port, smtp_timeout=5,
        document_dir=str(dirs["documents"]), evidence_dir=str(dirs["evidence"]),
        package_dir=str(dirs["packages"]), webhook_timeout=5,
    )  # fmt: skip
    return build_senders(settings, sf)


def referred(sf, dirs: dict[str, Path], channel: str, address: str):  # type: ignore[no-untyped-def]
    configure(sf, channel, address)
    d = approved(sf)
    add_materials(sf, d, dirs["documents"], dirs["evidence"])
    deliver(d)
    return referral(sf)


def check_package(data: bytes, row) -> None:  # type: ignore[no-untyped-def]
    """The ZIP holds the recorded manifest and every file it lists, each with its SHA-256."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        manifest_bytes = archive.read("manifest.json")
        assert hashlib.sha256(manifest_bytes).hexdigest() == row.manifest_sha256
        manifest = json.loads(manifest_bytes)
        assert manifest == row.manifest and manifest["referral_no"] == NUMBER
        assert sorted(names) == sorted(["manifest.json", *(f["path"] for f in manifest["files"])])
        for entry in manifest["files"]:
            assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
    assert {f["type"] for f in manifest["files"]} == {"document", "evidence"}


# --- email --------------------------------------------------------------------------------------


def test_email_carries_the_package_whose_hashes_match_the_manifest(seeded, dirs) -> None:
    peer = SmtpPeer().start()
    try:
        row = referred(seeded, dirs, "email", "xzfy@police.example")
        [done] = outbox.dispatch_due(seeded, senders_for(seeded, dirs, smtp_port=peer.port))
        assert done.status == outbox.Status.SENT and "材料包 SHA-256" in done.detail
        [message] = peer.to("xzfy@police.example")
        assert NUMBER in message["Subject"]
        assert message["X-Idempotency-Key"] == f"referral:{NUMBER}:police"
        assert f"移送编号 {NUMBER}" in message.get_body(("plain",)).get_content()
        [attachment] = list(message.iter_attachments())
        assert attachment.get_filename() == f"{NUMBER}移送材料.zip"
        check_package(attachment.get_payload(decode=True), row)
    finally:
        peer.stop()


def test_smtp_server_down_then_up_gives_exactly_one_email(seeded, dirs) -> None:
    port = free_port()
    row = referred(seeded, dirs, "email", "xzfy@police.example")
    senders = senders_for(seeded, dirs, smtp_port=port)
    [first] = outbox.dispatch_due(seeded, senders)
    assert first.status == outbox.Status.PENDING and "无法连接邮件服务器" in first.detail
    with seeded() as s:
        assert [(m.id, NUMBER in m.subject) for m in outbox.list_troubled(s)] == [(row.outbox_id, True)]
    peer = SmtpPeer(port=port).start()
    try:
        clock.set(utcnow() + timedelta(minutes=1))
        assert [d.status for d in outbox.dispatch_due(seeded, senders)] == [outbox.Status.SENT]
        clock.set(utcnow() + timedelta(hours=2))
        assert outbox.dispatch_due(seeded, senders) == []
        assert len(peer.to("xzfy@police.example")) == 1
    finally:
        peer.stop()


# --- webhook ------------------------------------------------------------------------------------


@dataclass
class HttpPeer:
    """An HTTP server in a thread that checks the signature and answers with `statuses` in turn
    (the last one repeats); `accepted` keeps every correctly signed request it answered 2xx."""

    secret: str = SECRET
    statuses: list[int] = field(default_factory=lambda: [200])
    requests: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)

    def start(self) -> HttpPeer:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp, nonce = self.headers["X-Ybjg-Timestamp"], self.headers["X-Ybjg-Nonce"]
                signed = sign(peer.secret, stamp, nonce, body) == self.headers["X-Ybjg-Signature"]
                status = peer.statuses.pop(0) if len(peer.statuses) > 1 else peer.statuses[0]
                if not signed:
                    status = 401
                seen = {
                    "key": unquote(self.headers["Idempotency-Key"]),
                    "signed": signed,
                    "body": json.loads(body),
                }
                peer.requests.append(seen)
                if 200 <= status < 300:
                    peer.accepted.append(seen)
                answer = json.dumps({"ok": 200 <= status < 300}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/referrals"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_peer() -> Iterator[HttpPeer]:
    peer = HttpPeer(statuses=[500, 503, 200]).start()
    yield peer
    peer.stop()


def test_webhook_retries_on_5xx_shows_on_the_board_then_delivers_once(seeded, dirs, http_peer) -> None:
    row = referred(seeded, dirs, "webhook", http_peer.url)
    senders = senders_for(seeded, dirs)
    [first] = outbox.dispatch_due(seeded, senders)
    assert first.status == outbox.Status.PENDING and "HTTP 500" in first.detail
    with seeded() as s:
        [troubled] = outbox.list_troubled(s)
        assert (troubled.id, troubled.last_error) == (row.outbox_id, first.detail)
        assert NUMBER in troubled.subject
    for _ in range(3):
        clock.set(utcnow() + timedelta(hours=1))
        outbox.dispatch_due(seeded, senders)
    assert [r["key"] for r in http_peer.requests] == [f"referral:{NUMBER}:police"] * 3  # same key each try
    [delivered] = http_peer.accepted
    assert delivered["signed"]
    [attachment] = delivered["body"]["attachments"]
    data = base64.b64decode(attachment["content_base64"])
    assert hashlib.sha256(data).hexdigest() == attachment["sha256"]
    check_package(data, row)
    assert "sources" not in delivered["body"]["payload"]
    with seeded() as s:
        assert s.get(OutboxMessage, row.outbox_id).status == "sent"
        assert outbox.list_troubled(s) == []


def test_webhook_peer_down_is_retried_and_a_4xx_is_a_permanent_failure(seeded, dirs) -> None:
    port = free_port()
    row = referred(seeded, dirs, "webhook", f"http://127.0.0.1:{port}/referrals")
    senders = senders_for(seeded, dirs)
    [first] = outbox.dispatch_due(seeded, senders)
    assert first.status == outbox.Status.PENDING and "无法连接接口" in first.detail
    refusing = HttpPeer(statuses=[422]).start()
    try:
        with seeded() as s:  # the admin points the destination at the running (refusing) peer
            message = s.get(OutboxMessage, row.outbox_id)
            message.destination = refusing.url
            s.commit()
        configure(seeded, "webhook", refusing.url)
        clock.set(utcnow() + timedelta(minutes=1))
        [second] = outbox.dispatch_due(seeded, senders)
        assert second.status == outbox.Status.FAILED and "HTTP 422" in second.detail
        with seeded() as s:
            assert [m.status for m in outbox.list_troubled(s)] == ["failed"]
    finally:
        refusing.stop()


def test_a_wrong_secret_is_refused_by_the_peer(seeded, dirs) -> None:
    peer = HttpPeer(secret="the-agency-has-another-secret").start()
    try:
        referred(seeded, dirs, "webhook", peer.url)
        [done] = outbox.dispatch_due(seeded, senders_for(seeded, dirs))
        assert done.status == outbox.Status.FAILED and "HTTP 401" in done.detail
        assert peer.accepted == [] and peer.requests[0]["signed"] is False
    finally:
        peer.stop()


# --- drop folder --------------------------------------------------------------------------------


def test_drop_folder_gets_the_package_once_even_when_sent_again(seeded, dirs) -> None:
    row = referred(seeded, dirs, "dropfolder", str(dirs["drop"]))
    senders = senders_for(seeded, dirs)
    [missing] = outbox.dispatch_due(seeded, senders)  # the share is not mounted yet
    assert missing.status == outbox.Status.PENDING and "共享目录不存在" in missing.detail
    dirs["drop"].mkdir()
    clock.set(utcnow() + timedelta(minutes=1))
    [done] = outbox.dispatch_due(seeded, senders)
    assert done.status == outbox.Status.SENT
    stem = file_stem(f"referral:{NUMBER}:police")
    assert sorted(p.name for p in dirs["drop"].iterdir()) == [f"{stem}.json", f"{stem}.zip"]
    package = dirs["drop"] / f"{stem}.zip"
    check_package(package.read_bytes(), row)
    marker = json.loads((dirs["drop"] / f"{stem}.json").read_text("utf-8"))
    assert marker["attachments"][0]["sha256"] == hashlib.sha256(package.read_bytes()).hexdigest()
    # A worker that crashed after writing but before recording sends again: nothing is rewritten.
    before = {p.name: p.stat().st_ino for p in dirs["drop"].iterdir()}
    with seeded() as s:
        message = s.get(OutboxMessage, row.outbox_id)
        envelope = outbox.Envelope(
            message.id, message.idempotency_key, message.channel, message.destination, message.subject,
            dict(message.payload), message.case_id, 2,
        )  # fmt: skip
    senders["dropfolder"].send(envelope)
    assert {p.name: p.stat().st_ino for p in dirs["drop"].iterdir()} == before


def test_drop_folder_never_overwrites_another_file(tmp_path: Path) -> None:
    source = tmp_path / "a.zip"
    source.write_bytes(b"PK package")
    envelope = outbox.Envelope(
        1, "copy:1", "dropfolder", str(tmp_path), "抄告",
        {"attachments": [{"filename": "a.zip", "path": str(source)}]}, None, 1,
    )  # fmt: skip
    (tmp_path / f"{file_stem('copy:1')}.zip").write_bytes(b"someone else's file")
    with pytest.raises(outbox.DeliveryError) as err:
        DropFolderSender().send(envelope)
    assert err.value.permanent and "未覆盖" in err.value.reason


# --- the package itself -------------------------------------------------------------------------


def test_package_is_deterministic_and_refuses_altered_files(seeded, dirs) -> None:
    row = referred(seeded, dirs, "dropfolder", str(dirs["drop"]))
    with seeded() as s:
        payload = dict(s.get(OutboxMessage, row.outbox_id).payload)
    stores = SenderSettings(
        document_dir=str(dirs["documents"]),
        evidence_dir=str(dirs["evidence"]),
        package_dir=str(dirs["packages"]),
    ).package_stores()
    first = build_zip(payload, stores)
    clock.set(utcnow() + timedelta(days=3))
    assert build_zip(payload, stores) == first  # a retry days later carries the same bytes
    [evidence_file] = [p for p in dirs["evidence"].rglob("*.pdf")]
    evidence_file.write_bytes(evidence_file.read_bytes() + b"tampered")
    with pytest.raises(outbox.DeliveryError) as err:
        build_zip(payload, stores)
    assert err.value.permanent and "SHA-256 不符" in err.value.reason
