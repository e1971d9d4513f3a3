"""系统管理: users, roles, units and passwords, and the member agencies that receive 信息抄告
(系统管理员 only)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from engine import audit, infocopy
from engine.cases import INSTITUTION_TYPES
from engine.errors import FormValidationError, InputError, NotFoundError
from engine.models import MemberAgency, Unit, User
from engine.roles import ROLE_NAMES
from engine.users import check_email, create_user, reset_password, update_user
from webui.auth import actor, roles_required
from webui.db import get_session, unit_of_work

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _page(
    user: User | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    s = get_session()
    users = list(s.scalars(select(User).order_by(User.unit_code, User.username)))
    units = list(s.scalars(select(Unit).order_by(Unit.code)))
    return render_template(
        "admin_users.html", users=users, units=units, unit_names={u.code: u.name for u in units},
        roles=ROLE_NAMES, edit=user, errors=errors or {}, values=values or {},
    ), status  # fmt: skip


@bp.get("/users")
@roles_required("admin")
def users() -> ResponseReturnValue:
    return _page()


@bp.post("/users")
@roles_required("admin")
def create() -> ResponseReturnValue:
    form = {
        k: request.form.get(k, "").strip()
        for k in ("username", "full_name", "unit_code", "password", "email")
    }
    errors = {}
    if not form["username"].isascii() or not form["username"] or len(form["username"]) > 64:
        errors["username"] = "用户名只能用英文字母、数字，1–64 位"
    if not form["full_name"]:
        errors["full_name"] = "请填写姓名"
    if len(form["password"]) < 8:
        errors["password"] = "初始密码至少 8 位"
    try:
        check_email(form["email"])
    except InputError as exc:
        errors["email"] = exc.detail
    roles = request.form.getlist("roles")
    if not roles:
        errors["roles"] = "请至少选择一个角色"
    if errors:
        return _page(errors=errors, values=form, status=400)
    try:
        with unit_of_work() as s:
            user = create_user(
                s,
                form["username"],
                form["full_name"],
                form["unit_code"],
                roles,
                form["password"],
                form["email"],
            )
            s.flush()  # the id goes into the audit event
            audit.record(
                s, actor=actor().username, action="user.create", object_type="user", object_id=str(user.id),
                detail={"username": user.username, "roles": sorted(roles), "unit": form["unit_code"]},
            )  # fmt: skip
    except InputError as exc:
        return _page(errors={"username": exc.detail}, values=form, status=400)
    flash(f"已创建用户 {form['username']}")
    return redirect(url_for("admin.users"))


@bp.get("/users/<id:user_id>")
@roles_required("admin")
def edit(user_id: int) -> ResponseReturnValue:
    user = get_session().get(User, user_id)
    if user is None:
        raise NotFoundError("用户不存在")
    return _page(user)


@bp.post("/users/<id:user_id>")
@roles_required("admin")
def save(user_id: int) -> ResponseReturnValue:
    try:
        with unit_of_work() as s:
            update_user(
                s, user_id, actor=actor().username, roles=request.form.getlist("roles"),
                unit_code=request.form.get("unit_code", ""), full_name=request.form.get("full_name", ""),
                active=request.form.get("active") == "1", email=request.form.get("email", "")[:255],
            )  # fmt: skip
    except InputError as exc:
        flash(exc.detail, "error")
        return redirect(url_for("admin.edit", user_id=user_id))
    flash("已保存")
    return redirect(url_for("admin.users"))


@bp.post("/users/<id:user_id>/password")
@roles_required("admin")
def password(user_id: int) -> ResponseReturnValue:
    try:
        with unit_of_work() as s:
            reset_password(s, user_id, actor=actor().username, password=request.form.get("password", ""))
    except InputError as exc:
        flash(exc.detail, "error")
        return redirect(url_for("admin.edit", user_id=user_id))
    flash("密码已重置，账号锁定已解除")
    return redirect(url_for("admin.users"))


# --- 联席成员单位 (信息抄告 recipients) -------------------------------------------------------------
def _agencies_page(
    edit: MemberAgency | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, object] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    return render_template(
        "admin/agencies.html", rows=infocopy.list_agencies(get_session()), edit=edit,
        types=INSTITUTION_TYPES, channels=infocopy.CHANNELS, errors=errors or {}, values=values or {},
    ), status  # fmt: skip


AGENCY_FIELDS = ("name", "remit", "channel", "destination")  # and the code, when created


def _agency_form(*names: str) -> dict[str, object]:
    """The submitted agency fields, trimmed and bounded: passed to the engine, and shown again
    beside its errors when it refuses them."""
    form: dict[str, object] = {name: request.form.get(name, "").strip()[:300] for name in names}
    form["institution_types"] = [t[:40] for t in request.form.getlist("institution_types")[:20]]
    return form


@bp.get("/agencies")
@roles_required("admin")
def agencies() -> ResponseReturnValue:
    return _agencies_page()


@bp.post("/agencies")
@roles_required("admin")
def create_agency() -> ResponseReturnValue:
    form = _agency_form("code", *AGENCY_FIELDS)
    try:
        with unit_of_work() as s:
            name = infocopy.create_agency(s, actor=actor(), **form).name  # type: ignore[arg-type]
    except FormValidationError as exc:
        return _agencies_page(errors=exc.errors, values=form, status=400)
    flash(f"已添加成员单位「{name}」")
    return redirect(url_for("admin.agencies"))


@bp.get("/agencies/<code>")
@roles_required("admin")
def edit_agency(code: str) -> ResponseReturnValue:
    agency = infocopy.get_agency(get_session(), code)
    return _agencies_page(agency, values=infocopy.agency_values(agency))


@bp.post("/agencies/<code>")
@roles_required("admin")
def save_agency(code: str) -> ResponseReturnValue:
    form = _agency_form(*AGENCY_FIELDS)
    try:
        with unit_of_work() as s:
            name = infocopy.update_agency(s, code, actor=actor(), **form).name  # type: ignore[arg-type]
    except FormValidationError as exc:
        return _agencies_page(infocopy.get_agency(get_session(), code), exc.errors, form, status=400)
    flash(f"已保存成员单位「{name}」")
    return redirect(url_for("admin.agencies"))


@bp.post("/agencies/<code>/active")
@roles_required("admin")
def agency_active(code: str) -> ResponseReturnValue:
    active = request.form.get("active") == "1"
    with unit_of_work() as s:
        name = infocopy.set_agency_active(s, code, active, actor=actor()).name
    flash(f"已{'启用' if active else '停用'}成员单位「{name}」")
    return redirect(url_for("admin.agencies"))
