"""待办 and 已办."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import login_required

from engine import casefile, inbox
from webui.auth import actor
from webui.db import get_session
from webui.display import PROCESS_NAMES

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
        process=args.get("process", "")[:300],
        stage=args.get("stage", "")[:64],
        due=due if due in ("overdue", "soon", "later") else "",  # type: ignore[arg-type]
        party=args.get("party", "")[:100],
        mine_only=args.get("mine") == "1",
        sort=args.get("sort", "due") if args.get("sort", "due") in inbox.SORTS else "due",
    )
    s = get_session()
    page = inbox.inbox(s, actor(), f, page=_page())
    keys, stages = inbox.facets(s, actor())
    people = casefile.people(s, {r.task.assignee for r in page.rows if r.task.assignee})
    return render_template(
        "inbox.html", page=page, f=f, processes=_by_name(keys), stages=stages, people=people
    )


def _by_name(keys: list[str]) -> list[tuple[str, str]]:
    """(value, label) options: the process keys that show under one name are filtered together."""
    grouped: dict[str, list[str]] = {}
    for key in keys:
        grouped.setdefault(PROCESS_NAMES.get(key, key), []).append(key)
    return [(",".join(group), name) for name, group in grouped.items()]


@bp.get("/done")
@login_required
def done() -> ResponseReturnValue:
    page = inbox.done(get_session(), actor(), page=_page())
    return render_template("done.html", page=page)
