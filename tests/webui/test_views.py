"""The officer UI through the Flask test client: sign-in, CSRF, inbox, forms, permissions."""

from __future__ import annotations

from datetime import datetime

import pytest

from engine.clock import BEIJING, clock
from tests.processes.driver import Driver

CLUE = {
    "clue_source": "report",
    "party_name": "某某大药房",
    "party_type": "institution",
    "clue_summary": "举报该药房串换药品",
}


@pytest.fixture
def case(seeded) -> Driver:  # type: ignore[no-untyped-def]
    clock.set(datetime(2024, 9, 23, 10, tzinfo=BEIJING))
    return Driver.start(seeded, "penalty_case", "officer1", **CLUE)


def test_pages_need_sign_in(browser) -> None:  # type: ignore[no-untyped-def]
    for url in ("/", "/done", "/tasks/1", "/cases/1"):
        response = browser.get(url)
        assert response.status_code == 302 and "/login" in response.location


def test_wrong_password_then_lockout(browser) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5):
        response = browser.post("/login", {"username": "officer1", "password": "nope"})
        assert response.status_code == 401 and "用户名或密码错误" in response.get_data(as_text=True)
    response = browser.post("/login", {"username": "officer1", "password": "demo"})
    assert response.status_code == 429 and "已锁定" in response.get_data(as_text=True)


def test_forged_csrf_is_refused(browser) -> None:  # type: ignore[no-untyped-def]
    browser.get("/login")
    response = browser.post("/login", {"username": "officer1", "password": "demo", "csrf_token": "forged"})
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    response = browser.post("/login", {"username": "officer1", "password": "demo"}, csrf=False)
    assert response.status_code == 400


def test_inbox_shows_the_groups_task_with_its_deadline(as_user, case: Driver) -> None:  # type: ignore[no-untyped-def]
    page = as_user("officer2").get("/").get_data(as_text=True)
    assert "核查线索" in page and "某某大药房" in page and "2024-10-17" in page
    assert "剩余" in page or "已逾期" in page
    assert "核查线索" not in as_user("chief").get("/").get_data(as_text=True)


def test_form_error_keeps_input_then_completes(as_user, case: Driver) -> None:  # type: ignore[no-untyped-def]
    officer = as_user("officer1")
    task = case.task("verify_clue")
    officer.post(f"/tasks/{task.id}/claim")
    page = officer.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'name="verification"' in page
    response = officer.post(f"/tasks/{task.id}/complete", {"verification": "现场核查属实", "suggestion": ""})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "请填写「核查意见」" in html and "现场核查属实" in html
    response = officer.post(
        f"/tasks/{task.id}/complete", {"verification": "现场核查属实", "suggestion": "file"}
    )
    assert response.status_code == 302
    assert case.open_ids() == ["decide_filing"]
    assert "立案审批" in as_user("chief").get("/").get_data(as_text=True)


def test_completed_meanwhile_keeps_the_input(as_user, case: Driver) -> None:  # type: ignore[no-untyped-def]
    task = case.task("verify_clue")
    first, second = as_user("officer1"), as_user("officer2")
    second.get(f"/tasks/{task.id}")
    first.post(f"/tasks/{task.id}/complete", {"verification": "甲核查", "suggestion": "file"})
    response = second.post(
        f"/tasks/{task.id}/complete", {"verification": "乙的核查记录", "suggestion": "no_file"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 409 and "该任务已被他人处理，请刷新" in html and "乙的核查记录" in html


def test_other_bureau_gets_403_never_the_data(as_user, case: Driver) -> None:  # type: ignore[no-untyped-def]
    task = case.task("verify_clue")
    case_id = case.case().id
    other = as_user("other")
    for url in (f"/cases/{case_id}", f"/tasks/{task.id}"):
        response = other.get(url)
        html = response.get_data(as_text=True)
        assert response.status_code == 403 and "没有权限" in html and "某某大药房" not in html
    response = other.post(f"/tasks/{task.id}/complete", {"verification": "x", "suggestion": "file"})
    assert response.status_code == 403
    assert case.open_ids() == ["verify_clue"]


def test_case_page_shows_record_clock_and_audit(as_user, case: Driver) -> None:  # type: ignore[no-untyped-def]
    html = as_user("officer1").get(f"/cases/{case.case().id}").get_data(as_text=True)
    assert "某某大药房" in html and "核查立案" in html and "instance.start" in html


def test_draft_is_kept(as_user, case: Driver) -> None:  # type: ignore[no-untyped-def]
    task = case.task("verify_clue")
    officer = as_user("officer1")
    officer.post(f"/tasks/{task.id}/draft", {"verification": "写了一半"})
    assert "写了一半" in officer.get(f"/tasks/{task.id}").get_data(as_text=True)


def test_nul_characters_are_refused_before_any_query(as_user, case: Driver) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL text cannot hold NUL: it is a clear 400 on both databases, never a 500."""
    officer = as_user("officer1")
    response = officer.get("/?party=%00")
    assert response.status_code == 400 and "NUL" in response.get_data(as_text=True)
    task = case.task("verify_clue")
    response = officer.post(f"/tasks/{task.id}/complete", {"verification": "a\x00b", "suggestion": "file"})
    assert response.status_code == 400 and case.open_ids() == ["verify_clue"]
    response = officer.client.post(
        f"/api/tasks/{task.id}/complete",
        json={"data": {"verification": "\x00"}},
        headers={"X-CSRF-Token": officer.token},
    )
    assert response.status_code == 400 and "NUL" in response.json["error"]
