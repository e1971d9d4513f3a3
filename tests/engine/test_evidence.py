"""Evidence files in the engine: content sniffing per type, streaming SHA-256, versions, and the
unit-of-work guarantee (no row without bytes, no bytes left behind by a rolled-back transaction)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine import evidence
from engine.clock import BEIJING, clock
from engine.db import unit_of_work
from engine.errors import FormValidationError, NotFoundError
from engine.models import AuditEvent, EvidenceFile
from engine.users import actor_for
from tests.processes.driver import Driver

CLUE = {
    "clue_source": "report",
    "party_name": "某某大药房",
    "party_type": "institution",
    "clue_summary": "串换药品",
}


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


DOCX = _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
XLSX = _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"})
GOOD = {
    "pdf": b"%PDF-1.7\n%%EOF\n",
    "jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20,
    "jpeg": b"\xff\xd8\xff\xdb" + b"\x00" * 20,
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 20,
    "docx": DOCX,
    "xlsx": XLSX,
    "doc": evidence.OLE_MAGIC + b"\x00" * 100,
    "xls": evidence.OLE_MAGIC + b"\x00" * 100,
    "txt": "询问笔录\r\n第一页\t完\n".encode(),
    "csv": "姓名,金额\n张三,100.00\n".encode("gb18030"),
    "mp4": b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 20,
    "mp3": b"ID3\x04\x00" + b"\x00" * 20,
    "wav": b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 20,
    "zip": _zip({"a.txt": b"x"}),
}
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 100


@pytest.mark.parametrize("ext", sorted(GOOD))
def test_each_allowed_type_is_accepted(tmp_path: Path, ext: str) -> None:
    store = evidence.EvidenceStore(tmp_path)
    blob = store.save(io.BytesIO(GOOD[ext]), extension=ext, max_bytes=10_000)
    assert blob.sha256 == hashlib.sha256(GOOD[ext]).hexdigest() and blob.size == len(GOOD[ext])
    assert blob.path.read_bytes() == GOOD[ext]


@pytest.mark.parametrize(
    ("ext", "data"),
    [
        ("pdf", EXE),
        ("jpg", GOOD["png"]),
        ("png", GOOD["pdf"]),
        ("docx", XLSX),  # a spreadsheet named .docx
        ("xlsx", GOOD["zip"]),
        ("docx", b"PK\x03\x04broken"),
        ("doc", GOOD["docx"]),
        ("txt", EXE),
        ("csv", b"a,b\n\x00\x01\x02"),
        ("mp4", EXE),
        ("mp3", GOOD["wav"]),
        ("wav", GOOD["mp3"]),
        ("zip", EXE),
    ],
)
def test_content_that_does_not_match_the_extension_is_refused(tmp_path: Path, ext: str, data: bytes) -> None:
    store = evidence.EvidenceStore(tmp_path)
    with pytest.raises(evidence.EvidenceRejectedError, match="文件内容与扩展名不符"):
        store.save(io.BytesIO(data), extension=ext, max_bytes=10_000)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_size_limit_and_empty_files(tmp_path: Path) -> None:
    store = evidence.EvidenceStore(tmp_path)
    with pytest.raises(evidence.EvidenceRejectedError, match="超过大小上限"):
        store.save(io.BytesIO(b"%PDF-" + b"0" * 2000), extension="pdf", max_bytes=1024)
    with pytest.raises(evidence.EvidenceRejectedError, match="文件为空"):
        store.save(io.BytesIO(b""), extension="pdf", max_bytes=1024)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("name", ["setup.exe", "noext", "archive.tar.gz", "..", ""])
def test_extensions_outside_the_list_are_refused(name: str) -> None:
    with pytest.raises(evidence.EvidenceRejectedError):
        evidence.extension_of(name)


def test_file_names_lose_directories_and_control_characters() -> None:
    assert evidence.safe_file_name("C:\\Users\\张三\\询问笔录.pdf") == "询问笔录.pdf"
    assert evidence.safe_file_name("../../etc/passwd\x00.pdf") == "passwd.pdf"
    assert evidence.extension_of("照片.JPG") == "jpg"


def test_store_refuses_keys_outside_its_root(tmp_path: Path) -> None:
    store = evidence.EvidenceStore(tmp_path)
    for key in ("../secret.pdf", "/etc/passwd", "ab/../../x.pdf"):
        with pytest.raises(NotFoundError):
            store.open(key)


@pytest.fixture
def case_id(seeded: sessionmaker[Session]) -> int:
    clock.set(datetime(2024, 9, 23, 10, tzinfo=BEIJING))
    return Driver.start(seeded, "penalty_case", "officer1", **CLUE).case().id


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_versions_chain_and_bytes_stay(seeded: sessionmaker[Session], case_id: int, tmp_path: Path) -> None:
    store = evidence.EvidenceStore(tmp_path)
    payloads = [GOOD["pdf"], GOOD["pdf"] + b"% v2\n", GOOD["pdf"] + b"% v3\n"]
    for data in payloads:
        with unit_of_work(seeded) as s:
            evidence.upload(
                s, store, case_id, io.BytesIO(data), file_name="笔录.pdf", title=" 询问 笔录 ", kind="书证",
                actor=actor_for(s, "officer1"),
            )  # fmt: skip
    with seeded() as s:
        rows = list(s.scalars(select(EvidenceFile).order_by(EvidenceFile.id)))
        (item,) = evidence.list_for_case(s, case_id)
    assert [r.version for r in rows] == [1, 2, 3] and {r.title for r in rows} == {"询问 笔录"}
    assert [r.supersedes_id for r in rows] == [None, rows[0].id, rows[1].id]
    assert [v.version for v in item.versions] == [3, 2, 1]
    for row, data in zip(rows, payloads, strict=True):
        assert (tmp_path / row.storage_key).read_bytes() == data and evidence.verify(store, row)


def test_rollback_removes_the_file_and_commit_keeps_it(
    seeded: sessionmaker[Session], case_id: int, tmp_path: Path
) -> None:
    store = evidence.EvidenceStore(tmp_path)
    with pytest.raises(RuntimeError), unit_of_work(seeded) as s:
        row = evidence.upload(
            s, store, case_id, io.BytesIO(GOOD["png"]), file_name="a.png", title="照片", kind="物证",
            actor=actor_for(s, "officer1"),
        )  # fmt: skip
        assert (tmp_path / row.storage_key).is_file()  # written before the row
        raise RuntimeError("the commit never happens")
    assert _files(tmp_path) == []
    with seeded() as s:
        assert s.scalars(select(EvidenceFile)).all() == []
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "evidence.upload")).all() == []

    with unit_of_work(seeded) as s:
        row = evidence.upload(
            s, store, case_id, io.BytesIO(GOOD["png"]), file_name="a.png", title="照片", kind="物证",
            actor=actor_for(s, "officer1"),
        )  # fmt: skip
    with seeded() as s:
        s.rollback()  # a later rollback of another transaction on a fresh session removes nothing
    assert _files(tmp_path) == [tmp_path / row.storage_key]


def test_a_failed_write_leaves_no_row(seeded: sessionmaker[Session], case_id: int, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    store = evidence.EvidenceStore(blocker)
    with pytest.raises(OSError), unit_of_work(seeded) as s:
        evidence.upload(
            s, store, case_id, io.BytesIO(GOOD["pdf"]), file_name="a.pdf", title="t", kind="书证",
            actor=actor_for(s, "officer1"),
        )  # fmt: skip
    with seeded() as s:
        assert s.scalars(select(EvidenceFile)).all() == []


def test_title_and_kind_are_checked_before_anything_is_written(
    seeded: sessionmaker[Session], case_id: int, tmp_path: Path
) -> None:
    store = evidence.EvidenceStore(tmp_path)
    with seeded() as s:
        actor = actor_for(s, "officer1")

        def put(target: int, title: str, kind: str) -> None:
            pdf = io.BytesIO(GOOD["pdf"])
            evidence.upload(s, store, target, pdf, file_name="a.pdf", title=title, kind=kind, actor=actor)

        with pytest.raises(FormValidationError) as info:
            put(case_id, "t", "x")
        assert "kind" in info.value.errors
        with pytest.raises(FormValidationError) as info:
            put(case_id, "长" * 300, "书证")
        assert "title" in info.value.errors
        with pytest.raises(NotFoundError):
            put(999_999, "t", "书证")
    assert _files(tmp_path) == []


def test_download_is_audited_and_checks_the_case(
    seeded: sessionmaker[Session], case_id: int, tmp_path: Path
) -> None:
    store = evidence.EvidenceStore(tmp_path)
    with unit_of_work(seeded) as s:
        row = evidence.upload(
            s, store, case_id, io.BytesIO(GOOD["txt"]), file_name="笔录.txt", title="笔录", kind="书证",
            actor=actor_for(s, "officer1"),
        )  # fmt: skip
    with unit_of_work(seeded) as s:
        with pytest.raises(NotFoundError):
            evidence.open_for_download(s, store, row.id, case_id=case_id + 1, actor=actor_for(s, "chief"))
        found, stream = evidence.open_for_download(
            s, store, row.id, case_id=case_id, actor=actor_for(s, "chief")
        )
        with stream:
            assert stream.read() == GOOD["txt"] and found.content_type.startswith("text/plain")
    with seeded() as s:
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "evidence.download")).all()
        assert (event.actor, event.object_id, event.case_id) == ("chief", str(row.id), case_id)
