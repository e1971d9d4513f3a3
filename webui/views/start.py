"""发起: the processes the signed-in person may start by hand (线索登记, 问题登记, 移送 …), each with
its start form drawn by the generic form renderer and checked like a task form."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required
from sqlalchemy import select

from engine import starts
from engine.errors import FormValidationError
from engine.models import ProcessInstance, Task, TaskState
from engine.users import can_work
from webui import formschema
from webui.auth import actor
from webui.db import get_session, unit_of_work

bp = Blueprint("start", __name__, url_prefix="/start")
OWN_ENTRY_PAGES = {"incoming_transfer": "intake.transfer_form"}


@bp.get("")
@login_required
def index() -> ResponseReturnValue:
    processes = starts.startable(get_session(), actor())
    links = {
        p.key: url_for(OWN_ENTRY_PAGES[p.key])
        if p.key in OWN_ENTRY_PAGES
        else url_for("start.form", key=p.key)
        for p in processes
    }
    return render_template("start.html", processes=processes, links=links)


def _render(
    key: str, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> ResponseReturnValue:
    s = get_session()
    process = starts.get(s, key, actor())  # NotPermittedError → the Chinese 403 page
    if key in OWN_ENTRY_PAGES:
        return redirect(url_for(OWN_ENTRY_PAGES[key]))
    form = starts.start_form(s, key)
    return render_template(
        "start_form.html", process=process, form=form, values=values, errors=errors
    ), status


@bp.get("/<key>")
@login_required
def form(key: str) -> ResponseReturnValue:
    return _render(key[:128], {}, {})


@bp.post("/<key>")
@login_required
def submit(key: str) -> ResponseReturnValue:
    key = key[:128]
    submitted = {k: v[:6000] for k, v in request.form.items() if k != "csrf_token"}
    s = get_session()
    me = actor()
    process = starts.get(s, key, me)
    try:
        values = formschema.load(starts.start_form(s, key), submitted)
        with unit_of_work() as uow:
            instance = starts.start(uow, key, values, actor=me)
            target = first_step(instance)
    except FormValidationError as exc:
        return _render(key, submitted, exc.errors, 400)
    flash(f"「{process.event}」已提交，流程已启动")
    return redirect(target)


def first_step(instance: ProcessInstance) -> str:
    """Where the starter goes next: their first open task, else the new case file, else 待办."""
    s = get_session()
    me = actor()
    for task in s.scalars(
        select(Task).where(Task.instance_id == instance.id, Task.state == TaskState.OPEN).order_by(Task.id)
    ):
        if can_work(me, task):
            return url_for("tasks.show", task_id=task.id)
    if instance.case_id is not None:
        return url_for("cases.show", case_id=instance.case_id)
    return url_for("inbox.index")
