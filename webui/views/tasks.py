"""A task: its generic form, and the operations on it (claim, draft, complete, 转办, 退回, 撤回)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import casefile, evidence, forms, tasks
from engine.errors import ConcurrentUpdateError, FormValidationError, InputError, NotPermittedError
from engine.models import Case, Task, TaskState, User, UserRole
from engine.users import bureau_of, can_work
from webui import formschema
from webui.auth import actor
from webui.db import get_session, unit_of_work
from webui.views.cases import evidence_max_bytes, evidence_store

bp = Blueprint("tasks", __name__, url_prefix="/tasks")


def _visible_task(task_id: int) -> Task:
    """The task, if the user may see it: same bureau, and a candidate or the one who did it."""
    s = get_session()
    task = s.get(Task, task_id)
    if task is None:
        abort(404)
    me = actor()
    if task.unit_code and me.bureau and task.unit_code != me.bureau:
        abort(403)
    if not (can_work(me, task) or task.completed_by == me.username or task.assignee == me.username):
        abort(403)
    return task


def _submitted() -> dict[str, Any]:
    return {k: v for k, v in request.form.items() if k != "csrf_token" and not k.startswith("_")}


def _render(task: Task, *, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
            notice: str | None = None, status: int = 200) -> ResponseReturnValue:  # fmt: skip
    s = get_session()
    me = actor()
    form = tasks.form_for(s, task)
    context = tasks.context_values(s, task, me) if task.state == TaskState.OPEN else (task.form_data or {})
    shown = dict(context)
    shown.update(task.draft or {})
    if task.form_data:
        shown.update(task.form_data)
    shown.update(values or {})
    case = s.get(Case, task.case_id) if task.case_id else None
    colleagues = _colleagues(task) if task.state == TaskState.OPEN else []
    returns = tasks.return_targets(s, task) if task.state == TaskState.OPEN else []
    return render_template(
        "task.html",
        task=task,
        form=form,
        values=shown,
        context=context,
        errors=errors or {},
        notice=notice,
        case=case,
        can_work=task.state == TaskState.OPEN and can_work(me, task),
        colleagues=colleagues,
        returns=returns,
        people=casefile.people(s, {task.assignee or "", task.completed_by or ""}),
    ), status


def _colleagues(task: Task) -> list[User]:
    """Users of the same bureau who hold one of the task's groups (for 转办)."""
    s = get_session()
    me = actor()
    groups = list(task.candidate_groups or [])
    users = s.scalars(
        select(User).join(UserRole).where(UserRole.role.in_(groups), User.is_active.is_(True)).distinct()
    ).all()
    return [u for u in users if u.username != me.username and _same_bureau(u)]


def _same_bureau(user: User) -> bool:
    return bureau_of(get_session(), user.unit_code) == actor().bureau


@bp.get("/<id:task_id>")
@login_required
def show(task_id: int) -> ResponseReturnValue:
    return _render(_visible_task(task_id))


@bp.post("/<id:task_id>/complete")
@login_required
def complete(task_id: int) -> ResponseReturnValue:
    task = _visible_task(task_id)
    submitted = _submitted()
    form = tasks.form_for(get_session(), task)
    try:
        values = formschema.load(form, submitted)
        with unit_of_work() as s:
            values.update(_attachments(s, task, form))
            done = tasks.complete(s, task_id, actor=actor(), data=values)
            name = done.name
    except FormValidationError as exc:
        return _render(_visible_task(task_id), values=submitted, errors=exc.errors, status=400)
    except ConcurrentUpdateError as exc:
        notice = exc.detail + "。您填写的内容保留在下方，可复制后刷新。"
        return _render(_visible_task(task_id), values=submitted, notice=notice, status=409)
    flash(f"「{name}」已办理")
    return redirect(url_for("inbox.index"))


