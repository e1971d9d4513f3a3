"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, keeping every message it receives."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SmtpPeer:
    """Start with `start()`, stop with `stop()`; `received` fills as messages arrive."""

    port: int = field(default_factory=free_port)
    user: str = ""
    password: str = ""
    tls_context: ssl.SSLContext | None = None
    refuse: set[str] = field(default_factory=set)  # addresses answered with 550
    received: list[Received] = field(default_factory=list)
    _controller: Controller | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == (
            self.user,
            self.password,
        )
        return AuthResult(success=ok)

    def start(self) -> SmtpPeer:
        kwargs: dict[str, Any] = {}
        if self.user:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=self.tls_context is not None)
        if self.tls_context is not None:
            kwargs.update(tls_context=self.tls_context, require_starttls=True)
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[EmailMessage]:
        return [r.message for r in self.received if address in r.rcpt_tos]
