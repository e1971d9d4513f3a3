"""超期督办: the board of overdue and due-soon tasks and legal clocks, 催办, the outbox messages
that failed, and the escalation policy table."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from engine import casefile, outbox, reminders, supervision
from engine.errors import DomainError, FormValidationError
from engine.inbox import Page
from engine.models import Case, Unit
from engine.roles import ROLE_NAMES, role_name
from webui.auth import actor, roles_required
from webui.db import get_session, unit_of_work
from webui.display import PROCESS_NAMES

bp = Blueprint("supervision", __name__, url_prefix="/supervision")
PER_PAGE = 50
GROUP_NAMES = {
    "officer": "办案人员",
    "process": "流程",
    "stage": "阶段",
    "unit": "科室",
    "institution": "机构",
}
RULE_ROLES = ("supervisor", "admin")


def _int(raw: str | None, default: int, lo: int, hi: int) -> int:
    return int(raw) if raw and raw.isdigit() and lo <= int(raw) <= hi else default


def _filter() -> supervision.BoardFilter:
    args = request.args
    return supervision.BoardFilter(
        within_workdays=_int(args.get("within"), 3, 0, 60),
        only_overdue=args.get("overdue") == "1",
        process=args.get("process", "")[:128],
        stage=args.get("stage", "")[:64],
        officer=args.get("officer", "")[:64],
        unit=args.get("unit", "")[:32],
        institution=args.get("institution", "")[:100],
        bureau=actor().bureau,
    )


def _labels(values: set[str]) -> dict[str, str]:
    """Display names of usernames, role codes and unit codes on the board."""
    s = get_session()
    names = casefile.people(s, values)
    names.update({v: f"待认领（{role_name(v)}）" for v in values if v in ROLE_NAMES})
    names.update({u.code: u.name for u in s.scalars(select(Unit).where(Unit.code.in_(values)))})
    names["system"] = "系统"
    return names


def _board(
    urge_errors: dict[int, str] | None = None, urge_values: dict[int, str] | None = None, status: int = 200
) -> ResponseReturnValue:
    s = get_session()
    f = _filter()
    group = request.args.get("group", "officer")
    group = group if group in GROUP_NAMES else "officer"
    page = _int(request.args.get("page"), 1, 1, 100_000)
    rows, total = supervision.board(s, f, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    groups = supervision.counts(s, f, group)  # type: ignore[arg-type]
    labels = _labels(
        {v for r in rows for v in (r.officer, r.unit)}
        | ({g[0] for g in groups} if group in ("officer", "unit") else set())
    )
    troubled = _troubled()
    return render_template(
        "supervision_board.html", f=f, rows=rows, page=Page(rows, total, page, PER_PAGE), group=group,
        groups=groups, group_names=GROUP_NAMES, labels=labels, troubled=troubled,
        overdue=sum(g[1] for g in groups), soon=sum(g[2] for g in groups),
        process_names=PROCESS_NAMES, urge_errors=urge_errors or {}, urge_values=urge_values or {},
        can_edit_rules=_may_edit_rules(),
    ), status  # fmt: skip


def _troubled() -> list[tuple[Any, Case | None]]:
    """Failed or retrying outbox messages of the viewer's bureau (all of them for a city-level viewer)."""
    s = get_session()
    messages = outbox.list_troubled(s)
    ids = {m.case_id for m in messages if m.case_id is not None}
    cases = {c.id: c for c in s.scalars(select(Case).where(Case.id.in_(ids)))} if ids else {}
    bureau = actor().bureau
    out = []
    for m in messages:
        case = cases.get(m.case_id) if m.case_id is not None else None
        if case is None or bureau is None or case.unit_code == bureau:
            out.append((m, case))
    return out


def _may_edit_rules() -> bool:
    return bool(actor().roles & set(RULE_ROLES))


def _back() -> str:
    target = request.form.get("next", "")
    return target if target.startswith("/supervision") else url_for("supervision.board")


@bp.get("/")
@roles_required(*supervision.BOARD_ROLES)
def board() -> ResponseReturnValue:
    return _board()


@bp.post("/tasks/<id:task_id>/urge")
@roles_required(*supervision.BOARD_ROLES)
def urge(task_id: int) -> ResponseReturnValue:
    message = request.form.get("message", "")[:2000]
    try:
        with unit_of_work() as s:
            sent = supervision.urge(s, task_id, actor=actor(), message=message)
    except DomainError as exc:
        return _board({task_id: exc.detail}, {task_id: message}, status=400)
    names = _labels({n.recipient for n in sent})
    flash(f"已催办：{'、'.join(names.get(n.recipient, n.recipient) for n in sent)}")
    return redirect(_back())


@bp.post("/outbox/<id:message_id>/retry")
@roles_required(*supervision.BOARD_ROLES)
def retry(message_id: int) -> ResponseReturnValue:
    if message_id not in {m.id for m, _ in _troubled()}:
        flash("该消息不存在或不属于本局", "error")
        return redirect(_back())
    with unit_of_work() as s:
        outbox.retry(s, message_id, actor=actor().username)
    flash("已重新排队发送")
    return redirect(_back())


# --- the escalation policy ---------------------------------------------------------------------------
def _rules_page(
    errors: dict[str, str] | None = None, values: dict[str, str] | None = None, edit: int | None = None,
    status: int = 200,
) -> ResponseReturnValue:  # fmt: skip
    return render_template(
        "supervision_rules.html", rules=reminders.list_rules(get_session()), steps=reminders.STEP_NAMES,
        roles=ROLE_NAMES, errors=errors or {}, values=values or {}, edit=edit, processes=PROCESS_NAMES,
    ), status  # fmt: skip


@bp.get("/rules")
@roles_required(*RULE_ROLES)
def rules() -> ResponseReturnValue:
    return _rules_page()


@bp.post("/rules", defaults={"rule_id": None})
@bp.post("/rules/<id:rule_id>")
@roles_required(*RULE_ROLES)
def save_rule(rule_id: int | None) -> ResponseReturnValue:
    form = {
        k: request.form.get(k, "").strip()
        for k in ("step", "offset_workdays", "recipient_role", "process_key")
    }
    offset = form["offset_workdays"]
    if not offset.lstrip("-").isdigit() or len(offset) > 4:
        return _rules_page({"offset_workdays": "请填写整数工作日数（负数为到期前）"}, form, rule_id, 400)
    try:
        with unit_of_work() as s:
            reminders.save_rule(
                s, rule_id, actor=actor().username, step=form["step"], offset_workdays=int(offset),
                recipient_role=form["recipient_role"], process_key=form["process_key"],
                active=request.form.get("active") == "1",
            )  # fmt: skip
    except FormValidationError as exc:
        return _rules_page(exc.errors, form, rule_id, 400)
    flash("督办规则已保存")
    return redirect(url_for("supervision.rules"))


@bp.post("/rules/<id:rule_id>/delete")
@roles_required(*RULE_ROLES)
def delete_rule(rule_id: int) -> ResponseReturnValue:
    with unit_of_work() as s:
        reminders.delete_rule(s, rule_id, actor=actor().username)
    flash("督办规则已删除")
    return redirect(url_for("supervision.rules"))


@bp.app_context_processor
def _task_urges() -> dict[str, Any]:
    """`task_urges(task_id)` for the task page: the 催办 it received."""
    return {"task_urges": lambda task_id: supervision.urges_of(get_session(), task_id)}
