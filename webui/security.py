"""CSRF protection for every form, NUL characters refused in any input, and security headers on every
response."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from flask import Flask, abort, request, session
from flask.typing import ResponseReturnValue

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Endpoints whose callers prove themselves otherwise (a signed request from another system).
CSRF_EXEMPT: set[str] = set()


def csrf_token() -> str:
    token = session.get(CSRF_FIELD)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return str(token)


def _check_csrf() -> None:
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return  # API tokens are not sent by browsers on their own: no CSRF risk
    if request.endpoint in CSRF_EXEMPT:
        return
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = session.get(CSRF_FIELD) or ""
    if not expected or not hmac.compare_digest(str(sent), str(expected)):
        abort(400, description="csrf")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _refuse_nul() -> None:
    """No officer types a NUL character, and PostgreSQL text cannot hold one: refuse it in the query,
    the form or a JSON body with a 400, before it reaches a query or a task's data."""
    values: list[Any] = [*request.args.values(), *request.args.keys(), *request.form.values()]
    if request.is_json:
        values.append(request.get_json(silent=True))
    if any(_has_nul(v) for v in values):
        abort(400, description="nul")


def _headers(response: ResponseReturnValue) -> ResponseReturnValue:
    headers = response.headers  # type: ignore[union-attr]
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'",
    )
    return response


def init_app(app: Flask) -> None:
    app.before_request(_refuse_nul)
    app.before_request(_check_csrf)
    app.after_request(_headers)  # type: ignore[arg-type]
    app.jinja_env.globals["csrf_token"] = csrf_token
