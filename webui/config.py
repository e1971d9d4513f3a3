"""Settings, read from the environment once, here."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from engine.db import default_url


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
