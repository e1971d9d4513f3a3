"""The Flask application: a thin layer over the engine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter

from engine.db import make_engine, make_session_factory
from webui import api, auth, display, errors, security
from webui.config import Config
from webui.db import close_session
from webui.views import (
    admin,
    cases,
    documents,
    inbox,
    intake,
    notifications,
    processes,
    referrals,
    start,
    statistics,
    supervision,
    tasks,
)

MAX_UPLOAD_BYTES = 50 * 1024 * 1024


class IdConverter(IntegerConverter):
    """A database id in a URL: 1 … 2**31-1 (a 32-bit column), so an absurd number is a 404."""

    def __init__(self, url_map: Any) -> None:
        super().__init__(url_map, min=1, max=2**31 - 1)


def create_app(config: Config | None = None, **overrides: Any) -> Flask:
    """Build the app; `overrides` replace Config fields (tests pass database_url, run_scheduler)."""
    cfg = config or Config(**overrides)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=cfg.secret_key,
        YBJG=cfg,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=cfg.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=cfg.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=cfg.session_minutes),
        SESSION_REFRESH_EACH_REQUEST=True,
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
    )
    app.url_map.converters["id"] = IdConverter
    app.extensions["ybjg_sessions"] = make_session_factory(make_engine(cfg.database_url))
    app.teardown_appcontext(close_session)
    auth.login_manager.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    display.init_app(app)
    for blueprint in (
        auth.bp,
        inbox.bp,
        tasks.bp,
        cases.bp,
        api.bp,
        admin.bp,
        documents.bp,
        processes.bp,
        supervision.bp,
        notifications.bp,
        intake.bp,
        referrals.bp,
        statistics.bp,
        start.bp,
    ):
        app.register_blueprint(blueprint)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
