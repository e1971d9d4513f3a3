"""The case file (案卷): evidence upload and download, comments, timeline, legal clocks, the process
diagram endpoint and case search — through the Flask test client."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from engine import registry
from engine.clock import BEIJING, clock
from engine.db import unit_of_work
from engine.models import AuditEvent, Comment, Definition, EvidenceFile, ProcessInstance
from tests.processes.driver import Driver

CLUE = {
    "clue_source": "report",
    "party_name": "某某大药房",
    "party_type": "institution",
    "clue_summary": "举报该药房串换药品",
}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + b"\x00" * 200
    + b"This program cannot be run"
)


@pytest.fixture
def store(app: Flask, tmp_path: Path) -> Path:
    root = tmp_path / "evidence"
    app.config["YBJG_EVIDENCE_DIR"] = str(root)
    return root


@pytest.fixture
def case(seeded) -> Driver:  # type: ignore[no-untyped-def]
    clock.set(datetime(2024, 9, 23, 10, tzinfo=BEIJING))
    return Driver.start(seeded, "penalty_case", "officer1", **CLUE)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _evidence_rows(sf) -> list[EvidenceFile]:  # type: ignore[no-untyped-def]
    with sf() as s:
        return list(s.scalars(select(EvidenceFile).order_by(EvidenceFile.id)))


def _events(sf, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with sf() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def _upload(
    browser, case_id: int, data: bytes, name: str, title: str = "询问笔录", kind: str = "书证", **kw: Any
):  # type: ignore[no-untyped-def]
    form = {"file": (io.BytesIO(data), name), "title": title, "kind": kind, **kw}
    return browser.post(f"/cases/{case_id}/evidence", form, content_type="multipart/form-data")


# --- evidence -------------------------------------------------------------------------------------
def test_upload_shows_sha256_and_a_new_upload_is_version_2(
    as_user, case: Driver, store: Path, seeded
) -> None:  # type: ignore[no-untyped-def]
    officer = as_user("officer1")
    case_id = case.case().id
    first, second = PDF, PDF.replace(b"1.4", b"1.7") + b"% revised\n"

    response = _upload(officer, case_id, first, "询问笔录.pdf")
    assert response.status_code == 302, response.get_data(as_text=True)
    page = officer.get(f"/cases/{case_id}").get_data(as_text=True)
    assert hashlib.sha256(first).hexdigest() in page and "询问笔录" in page and "第 1 版" in page

    assert _upload(officer, case_id, second, "询问笔录（补正）.pdf").status_code == 302
    v1, v2 = _evidence_rows(seeded)
    assert (v1.version, v2.version) == (1, 2) and v2.supersedes_id == v1.id
    assert v1.sha256 == hashlib.sha256(first).hexdigest() and v2.sha256 == hashlib.sha256(second).hexdigest()
    assert v1.storage_key != v2.storage_key and v1.size == len(first) and v2.content_type == "application/pdf"
    assert (store / v1.storage_key).read_bytes() == first  # never overwritten
    assert (store / v2.storage_key).read_bytes() == second
    page = officer.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "第 2 版" in page and "历史版本（1）" in page and v1.sha256 in page and v2.sha256 in page

    for row, data in ((v1, first), (v2, second)):
        response = officer.get(f"/cases/{case_id}/evidence/{row.id}")
        assert response.status_code == 200 and response.data == data
        response.close()
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment;") and "filename*=UTF-8''" in disposition
        assert "%E8%AF%A2%E9%97%AE%E7%AC%94%E5%BD%95" in disposition  # 询问笔录, RFC 5987
    downloads = _events(seeded, "evidence.download")
    assert [e.object_id for e in downloads] == [str(v1.id), str(v2.id)]
    assert all(e.actor == "officer1" and e.case_id == case_id for e in downloads)
    assert [e.detail["version"] for e in _events(seeded, "evidence.upload")] == [1, 2]


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (EXE, "笔录.pdf", "文件内容与扩展名不符"),
        (EXE, "setup.exe", "不支持的文件类型"),
        (b"", "空文件.pdf", "文件为空"),
        (b"PK\x03\x04not really a zip", "清单.docx", "文件内容与扩展名不符"),
    ],
)
def test_wrong_or_empty_file_is_refused_and_nothing_is_stored(
    as_user, case: Driver, store: Path, seeded, data: bytes, name: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    officer = as_user("officer1")
    response = _upload(officer, case.case().id, data, name, title="现场照片", kind="物证")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and message in html
    assert 'value="现场照片"' in html and '<option value="物证" selected>' in html  # the input is kept
    assert _evidence_rows(seeded) == [] and _files(store) == []
    assert _events(seeded, "evidence.upload") == []


def test_evidence_over_the_configured_limit_is_refused(
    app: Flask, as_user, case: Driver, store: Path, seeded
) -> None:  # type: ignore[no-untyped-def]
    app.config["YBJG_EVIDENCE_MAX_BYTES"] = 1000
    officer = as_user("officer1")
    response = _upload(officer, case.case().id, PDF + b"0" * 2000, "大文件.pdf")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "文件超过大小上限 1000 字节" in html
    assert _evidence_rows(seeded) == [] and _files(store) == []


def test_request_over_max_content_length_gets_a_chinese_page(
    app: Flask, as_user, case: Driver, store: Path, seeded
) -> None:  # type: ignore[no-untyped-def]
    officer = as_user("officer1")
    officer.get(f"/cases/{case.case().id}")
    app.config["MAX_CONTENT_LENGTH"] = 4096
    response = _upload(officer, case.case().id, PDF + b"0" * 10_000, "大文件.pdf")
    html = response.get_data(as_text=True)
    assert response.status_code == 413 and "文件过大" in html and "4 KB" in html
    assert "某某大药房" in html  # the case page, with the message next to the file field
    assert _evidence_rows(seeded) == [] and _files(store) == []


def test_forged_csrf_on_upload_stores_nothing(as_user, case: Driver, store: Path, seeded) -> None:  # type: ignore[no-untyped-def]
    officer = as_user("officer1")
    response = _upload(officer, case.case().id, PDF, "笔录.pdf", csrf_token="forged")
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    form = {"file": (io.BytesIO(PDF), "笔录.pdf"), "title": "x", "kind": "书证"}
    response = officer.post(
        f"/cases/{case.case().id}/evidence", form, csrf=False, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert _evidence_rows(seeded) == [] and _files(store) == []


def test_bad_kind_keeps_the_input(as_user, case: Driver, store: Path, seeded) -> None:  # type: ignore[no-untyped-def]
    response = _upload(as_user("officer1"), case.case().id, PDF, "笔录.pdf", title="询问笔录", kind="随便")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "请选择证据类型" in html and 'value="询问笔录"' in html
    assert _evidence_rows(seeded) == [] and _files(store) == []


def test_roles_without_case_work_cannot_upload(as_user, case: Driver, store: Path, seeded) -> None:  # type: ignore[no-untyped-def]
    response = _upload(as_user("supervisor"), case.case().id, PDF, "笔录.pdf")
    assert response.status_code == 403
    assert _evidence_rows(seeded) == [] and _files(store) == []


# --- other bureaus --------------------------------------------------------------------------------
def test_other_bureau_gets_403_everywhere(as_user, case: Driver, store: Path, seeded) -> None:  # type: ignore[no-untyped-def]
    case_id = case.case().id
    assert _upload(as_user("officer1"), case_id, PDF, "笔录.pdf").status_code == 302
    (row,) = _evidence_rows(seeded)
    other = as_user("other")
    for url in (
        f"/cases/{case_id}",
        f"/cases/{case_id}/diagram/{case.id}.json",
        f"/cases/{case_id}/diagram/{case.id}.bpmn",
        f"/cases/{case_id}/evidence/{row.id}",
    ):
        response = other.get(url)
        assert response.status_code == 403, url
        assert "某某大药房" not in response.get_data(as_text=True) and PDF not in response.data
    assert _upload(other, case_id, PDF, "b.pdf").status_code == 403
    assert other.post(f"/cases/{case_id}/comments", {"body": "越权"}).status_code == 403
    assert len(_evidence_rows(seeded)) == 1 and _events(seeded, "evidence.download") == []
    with seeded() as s:
        assert s.scalars(select(Comment)).all() == []


def test_evidence_of_another_case_is_not_served_under_this_one(
    as_user, case: Driver, store: Path, seeded
) -> None:  # type: ignore[no-untyped-def]
    other_case = Driver.start(seeded, "penalty_case", "officer2", **{**CLUE, "party_name": "另一家诊所"})
    officer = as_user("officer1")
    assert _upload(officer, case.case().id, PDF, "笔录.pdf").status_code == 302
    (row,) = _evidence_rows(seeded)
    assert officer.get(f"/cases/{other_case.case().id}/evidence/{row.id}").status_code == 404
    assert _events(seeded, "evidence.download") == []


# --- comments, timeline, clocks -------------------------------------------------------------------
def test_comments_newest_first_and_audited(as_user, case: Driver, seeded) -> None:  # type: ignore[no-untyped-def]
    case_id = case.case().id
    officer, chief = as_user("officer1"), as_user("chief")
    assert officer.post(f"/cases/{case_id}/comments", {"body": "建议调取近三月处方"}).status_code == 302
    clock.advance(timedelta(minutes=5))
    assert chief.post(f"/cases/{case_id}/comments", {"body": "同意，抓紧办理"}).status_code == 302
    html = officer.get(f"/cases/{case_id}").get_data(as_text=True)
    assert html.index("同意，抓紧办理") < html.index("建议调取近三月处方")
    assert "赵科长" in html and "张办案" in html
    assert [e.actor for e in _events(seeded, "comment.add")] == ["officer1", "chief"]

    response = officer.post(f"/cases/{case_id}/comments", {"body": "   "})
    assert response.status_code == 400 and "请填写意见内容" in response.get_data(as_text=True)
    response = officer.post(f"/cases/{case_id}/comments", {"body": "长" * 2001})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "意见内容过长" in html and "长" * 2001 in html
    assert len(_events(seeded, "comment.add")) == 2


def test_timeline_and_clocks(as_user, case: Driver, store: Path) -> None:  # type: ignore[no-untyped-def]
    clock.advance(timedelta(hours=1))
    case.complete("verify_clue", "officer1", verification="现场核查属实", suggestion="file")
    clock.advance(timedelta(hours=1))
    officer = as_user("officer1")
    assert _upload(officer, case.case().id, PDF, "询问笔录.pdf").status_code == 302
    html = officer.get(f"/cases/{case.case().id}").get_data(as_text=True)
    timeline = html[html.index('id="timeline"') : html.index('id="audit"')]
    wanted = "启动流程|任务到达|办理完成|期限开始计时|上传证据|登记案件"
    labels = re.findall(rf'<td class="nowrap">({wanted})</td>', timeline)
    assert labels == ["登记案件", "启动流程", "期限开始计时", "任务到达", "办理完成", "任务到达", "上传证据"]
    assert "核查线索" in timeline and "立案审批" in timeline and "张办案" in timeline
    assert "2024-09-23 11:00:00" in timeline
    clocks = html[html.index('id="clocks"') : html.index('id="evidence"')]
    assert "核查立案" in clocks and "15 个工作日" in clocks and re.search(r"剩余 \d+ 个工作日", clocks)
    clock.set(datetime(2024, 11, 1, 10, tzinfo=BEIJING))
    html = officer.get(f"/cases/{case.case().id}").get_data(as_text=True)
    assert re.search(r"已逾期 \d+ 个工作日", html[html.index('id="clocks"') : html.index('id="evidence"')])


# --- diagram --------------------------------------------------------------------------------------
def test_diagram_is_the_pinned_version_with_states(as_user, case: Driver, seeded, repo_root: Path) -> None:  # type: ignore[no-untyped-def]
    case.complete("verify_clue", "officer1", verification="现场核查属实", suggestion="file")
    with seeded() as s:
        pinned = s.get(Definition, s.get(ProcessInstance, case.id).definition_id)
        assert pinned is not None
        pinned_xml, pinned_version = pinned.xml, pinned.version
    # A newer version deployed meanwhile must not change what this case shows.
    changed = (repo_root / "bpmn" / "penalty_case.bpmn").read_text(encoding="utf-8")
    changed = changed.replace('name="核查线索"', 'name="核查线索（新版）"', 1)
    with unit_of_work(seeded) as s:
        (new,) = registry.deploy(s, [registry.Upload("penalty_case.bpmn", changed.encode())], actor="modeler")
        assert new.version == pinned_version + 1

    officer = as_user("officer1")
    case_id = case.case().id
    response = officer.get(f"/cases/{case_id}/diagram/{case.id}.bpmn")
    assert response.status_code == 200 and response.get_data(as_text=True) == pinned_xml
    assert "核查线索（新版）" not in response.get_data(as_text=True)

    data = officer.get(f"/cases/{case_id}/diagram/{case.id}.json").get_json()
    assert data["xml"] == pinned_xml and data["version"] == pinned_version and data["key"] == "penalty_case"
    states = data["states"]
    assert states["clue_registered"] == "done" and states["verify_clue"] == "done"
    assert states["decide_filing"] == "current"
    assert "verify_clue_overdue_timer" not in states  # armed boundary timers are not "current"
    assert data["flows"]  # the sequence flows taken
    assert data["names"]["decide_filing"] == "立案审批"
    assert data["has_layout"] == ("BPMNShape" in pinned_xml)

    clock.set(datetime(2024, 11, 1, 10, tzinfo=BEIJING))  # past 立案审批's due date
    data = officer.get(f"/cases/{case_id}/diagram/{case.id}.json").get_json()
    assert data["states"]["decide_filing"] == "overdue" and data["states"]["verify_clue"] == "done"

    other_case = Driver.start(seeded, "penalty_case", "officer2", **CLUE)
    assert officer.get(f"/cases/{case_id}/diagram/{other_case.id}.json").status_code == 404


def test_case_page_loads_the_viewer_without_inline_script(as_user, case: Driver) -> None:  # type: ignore[no-untyped-def]
    officer = as_user("officer1")
    response = officer.get(f"/cases/{case.case().id}")
    html = response.get_data(as_text=True)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    assert f'data-diagram-url="/cases/{case.case().id}/diagram/{case.id}.json"' in html
    bundle = re.search(r'<script src="([^"]*bpmn-navigated-viewer[^"]*)"', html)  # pan and zoom
    assert bundle is not None
    for url in (bundle.group(1), "/static/case_diagram.js"):
        response = officer.get(url)
        assert response.status_code == 200, url
        response.close()
    assert officer.get("/cases/assets/bpmn-js/../package.json").status_code == 404
    assert officer.get("/cases/assets/bpmn-js/bpmn-modeler.development.js").status_code == 404


# --- search ---------------------------------------------------------------------------------------
def test_search_filters_and_stays_in_the_bureau(as_user, case: Driver, seeded) -> None:  # type: ignore[no-untyped-def]
    case.complete("verify_clue", "officer1", verification="属实", suggestion="file")
    clock.set(datetime(2024, 10, 15, 10, tzinfo=BEIJING))
    second = Driver.start(seeded, "penalty_case", "officer2", **{**CLUE, "party_name": "康宁诊所"})
    theirs = Driver.start(seeded, "penalty_case", "other", **{**CLUE, "party_name": "江北某药房"})
    ours_id, second_id, theirs_id = case.case().id, second.case().id, theirs.case().id

    def found(browser, **params: str) -> set[int]:  # type: ignore[no-untyped-def]
        response = browser.get("/cases/search", query_string=params)
        assert response.status_code == 200, response.get_data(as_text=True)
        return {int(i) for i in re.findall(r'href="/cases/(\d+)"', response.get_data(as_text=True))}

    officer = as_user("officer3")
    assert found(officer) == {ours_id, second_id}
    assert found(officer, party="康宁") == {second_id}
    assert found(officer, party="药房") == {ours_id}  # 江北某药房 is another bureau's
    assert found(officer, officer="张办案") == {ours_id}  # officer1 completed 核查线索
    assert found(officer, officer="officer1") == {ours_id}
    assert found(officer, opened_from="2024-10-01") == {second_id}
    assert found(officer, opened_to="2024-09-30") == {ours_id}
    assert found(officer, opened_from="2024-09-23", opened_to="2024-09-23") == {ours_id}
    assert found(officer, status="clue") == {ours_id, second_id}
    assert found(officer, status="closed") == set()
    assert found(officer, party="%") == set()  # LIKE wildcards are literal
    assert found(as_user("other")) == {theirs_id}

    with unit_of_work(seeded) as s:
        from engine.models import Case

        row = s.get(Case, second_id)
        assert row is not None
        row.violation_types = ["串换药品", "虚假就医"]
        row.number = "渝北医保立〔2024〕7号"
    assert found(officer, violation="虚假") == {second_id}
    assert found(officer, number="〔2024〕7") == {second_id}

    response = officer.get("/cases/search", query_string={"opened_from": "2024-13-01", "party": "康宁"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "日期格式应为" in html and 'value="康宁"' in html


def test_search_pages(as_user, seeded) -> None:  # type: ignore[no-untyped-def]
    clock.set(datetime(2024, 9, 23, 10, tzinfo=BEIJING))
    for i in range(22):
        Driver.start(seeded, "penalty_case", "officer1", **{**CLUE, "party_name": f"药房{i:02d}"})
    officer = as_user("officer1")
    first = officer.get("/cases/search").get_data(as_text=True)
    assert "第 1 / 2 页，共 22 条" in first
    second = officer.get("/cases/search?page=2").get_data(as_text=True)
    assert len(re.findall(r'href="/cases/\d+"', second)) == 2
    assert "案件查询" in first  # the link in the top navigation
