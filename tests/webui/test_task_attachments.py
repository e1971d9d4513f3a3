"""Attachment fields of a task form: the file is stored as evidence of the case (linked to the task,
a new version each time) and the field records it; a refused file is an error next to the field and
nothing is stored or completed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from engine.clock import clock
from engine.models import EvidenceFile
from tests.processes.driver import Driver
from tests.processes.test_penalty_case import START, filed, investigate, propose, review

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
def at_notice(seeded, app: Flask, tmp_path: Path) -> Driver:  # type: ignore[no-untyped-def]
    app.config["YBJG_EVIDENCE_DIR"] = str(tmp_path)
    clock.set(START)
    d = filed(seeded)
    investigate(d)
    review(d)
    propose(d, "40000", "12000")
    return d


def _evidence(sf) -> list[EvidenceFile]:  # type: ignore[no-untyped-def]
    with sf() as s:
        return list(s.scalars(select(EvidenceFile)))


def test_attachment_is_stored_as_evidence_of_the_task(
    seeded, as_user, at_notice: Driver, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    task = at_notice.task("serve_notice")
    officer = as_user("officer1")
    page = officer.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert (
        'enctype="multipart/form-data"' in page
        and 'type="file" id="notice_receipt" name="notice_receipt"' in page
    )
    response = officer.post(
        f"/tasks/{task.id}/complete",
        {"notice_service_method": "direct", "notice_receipt": (io.BytesIO(PDF), "送达回证.pdf")},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    [row] = _evidence(seeded)
    assert (row.title, row.kind, row.task_id, row.version, row.file_name) == (
        "送达回证",
        "书证",
        task.id,
        1,
        "送达回证.pdf",
    )
    assert (tmp_path / row.storage_key).read_bytes() == PDF
    done = officer.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "送达回证.pdf（第 1 版，SHA-256 " + row.sha256[:16] in done
    assert at_notice.open_ids() == ["record_party_response"]


def test_refused_file_is_an_error_next_to_the_field(
    seeded, as_user, at_notice: Driver, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    task = at_notice.task("serve_notice")
    officer = as_user("officer1")
    officer.get(f"/tasks/{task.id}")
    response = officer.post(
        f"/tasks/{task.id}/complete",
        {
            "notice_service_method": "mail",
            "notice_note": "邮寄",
            "notice_receipt": (io.BytesIO(b"MZ\x90\x00"), "回证.pdf"),
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and 'id="notice_receipt-err"' in html and "请重新选择文件" in html
    assert 'value="mail" selected' in html and "邮寄" in html  # the rest of the input is kept
    assert _evidence(seeded) == [] and [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert at_notice.open_ids() == ["serve_notice"]
