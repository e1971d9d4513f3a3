"""通知: the bell on every page (unread count), the list, opening one, marking them read."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from engine import reminders
from engine.models import Notification
from webui.auth import actor
from webui.db import get_session, unit_of_work

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
KIND_NAMES = {"urge": "催办", "reminder": "到期提醒", "escalation": "超期督办", "info": "通知"}


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    unread_only = request.args.get("unread") == "1"
    notes = reminders.list_for(get_session(), actor().username, unread_only=unread_only)
    return render_template("notifications.html", notes=notes, unread_only=unread_only, kinds=KIND_NAMES)


@bp.get("/<id:note_id>")
@login_required
def open_one(note_id: int) -> ResponseReturnValue:
    """Mark it read and go to what it is about: the task, else the case, else the list."""
    with unit_of_work() as s:
        note = s.get(Notification, note_id)
        if note is None or note.recipient != actor().username:
            flash("该通知不存在", "error")
            return redirect(url_for("notifications.index"))
        reminders.mark_read(s, note.recipient, [note.id])
        task_id, case_id = note.task_id, note.case_id
    if task_id is not None:
        return redirect(url_for("tasks.show", task_id=task_id))
    if case_id is not None:
        return redirect(url_for("cases.show", case_id=case_id))
    return redirect(url_for("notifications.index"))


@bp.post("/read")
@login_required
def mark_read() -> ResponseReturnValue:
    ids = [int(v) for v in request.form.getlist("id") if v.isdigit() and len(v) < 10]
    with unit_of_work() as s:
        count = reminders.mark_read(s, actor().username, ids or None)
    flash(f"已将 {count} 条通知标为已读")
    return redirect(url_for("notifications.index"))


@bp.app_context_processor
def _bell() -> dict[str, Any]:
    """`unread_notifications()` for the bell in base.html (0 when nobody is signed in)."""

    def unread() -> int:
        if not current_user.is_authenticated:
            return 0
        return reminders.unread_count(get_session(), current_user.username)

    return {"unread_notifications": unread}
