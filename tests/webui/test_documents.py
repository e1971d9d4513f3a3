"""文书 in the officer UI: generate from the case's documents page or a task, list, download (audited),
and every refusal: another bureau, no case role, bad input, forged CSRF."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask, render_template_string
from flask_login import login_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import BEIJING, clock
from engine.models import AuditEvent, Case, Document, Task
from tests.processes.driver import Driver
from webui.auth import load_user

CLUE = {
    "clue_source": "report",
    "party_name": "某某大药房",
    "party_type": "institution",
    "clue_summary": "举报该药房串换药品",
}


@pytest.fixture(autouse=True)
def store(app: Flask, tmp_path: Path) -> Path:
    app.config["YBJG_DOCUMENT_DIR"] = str(tmp_path)
    return tmp_path


@pytest.fixture
def case(seeded) -> Driver:  # type: ignore[no-untyped-def]
    clock.set(datetime(2024, 9, 23, 10, tzinfo=BEIJING))
    return Driver.start(seeded, "penalty_case", "officer1", **CLUE)


def _documents(sf: sessionmaker[Session]) -> list[Document]:
    with sf() as s:
        return list(s.scalars(select(Document).order_by(Document.id)))


def _events(sf: sessionmaker[Session], action: str) -> list[AuditEvent]:
    with sf() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_generate_list_and_download(seeded, as_user, case: Driver, store: Path) -> None:  # type: ignore[no-untyped-def]
    case_id = case.case().id
    officer = as_user("officer1")
    page = officer.get(f"/cases/{case_id}/documents").get_data(as_text=True)
    assert "尚未制作文书" in page and '<option value="行政处罚决定书"' in page
    response = officer.post(f"/cases/{case_id}/documents", {"kind": "行政处罚事先告知书", "back": "list"})
    assert response.status_code == 302 and response.location.endswith(f"/cases/{case_id}/documents")
    page = officer.get(response.location).get_data(as_text=True)
    assert "已生成「行政处罚事先告知书」，文号 渝北医保告〔2024〕1号" in page
    [document] = _documents(seeded)
    assert (
        document.created_by == "officer1" and document.sha256[:16] in page and "渝北医保告〔2024〕1号" in page
    )

    response = officer.client.get(f"/documents/{document.id}/download")  # binary: not through the page parser
    data = response.get_data()
    assert response.status_code == 200 and response.mimetype.endswith("wordprocessingml.document")
    assert "attachment" in response.headers["Content-Disposition"]
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]  # the Chinese file name
    assert (
        hashlib.sha256(data).hexdigest()
        == document.sha256
        == hashlib.sha256((store / document.storage_key).read_bytes()).hexdigest()
    )
    [generated] = _events(seeded, "document.generate")
    [downloaded] = _events(seeded, "document.download")
    assert generated.actor == downloaded.actor == "officer1"
    assert downloaded.object_id == str(document.id) and downloaded.case_id == case_id
    assert downloaded.client_addr == "127.0.0.1"


def test_generate_from_the_case_page_returns_there(seeded, as_user, case: Driver) -> None:  # type: ignore[no-untyped-def]
    case_id = case.case().id
    response = as_user("chief").post(f"/cases/{case_id}/documents", {"kind": "结案报告"})
    assert response.status_code == 302 and response.location.endswith(f"/cases/{case_id}")
    assert [d.number for d in _documents(seeded)] == ["渝北医保结〔2024〕1号"]


def test_generate_from_a_task(seeded, as_user, case: Driver) -> None:  # type: ignore[no-untyped-def]
    case.complete("verify_clue", "officer1", verification="属实", suggestion="file")
    task = case.task("decide_filing")
    chief = as_user("chief")
    response = chief.post(f"/cases/{task.case_id}/documents", {"kind": "立案审批表", "task_id": str(task.id)})
    assert response.status_code == 302 and response.location.endswith(f"/tasks/{task.id}")
    [document] = _documents(seeded)
    assert document.task_id == task.id and document.instance_id == task.instance_id
    assert document.number == case.case().number == "渝北医保立〔2024〕1号"
    response = chief.post(f"/cases/{task.case_id}/documents", {"kind": "立案审批表", "task_id": str(task.id)})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "只能制作一次" in html
    assert len(_documents(seeded)) == 1


def test_another_bureau_gets_403_never_the_data(seeded, as_user, case: Driver) -> None:  # type: ignore[no-untyped-def]
    case_id = case.case().id
    as_user("officer1").post(f"/cases/{case_id}/documents", {"kind": "送达回证"})
    [document] = _documents(seeded)
    other = as_user("other")
    for url in (f"/cases/{case_id}/documents", f"/documents/{document.id}/download"):
        response = other.get(url)
        html = response.get_data(as_text=True)
        assert response.status_code == 403 and "没有权限" in html and "某某大药房" not in html
        assert document.number not in html
    response = other.post(f"/cases/{case_id}/documents", {"kind": "送达回证"})
    assert response.status_code == 403
    assert len(_documents(seeded)) == 1 and _events(seeded, "document.download") == []


def test_user_without_a_case_role_cannot_generate(seeded, as_user, case: Driver) -> None:  # type: ignore[no-untyped-def]
    case_id = case.case().id
    as_user("officer1").post(f"/cases/{case_id}/documents", {"kind": "送达回证"})
    for username in ("supervisor", "admin", "modeler"):
        user = as_user(username)
        page = user.get(f"/cases/{case_id}/documents").get_data(as_text=True)
        assert "生成并编号" not in page and "送达回证" in page  # reads, no form
        response = user.post(f"/cases/{case_id}/documents", {"kind": "结案报告"})
        assert response.status_code == 403
    assert len(_documents(seeded)) == 1
    [document] = _documents(seeded)
    assert as_user("supervisor").client.get(f"/documents/{document.id}/download").status_code == 200


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"kind": ""}, "请选择要制作的文书"),
        ({"kind": "整改通知书"}, "没有「整改通知书」的文书模板"),
        ({"kind": "送达回证", "task_id": "abc"}, "任务编号无效"),
        ({"kind": "送达回证", "task_id": "99999999999999999999999"}, "任务编号无效"),
        ({"kind": "送达回证", "task_id": "999999"}, "所选任务不属于本案件"),
    ],
)
def test_bad_input_gets_a_message_next_to_the_form(seeded, as_user, case: Driver, form, message) -> None:  # type: ignore[no-untyped-def]
    response = as_user("officer1").post(f"/cases/{case.case().id}/documents", form)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'<p class="field-error" role="alert">{message}' in html
    assert _documents(seeded) == []


def test_forged_csrf_changes_nothing(seeded, as_user, case: Driver) -> None:  # type: ignore[no-untyped-def]
    officer = as_user("officer1")
    url = f"/cases/{case.case().id}/documents"
    response = officer.post(url, {"kind": "送达回证", "csrf_token": "forged"})
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    assert officer.post(url, {"kind": "送达回证"}, csrf=False).status_code == 400
    assert _documents(seeded) == []
    with seeded() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 0


def test_unknown_ids_are_404_and_sign_in_is_required(browser, as_user) -> None:  # type: ignore[no-untyped-def]
    for url in ("/cases/1/documents", "/documents/1/download"):
        response = browser.get(url)
        assert response.status_code == 302 and "/login" in response.location
    officer = as_user("officer1")
    assert officer.get("/cases/999999/documents").status_code == 404
    assert officer.get("/documents/999999/download").status_code == 404
    assert officer.post("/cases/999999/documents", {"kind": "送达回证"}).status_code == 404


def test_tampered_file_is_not_served(seeded, as_user, case: Driver, store: Path) -> None:  # type: ignore[no-untyped-def]
    officer = as_user("officer1")
    officer.post(f"/cases/{case.case().id}/documents", {"kind": "送达回证"})
    [document] = _documents(seeded)
    (store / document.storage_key).write_bytes(b"changed")
    response = officer.get(f"/documents/{document.id}/download")
    assert response.status_code == 500 and "SHA-256 不符" in response.get_data(as_text=True)
    (store / document.storage_key).unlink()
    response = officer.get(f"/documents/{document.id}/download")
    html = response.get_data(as_text=True)
    assert response.status_code == 500 and "文件缺失" in html and "Traceback" not in html
    assert _events(seeded, "document.download") == []


def _render_as(app: Flask, sf: sessionmaker[Session], username: str, source: str, **context) -> str:  # type: ignore[no-untyped-def]
    with app.test_request_context("/"):
        from engine.models import User

        with sf() as s:
            user_id = s.scalars(select(User.id).where(User.username == username)).one()
        user = load_user(str(user_id))
        assert user is not None
        login_user(user)
        return render_template_string(source, **context)


def test_panels_for_the_case_page_and_the_task_page(app, seeded, as_user, case: Driver) -> None:  # type: ignore[no-untyped-def]
    case.complete("verify_clue", "officer1", verification="属实", suggestion="file")
    task = case.task("decide_filing")
    as_user("chief").post(f"/cases/{task.case_id}/documents", {"kind": "立案审批表"})
    with seeded() as s:
        row = s.get(Case, task.case_id)
        fresh = s.get(Task, task.id)
    html = _render_as(app, seeded, "chief", '{% include "_documents_panel.html" %}', case=row)
    assert (
        "渝北医保立〔2024〕1号" in html and "立案审批表" in html and "生成并编号" in html and "下载" in html
    )
    html = _render_as(
        app, seeded, "chief", '{% include "_task_documents_panel.html" %}', task=fresh, case=row
    )
    assert "本环节文书" in html and "不予立案审批表" in html and "暂无模板" in html
    assert f'name="task_id" value="{task.id}"' in html and "渝北医保立〔2024〕1号" in html
    html = _render_as(
        app, seeded, "supervisor", '{% include "_task_documents_panel.html" %}', task=fresh, case=row
    )
    assert "本环节文书" in html and 'name="task_id"' not in html
    # …and the pages include them.
    chief = as_user("chief")
    assert 'id="documents"' in chief.get(f"/cases/{task.case_id}").get_data(as_text=True)
    page = chief.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="task-documents"' in page and "渝北医保立〔2024〕1号" in page


def test_storage_directories_come_from_the_environment(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from webui.config import Config

    monkeypatch.setenv("YBJG_EVIDENCE_DIR", str(tmp_path / "e"))
    monkeypatch.setenv("YBJG_DOCUMENT_DIR", str(tmp_path / "d"))
    assert (Config().evidence_dir, Config().document_dir) == (tmp_path / "e", tmp_path / "d")
    monkeypatch.delenv("YBJG_EVIDENCE_DIR")
    monkeypatch.delenv("YBJG_DOCUMENT_DIR")
    assert Config().evidence_dir.parts[-2:] == ("instance", "evidence")
    assert Config().document_dir.parts[-2:] == ("instance", "documents")
