"""Settings, read from the environment once, here."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from engine.db import ROOT, default_url
from integrations.senders import SenderSettings


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


@dataclass(frozen=True)
class Config:
    database_url: str = field(default_factory=lambda: _env("DATABASE_URL", default_url()))
    secret_key: str = field(default_factory=lambda: _env("YBJG_SECRET_KEY", secrets.token_hex(32)))
    # The embedded default runs the scheduler inside the web process; production runs
    # `ybjg scheduler` processes instead (YBJG_SCHEDULER=0 for the web workers).
    run_scheduler: bool = field(default_factory=lambda: _env("YBJG_SCHEDULER", "1") == "1")
    # Cookies only over HTTPS in production (YBJG_SECURE_COOKIES=1 behind TLS).
    secure_cookies: bool = field(default_factory=lambda: _env("YBJG_SECURE_COOKIES", "0") == "1")
    session_minutes: int = field(default_factory=lambda: int(_env("YBJG_SESSION_MINUTES", "30")))
    # Uploaded evidence and generated documents (文书): files never overwritten, checked by SHA-256.
    # `ybjg seed --demo` reads the same two variables.
    evidence_dir: Path = field(
        default_factory=lambda: Path(_env("YBJG_EVIDENCE_DIR", str(ROOT / "instance" / "evidence")))
    )
    document_dir: Path = field(
        default_factory=lambda: Path(_env("YBJG_DOCUMENT_DIR", str(ROOT / "instance" / "documents")))
    )
    # Email (YBJG_SMTP_HOST, _PORT, _FROM, _STARTTLS, _USER, _PASSWORD) and other outbox channels.
    senders: SenderSettings = field(default_factory=lambda: SenderSettings.from_env(os.environ))
