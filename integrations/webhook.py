"""HTTPS webhook: the outbox's "webhook" channel. One envelope is one POST of a JSON body (the
payload, with any attachment — the referral package — inlined as base64 beside its SHA-256),
signed with the destination's secret exactly as agencies sign their replies to us:

    X-Ybjg-Timestamp: Unix seconds      X-Ybjg-Nonce: random
    X-Ybjg-Signature: "sha256=" + hex HMAC-SHA256(secret, f"{timestamp}.{nonce}." + body)
    Idempotency-Key: the outbox key, percent-encoded UTF-8 (the same on every retry: a peer that
                     saw it may drop the repeat; the body carries it unencoded too)

A 2xx answer is delivery. 408, 429, 5xx, a refused connection or a timeout are retried by the
outbox; any other 4xx is permanent (the peer refused this message: retrying would not help)."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session, sessionmaker

from engine import referrals
from engine.clock import utcnow
from engine.outbox import DeliveryError, Envelope
from engine.referral_replies import sign

RETRYABLE = {408, 425, 429}


def secrets_from(sessions: sessionmaker[Session]) -> Callable[[str], str | None]:
    """A secret lookup reading the referral destinations table at send time (a changed secret
    applies to the next attempt)."""

    def secret_for(url: str) -> str | None:
        with sessions() as session:
            return referrals.webhook_secret(session, url)

    return secret_for


@dataclass(frozen=True)
class WebhookSender:
    """POSTs envelopes to their destination URL; `secret_for(url)` gives the signing secret."""

    secret_for: Callable[[str], str | None]
    timeout: float = 30.0
    ssl_context: ssl.SSLContext | None = None  # None = the system's trusted CAs

    def send(self, envelope: Envelope) -> str:
        url = envelope.destination
        if not url.startswith(("https://", "http://")):
            raise DeliveryError(f"接口地址无效：{url}", permanent=True)
        secret = self.secret_for(url)
        if not secret:
            raise DeliveryError(f"接口 {url} 未配置签名密钥", permanent=True)
        body = self.body(envelope)
        timestamp = str(int(utcnow().timestamp()))
        nonce = uuid.uuid4().hex
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Idempotency-Key": quote(envelope.idempotency_key, safe=":"),
                "X-Ybjg-Timestamp": timestamp,
                "X-Ybjg-Nonce": nonce,
                "X-Ybjg-Signature": sign(secret, timestamp, nonce, body),
                "User-Agent": "ybjg-outbox/1",
            },
        )
        try:
            with urllib.request.urlopen(
                request, timeout=self.timeout, context=self._context(url)
            ) as response:
                status = response.status
                answer = response.read(500).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace") if exc.fp else ""
            permanent = 400 <= exc.code < 500 and exc.code not in RETRYABLE
            raise DeliveryError(
                f"接口返回 HTTP {exc.code}：{detail}".strip("："), permanent=permanent
            ) from exc
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"无法连接接口 {url}：{reason}") from exc
        return f"HTTP {status} {answer[:200]}".strip()

    def body(self, envelope: Envelope) -> bytes:
        """The JSON body: deterministic for one envelope (the same bytes on every retry)."""
        payload = {k: v for k, v in envelope.payload.items() if k not in ("attachments", "sources")}
        document: dict[str, Any] = {
            "idempotency_key": envelope.idempotency_key,
            "subject": envelope.subject,
            "payload": payload,
            "attachments": [_inline(a) for a in envelope.payload.get("attachments") or []],
        }
        return json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")

    def _context(self, url: str) -> ssl.SSLContext | None:
        if not url.startswith("https://"):
            return None
        return self.ssl_context or ssl.create_default_context()


def _inline(item: dict[str, Any]) -> dict[str, Any]:
    try:
        data = Path(str(item["path"])).read_bytes()
    except (KeyError, OSError) as exc:
        raise DeliveryError(f"附件「{item.get('filename', '')}」缺失：{exc}", permanent=True) from exc
    return {
        "filename": item.get("filename") or Path(str(item["path"])).name,
        "content_type": item.get("content_type") or "application/octet-stream",
        "sha256": item.get("sha256") or "",
        "size": len(data),
        "content_base64": base64.b64encode(data).decode("ascii"),
    }
