"""Sign-in with flask-login: hashed passwords, lock-out after repeated failures, session timeout,
and the role checks every view uses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from sqlalchemy import select

from engine import audit
from engine.clock import utcnow
from engine.models import User
from engine.roles import role_name
from engine.users import Actor, bureau_of, check_password
from webui.db import get_session, unit_of_work

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "请先登录"

MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)
F = TypeVar("F", bound=Callable[..., Any])


class SignedInUser(UserMixin):
    """The signed-in officer as the web layer sees them."""

    def __init__(self, user: User, bureau: str) -> None:
        self.id = user.id
        self.username = user.username
        self.full_name = user.full_name
        self.unit_code = user.unit_code
        self.bureau = bureau
        self.roles = frozenset(user.role_codes)

    def get_id(self) -> str:
        return str(self.id)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    @property
    def role_names(self) -> list[str]:
        return [role_name(r) for r in sorted(self.roles)]

    def actor(self) -> Actor:
        return Actor(self.username, self.roles, self.bureau, request.remote_addr)


@login_manager.user_loader
def load_user(user_id: str) -> SignedInUser | None:
    if not user_id.isdigit():
        return None
    s = get_session()
    user = s.get(User, int(user_id))
    if user is None or not user.is_active:
        return None
    return SignedInUser(user, bureau_of(s, user.unit_code))


def actor() -> Actor:
    """The current user as an engine Actor (with the client address)."""
    user: SignedInUser = current_user  # type: ignore[assignment]
    return user.actor()


def roles_required(*roles: str) -> Callable[[F], F]:
    """Only users with one of `roles` may call the view (403 with a Chinese page otherwise)."""

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("login.html")
    username = request.form.get("username", "").strip()[:64]
    password = request.form.get("password", "")[:256]
    with unit_of_work() as s:
        user = s.scalars(select(User).where(User.username == username)).first()
        now = utcnow()
        if user is not None and user.locked_until is not None and user.locked_until > now:
            minutes = int((user.locked_until - now).total_seconds() // 60) + 1
            return render_template(
                "login.html", error=f"登录失败次数过多，账号已锁定，请 {minutes} 分钟后再试"
            ), 429
        if user is None or not user.is_active or not check_password(user.password_hash, password):
            if user is not None:
                user.failed_logins += 1
                if user.failed_logins >= MAX_FAILURES:
                    user.locked_until = now + LOCK_FOR
                    user.failed_logins = 0
                audit.record(
                    s, actor=username, client_addr=request.remote_addr, action="auth.failed",
                    object_type="user", object_id=str(user.id),
                )  # fmt: skip
            return render_template("login.html", error="用户名或密码错误", username=username), 401
        user.failed_logins = 0
        user.locked_until = None
        audit.record(
            s, actor=username, client_addr=request.remote_addr, action="auth.login",
            object_type="user", object_id=str(user.id),
        )  # fmt: skip
        signed_in = SignedInUser(user, bureau_of(s, user.unit_code))
    session.clear()
    session.permanent = True
    login_user(signed_in)
    target = request.args.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("inbox.index")
    return redirect(target)


@bp.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    logout_user()
    session.clear()
    flash("已退出登录")
    return redirect(url_for("auth.login"))
