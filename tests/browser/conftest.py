"""Real-browser tests: the app served on a free localhost port from a thread, driven by Playwright
for Python with Debian's Chromium. Without Chromium they skip — unless CI is set, then they fail."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from webui import create_app

CHROMIUM = os.environ.get("YBJG_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in item.nodeid:
            item.add_marker(pytest.mark.browser)


def _require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(
                f"Chromium not found at {CHROMIUM}: browser tests must run under CI (make test installs it)"
            )
        pytest.skip("Chromium not installed (make test installs it); browser tests skipped outside CI")


@pytest.fixture
def live_server(seeded, db_url: str) -> Iterator[str]:  # type: ignore[no-untyped-def]
    app = create_app(database_url=db_url, run_scheduler=False, secret_key="browser-test")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=10)
    app.extensions["ybjg_sessions"].kw["bind"].dispose()


@pytest.fixture(scope="session")
def browser_instance() -> Iterator[object]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser_instance, live_server: str):  # type: ignore[no-untyped-def]
    """Open a fresh browser context (its own cookies) at 1366×768 for one signed-in user."""
    contexts = []

    def _open(username: str | None = None, password: str = "demo"):  # type: ignore[no-untyped-def]
        context = browser_instance.new_context(
            viewport={"width": 1366, "height": 768}, locale="zh-CN", accept_downloads=True
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(live_server + "/login")
        if username:
            page.get_by_label("用户名").fill(username)
            page.get_by_label("密码").fill(password)
            page.get_by_role("button", name="登录").click()
            page.wait_for_url(live_server + "/")
        return page

    yield _open
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    """Save a full-page screenshot under docs/screenshots/ (shown in the README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
