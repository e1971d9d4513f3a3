"""CSRF protection for every form, and security headers on every response."""

from __future__ import annotations

import hmac
import secrets

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
    app.before_request(_check_csrf)
    app.after_request(_headers)  # type: ignore[arg-type]
    app.jinja_env.globals["csrf_token"] = csrf_token
