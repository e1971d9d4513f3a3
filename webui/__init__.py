"""The Flask application: a thin layer over the engine."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, render_template
from sqlalchemy import func, select

from engine import registry
from engine.db import make_engine, make_session_factory
from engine.models import InstanceStatus, ProcessInstance, Task, TaskState
from webui.config import Config


def create_app(config: Config | None = None, **overrides: Any) -> Flask:
    """Build the app; `overrides` replace Config fields (tests pass database_url, run_scheduler)."""
    cfg = config or Config(**overrides)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=cfg.secret_key, YBJG=cfg)
    engine = make_engine(cfg.database_url)
    app.extensions["ybjg_sessions"] = make_session_factory(engine)

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()

    @app.get("/")
    def index() -> str:
        session = app.extensions["ybjg_sessions"]()
        g.db_session = session
        running = session.scalar(
            select(func.count())
            .select_from(ProcessInstance)
            .where(ProcessInstance.status == InstanceStatus.RUNNING)
        )
        open_tasks = session.scalar(
            select(func.count()).select_from(Task).where(Task.state == TaskState.OPEN)
        )
        return render_template(
            "index.html", processes=registry.summaries(session), running=running, open_tasks=open_tasks
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
