"""待办 and 已办."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import login_required

from engine import inbox
from webui.auth import actor
from webui.db import get_session

bp = Blueprint("inbox", __name__)


def _page() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 100000 else 1


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    args = request.args
    due = args.get("due", "")
    f = inbox.InboxFilter(
        process=args.get("process", "")[:64],
        stage=args.get("stage", "")[:64],
        due=due if due in ("overdue", "soon", "later") else "",  # type: ignore[arg-type]
        party=args.get("party", "")[:100],
        mine_only=args.get("mine") == "1",
        sort=args.get("sort", "due") if args.get("sort", "due") in inbox.SORTS else "due",
    )
    s = get_session()
    page = inbox.inbox(s, actor(), f, page=_page())
    processes, stages = inbox.facets(s, actor())
    return render_template("inbox.html", page=page, f=f, processes=processes, stages=stages)


@bp.get("/done")
@login_required
def done() -> ResponseReturnValue:
    page = inbox.done(get_session(), actor(), page=_page())
    return render_template("done.html", page=page)