def _attachments(s: Session, task: Task, form: forms.Form) -> dict[str, str]:
    """Store each attachment field's file as evidence of the case (a new version under the field's
    label, linked to the task) in the caller's transaction; the field records what was stored.
    Raises FormValidationError naming the field when a file is refused (type, size, empty)."""
    out: dict[str, str] = {}
    for f in form.fields:
        upload = request.files.get(f.id)
        if f.widget != "attachment" or f.readonly or upload is None or not upload.filename:
            continue
        if task.case_id is None:
            raise FormValidationError({f.id: "该任务不属于案件，不能上传附件"})
        try:
            row = evidence.upload(
                s, evidence_store(), task.case_id, upload.stream, file_name=upload.filename, title=f.label,
                kind="书证", actor=actor(), max_bytes=evidence_max_bytes(),  # 送达回证, 笔录, 意见书
                task_id=task.id,
            )  # fmt: skip
        except evidence.EvidenceRejectedError as exc:
            raise FormValidationError({f.id: f"{exc.detail}（请重新选择文件）"}) from None
        out[f.id] = f"{row.file_name}（第 {row.version} 版，SHA-256 {row.sha256[:16]}…）"
    return out


@bp.post("/<id:task_id>/draft")
@login_required
def draft(task_id: int) -> ResponseReturnValue:
    _visible_task(task_id)
    with unit_of_work() as s:
        tasks.save_draft(s, task_id, actor=actor(), data=_submitted())
    flash("草稿已保存")
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/<id:task_id>/claim")
@login_required
def claim(task_id: int) -> ResponseReturnValue:
    _visible_task(task_id)
    with unit_of_work() as s:
        tasks.claim(s, task_id, actor=actor())
    flash("已认领")
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/<id:task_id>/unclaim")
@login_required
def unclaim(task_id: int) -> ResponseReturnValue:
    _visible_task(task_id)
    with unit_of_work() as s:
        tasks.unclaim(s, task_id, actor=actor())
    flash("已退回组内待认领")
    return redirect(url_for("inbox.index"))


@bp.post("/<id:task_id>/reassign")
@login_required
def reassign(task_id: int) -> ResponseReturnValue:
    _visible_task(task_id)
    try:
        with unit_of_work() as s:
            tasks.reassign(
                s,
                task_id,
                actor=actor(),
                to_user=request.form.get("to_user", ""),
                reason=request.form.get("reason", ""),
            )
    except InputError as exc:
        flash(exc.detail, "error")
        return redirect(url_for("tasks.show", task_id=task_id))
    flash("已转办")
    return redirect(url_for("inbox.index"))


@bp.post("/<id:task_id>/return")
@login_required
def send_back(task_id: int) -> ResponseReturnValue:
    _visible_task(task_id)
    try:
        with unit_of_work() as s:
            tasks.send_back(
                s,
                task_id,
                actor=actor(),
                target=request.form.get("target", ""),
                reason=request.form.get("reason", ""),
            )
    except InputError as exc:
        flash(exc.detail, "error")
        return redirect(url_for("tasks.show", task_id=task_id))
    flash("已退回")
    return redirect(url_for("inbox.index"))


@bp.post("/<id:task_id>/withdraw")
@login_required
def withdraw(task_id: int) -> ResponseReturnValue:
    _visible_task(task_id)
    try:
        with unit_of_work() as s:
            again = tasks.withdraw(s, task_id, actor=actor(), reason=request.form.get("reason", ""))
            again_id = again.id
    except (ConcurrentUpdateError, NotPermittedError) as exc:
        flash(exc.detail, "error")
        return redirect(url_for("inbox.done"))
    flash("已撤回，可重新办理")
    return redirect(url_for("tasks.show", task_id=again_id))


def field_value(values: dict[str, Any], field: forms.Field) -> Any:
    """The value to show in a field: the officer's input, else the source variable, else default."""
    if field.id in values:
        return values[field.id]
    source = field.properties.get("source")
    if source and source in values:
        return values[source]
    return field.default


bp.add_app_template_global(field_value)
