"""Email through SMTP: the outbox's "email" channel. One envelope is one MIME message (UTF-8 Chinese
subject and body, attachments named in the payload), with a Message-ID derived from the idempotency
key so that a peer, or a person, can tell a retried message from a new one.

Payload: {"body": text, "link": "/tasks/7" (optional, joined to `public_url`),
          "attachments": [{"filename", "content_type", "path"}, ...] (optional)}.
`destination` is one address or several separated by commas."""

from __future__ import annotations

import hashlib
import mimetypes
import smtplib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses
from pathlib import Path
from typing import Any

from engine.outbox import DeliveryError, Envelope


@dataclass(frozen=True)
class SmtpSender:
    """Sends an envelope to an SMTP server; raises DeliveryError (permanent for 5xx answers, refused
    addresses and missing attachments; retried for everything else)."""

    host: str
    port: int = 25
    from_address: str = "ybjg@localhost"
    starttls: bool = False
    user: str = ""
    password: str = ""
    timeout: float = 30.0
    public_url: str = ""  # the web app's address, for links in the body
    tls_context: ssl.SSLContext | None = None  # STARTTLS; None = the system's trusted CAs

    def send(self, envelope: Envelope) -> str:
        message = self.build(envelope)
        recipients = [addr for _, addr in getaddresses([envelope.destination]) if addr]
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=self.tls_context or ssl.create_default_context())
                    smtp.ehlo()
                if self.user:
                    smtp.login(self.user, self.password)
                refused = smtp.send_message(message, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"收件人被拒绝：{', '.join(exc.recipients)}", permanent=True) from exc
        except smtplib.SMTPResponseException as exc:
            reason = f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}"
            raise DeliveryError(reason, permanent=500 <= exc.smtp_code < 600) from exc
        except (smtplib.SMTPException, OSError) as exc:  # OSError covers refused, reset, timed out
            raise DeliveryError(f"无法连接邮件服务器 {self.host}:{self.port}：{exc}") from exc
        if refused:
            raise DeliveryError(f"部分收件人被拒绝：{', '.join(refused)}", permanent=True)
        return str(message["Message-ID"])

    def build(self, envelope: Envelope) -> EmailMessage:
        """The MIME message for an envelope; raises DeliveryError (permanent) on a bad payload."""
        if not any(addr for _, addr in getaddresses([envelope.destination])):
            raise DeliveryError(f"收件地址无效：{envelope.destination}", permanent=True)
        message = EmailMessage()
        message["Subject"] = envelope.subject or "医保基金监管执法案件流程系统通知"
        message["From"] = Address("医保基金监管执法案件流程系统", addr_spec=self.from_address)
        message["To"] = envelope.destination
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = message_id(envelope.idempotency_key, self.from_address)
        message["X-Idempotency-Key"] = envelope.idempotency_key
        message.set_content(self._body(envelope.payload), charset="utf-8")
        for item in envelope.payload.get("attachments") or []:
            _attach(message, item)
        return message

    def _body(self, payload: dict[str, Any]) -> str:
        body = str(payload.get("body") or "")
        link = str(payload.get("link") or "")
        if link and self.public_url:
            body += f"\n\n查看：{self.public_url.rstrip('/')}{link}"
        return body + "\n\n（本邮件由系统自动发送，请勿直接回复。）\n"


def message_id(idempotency_key: str, from_address: str) -> str:
    """The same key always gives the same Message-ID: a retry is recognisably the same message."""
    domain = from_address.rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]}@{domain}>"


def _attach(message: EmailMessage, item: dict[str, Any]) -> None:
    path = Path(str(item.get("path") or ""))
    if not path.is_file():
        raise DeliveryError(f"附件不存在：{item.get('filename') or path}", permanent=True)
    filename = str(item.get("filename") or path.name)
    content_type = str(item.get("content_type") or mimetypes.guess_type(filename)[0] or "")
    maintype, _, subtype = content_type.partition("/")
    if not maintype or not subtype:
        maintype, subtype = "application", "octet-stream"
    message.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=filename)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
