"""Settings, read from the environment once, here."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from engine.db import default_url


@dataclass(frozen=True)
class Config:
    database_url: str = field(default_factory=lambda: os.environ.get("DATABASE_URL") or default_url())
    secret_key: str = field(
        default_factory=lambda: os.environ.get("YBJG_SECRET_KEY") or secrets.token_hex(32)
    )
    # The embedded default runs the scheduler inside the web process; production runs
    # `ybjg scheduler` processes instead (YBJG_SCHEDULER=0 for the web workers).
    run_scheduler: bool = field(default_factory=lambda: os.environ.get("YBJG_SCHEDULER", "1") == "1")
