"""The web app on the test database, and a client that signs in as a demo user."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from webui import create_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(seeded, db_url: str) -> Iterator[Flask]:  # type: ignore[no-untyped-def]
    application = create_app(database_url=db_url, run_scheduler=False, secret_key="test")
    application.config.update(TESTING=True)
    yield application
    application.extensions["ybjg_sessions"].kw["bind"].dispose()


class Browser:
    """A test client that keeps the CSRF token of the last page, as a browser form would."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.token = ""

    def get(self, url: str, **kw: Any):  # type: ignore[no-untyped-def]
        response = self.client.get(url, **kw)
        match = CSRF.search(response.get_data(as_text=True))
        if match:
            self.token = match.group(1)
        return response

    def post(self, url: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kw: Any):  # type: ignore[no-untyped-def]
        payload = dict(data or {})
        if csrf:
            if not self.token:
                self.get("/login")
            payload.setdefault("csrf_token", self.token)
        response = self.client.post(url, data=payload, **kw)
        match = CSRF.search(response.get_data(as_text=True))
        if match:
            self.token = match.group(1)
        return response

    def login(self, username: str, password: str = "demo") -> Browser:
        self.get("/login")
        response = self.post("/login", {"username": username, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        self.get(response.location)  # the session was renewed at sign-in: take the new page's token
        return self


@pytest.fixture
def browser(app: Flask) -> Browser:
    return Browser(app.test_client())


@pytest.fixture
def as_user(app: Flask):  # type: ignore[no-untyped-def]
    def _as(username: str) -> Browser:
        return Browser(app.test_client()).login(username)

    return _as
