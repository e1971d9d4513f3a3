"""Users, roles and units as the engine needs them: who acts, and may they work a task."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit, deadlines
from engine.errors import InputError, NotFoundError
from engine.models import ApiToken, Task, Unit, User, UserRole
from engine.roles import ROLE_NAMES

EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}", re.ASCII)


@dataclass(frozen=True)
class Actor:
    """Who performs an engine command, from where. `bureau` is the top unit (区局) they belong to."""

    username: str
    roles: frozenset[str] = field(default_factory=frozenset)
    bureau: str | None = None
    client_addr: str | None = None


SYSTEM = Actor("system", frozenset(ROLE_NAMES))


def bureau_of(session: Session, unit_code: str) -> str:
    """The top-level unit above `unit_code` (itself when it has no parent)."""
    code = unit_code
    for _ in range(10):
        unit = session.get(Unit, code)
        if unit is None or unit.parent_code is None:
            return code
        code = unit.parent_code
    return code


def actor_for(session: Session, username: str, client_addr: str | None = None) -> Actor:
    """The Actor of an active user; raises NotFoundError."""
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None or not user.is_active:
        raise NotFoundError(f"用户「{username}」不存在或已停用")
    return Actor(user.username, frozenset(user.role_codes), bureau_of(session, user.unit_code), client_addr)


def can_work(actor: Actor, task: Task) -> bool:
    """May `actor` claim or complete `task`: same bureau, and assignee, candidate user or group."""
    if actor.username == SYSTEM.username:
        return True
    if task.unit_code and actor.bureau and task.unit_code != actor.bureau:
        return False
    if task.assignee:
        return task.assignee == actor.username
    if actor.username in (task.candidate_users or []):
        return True
    return bool(actor.roles & set(task.candidate_groups or []))


def hash_password(password: str) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=2**14, r=8, p=1)
    return f"scrypt${salt}${digest.hex()}"


def check_password(stored: str, password: str) -> bool:
    try:
        scheme, salt, hexdigest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=2**14, r=8, p=1)
    return hmac.compare_digest(digest.hex(), hexdigest)


def ensure_unit(
    session: Session, code: str, name: str, parent: str | None = None, doc_prefix: str = ""
) -> Unit:
    unit = session.get(Unit, code)
    if unit is None:
        unit = Unit(code=code, name=name, parent_code=parent, doc_prefix=doc_prefix)
        session.add(unit)
        session.flush()  # children reference it in the same transaction
    return unit


def create_user(
    session: Session,
    username: str,
    full_name: str,
    unit_code: str,
    roles: Iterable[str],
    password: str,
    email: str | None = None,
) -> User:
    """Create a user; raises InputError on an unknown role or unit, or a taken username."""
    roles = sorted(set(roles))
    unknown = [r for r in roles if r not in ROLE_NAMES]
    if unknown:
        raise InputError(f"未知角色：{'、'.join(unknown)}")
    if session.get(Unit, unit_code) is None:
        raise InputError(f"未知单位：{unit_code}")
    if session.scalars(select(User).where(User.username == username)).first() is not None:
        raise InputError(f"用户名「{username}」已存在")
    email = check_email(email or "") or None
    user = User(
        username=username,
        full_name=full_name,
        unit_code=unit_code,
        password_hash=hash_password(password),
        email=email,
        roles=[UserRole(role=r) for r in roles],
    )
    session.add(user)
    return user


def check_email(email: str) -> str:
    """The address trimmed ("" for none); raises InputError when it cannot be an email address."""
    email = email.strip()
    if email and not EMAIL.fullmatch(email):
        raise InputError(f"邮箱地址「{email[:80]}」格式不正确")
    return email


def token_digest(token: str) -> str:
    """What is stored of an API token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(session: Session, username: str, name: str = "api") -> str:
    """A new bearer token for `username`; returns the token, shown once (only its digest is kept)."""
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None or not user.is_active:
        raise NotFoundError(f"用户「{username}」不存在或已停用")
    token = "ybjg_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name[:64], token_sha256=token_digest(token)))
    return token


def update_user(
    session: Session,
    user_id: int,
    *,
    actor: str,
    roles: Iterable[str],
    unit_code: str,
    full_name: str,
    active: bool,
    email: str | None = None,
) -> User:
    """Change a user's roles, unit, name, email (None: unchanged) and whether they may sign in;
    audited. Raises InputError."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError("用户不存在")
    wanted = sorted(set(roles))
    unknown = [r for r in wanted if r not in ROLE_NAMES]
    if unknown:
        raise InputError(f"未知角色：{'、'.join(unknown)}")
    if session.get(Unit, unit_code) is None:
        raise InputError(f"未知单位：{unit_code}")
    if not full_name.strip():
        raise InputError("请填写姓名")
    if email is not None:
        email = check_email(email)
    before = {
        "roles": sorted(user.role_codes),
        "unit": user.unit_code,
        "active": user.is_active,
        "name": user.full_name,
        "email": user.email,
    }
    user.roles = [UserRole(role=r) for r in wanted]
    user.unit_code = unit_code
    user.full_name = full_name.strip()[:64]
    user.is_active = active
    if email is not None:
        user.email = email or None
    after = {
        "roles": wanted,
        "unit": unit_code,
        "active": active,
        "name": user.full_name,
        "email": user.email,
    }
    audit.record(
        session, actor=actor, action="user.update", object_type="user", object_id=str(user.id), detail=after,
        before=before, after=after,
    )  # fmt: skip
    if before["unit"] != unit_code:  # the board shows each item under its officer's 科室
        deadlines.refresh(session, officers=[user.username])
    return user


def reset_password(session: Session, user_id: int, *, actor: str, password: str) -> None:
    """Set a new password and lift any lock-out; audited (the password itself never is)."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError("用户不存在")
    if len(password) < 8:
        raise InputError("新密码至少 8 位")
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    audit.record(
        session, actor=actor, action="user.reset_password", object_type="user", object_id=str(user.id)
    )
