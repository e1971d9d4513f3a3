"""Bring a database to the newest schema with Alembic, which owns the schema from the first table."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from engine.db import ROOT, default_url, normalize_url


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["url"] = normalize_url(url or default_url())
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Migrate the database at `url` (default: the embedded SQLite file) to `revision`."""
    command.upgrade(alembic_config(url), revision)
