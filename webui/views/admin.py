"""系统管理: users, roles, units and passwords (系统管理员 only)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from engine import audit
from engine.errors import InputError, NotFoundError
from engine.models import Unit, User
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
