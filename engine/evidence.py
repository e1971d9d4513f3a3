"""证据材料: evidence files of a case. Bytes are streamed into a store under a key that is never
reused, hashed (SHA-256) on the way, checked by size, extension and content, and recorded as an
EvidenceFile row; uploading the same title again adds a new version and never overwrites bytes.

The file is written before the row, so a failed write leaves no row; a transaction that rolls back
afterwards removes the file again (see `_remove_on_rollback`)."""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from engine import audit
from engine.clock import utcnow
from engine.errors import FormValidationError, InputError, NotFoundError
from engine.models import Case, EvidenceFile
from engine.users import Actor

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
CHUNK = 64 * 1024
KINDS = (
    "书证",
    "物证",
    "视听资料",
    "电子数据",
    "证人证言",
    "当事人陈述",
    "鉴定意见",
    "勘验笔录/现场笔录",
    "其他",
)


@dataclass(frozen=True)
class FileType:
    label: str  # what an officer reads
    content_type: str


# Extension -> what its bytes must be. `sniff` decides the actual type; the two must agree.
TYPES: dict[str, FileType] = {
    "pdf": FileType("PDF 文档", "application/pdf"),
    "jpg": FileType("JPEG 图片", "image/jpeg"),
    "jpeg": FileType("JPEG 图片", "image/jpeg"),
    "png": FileType("PNG 图片", "image/png"),
    "docx": FileType("Word 文档", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "xlsx": FileType("Excel 表格", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "doc": FileType("Word 97-2003 文档", "application/msword"),
    "xls": FileType("Excel 97-2003 表格", "application/vnd.ms-excel"),
    "txt": FileType("文本文件", "text/plain; charset=utf-8"),
    "csv": FileType("CSV 表格", "text/csv; charset=utf-8"),
    "mp4": FileType("MP4 视频", "video/mp4"),
    "mp3": FileType("MP3 音频", "audio/mpeg"),
    "wav": FileType("WAV 音频", "audio/wav"),
    "zip": FileType("ZIP 压缩包", "application/zip"),
}
ALLOWED_TEXT = "、".join(sorted({e.upper() for e in TYPES}))


class EvidenceRejectedError(InputError):
    """An upload refused for its type, size or emptiness; `detail` says why, in Chinese."""

    message = "证据文件不符合要求"


@dataclass(frozen=True)
class StoredBlob:
    key: str
    path: Path
    size: int
    sha256: str
    extension: str


class EvidenceStore:
    """A directory of evidence bytes. Keys are fresh UUIDs per upload: never reused, never overwritten."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path_of(self, key: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{2}/[0-9a-f]{32}\.[a-z0-9]{1,8}", key):
            raise NotFoundError("证据文件存储键无效")
        return self.root / key

    def save(self, stream: BinaryIO, *, extension: str, max_bytes: int) -> StoredBlob:
        """Stream into a temp file (hashing, counting, checking the type), then move it under a new key.
        Raises EvidenceRejectedError; nothing stays on disk when it does."""
        self.root.mkdir(parents=True, exist_ok=True)
        temp = self.root / f".upload-{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        size = 0
        head = b""
        try:
            with open(temp, "xb") as out:
                for chunk in _chunks(stream):
                    size += len(chunk)
                    if size > max_bytes:
                        raise EvidenceRejectedError(f"文件超过大小上限 {human_size(max_bytes)}")
                    if len(head) < 16:
                        head += chunk[: 16 - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if size == 0:
                raise EvidenceRejectedError("文件为空（0 字节），请重新选择文件")
            check_content(temp, head, extension)
            fresh = uuid.uuid4().hex
            key = f"{fresh[:2]}/{fresh}.{extension}"
            final = self.root / key
            final.parent.mkdir(parents=True, exist_ok=True)
            _move_without_overwrite(temp, final)
        finally:
            temp.unlink(missing_ok=True)
        return StoredBlob(key, final, size, digest.hexdigest(), extension)

    def open(self, key: str) -> BinaryIO:
        path = self.path_of(key)
        if not path.is_file():
            raise NotFoundError("证据文件的存储内容缺失，请联系管理员")
        return open(path, "rb")

    def discard(self, key: str) -> None:
        self.path_of(key).unlink(missing_ok=True)


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return
        yield chunk


def _move_without_overwrite(temp: Path, final: Path) -> None:
    # A hard link fails if the target exists, so even a (theoretical) key collision never replaces bytes.
    try:
        os.link(temp, final)
    except FileExistsError:
        raise EvidenceRejectedError("存储键冲突，请重新上传") from None
    except OSError:
        if final.exists():
            raise EvidenceRejectedError("存储键冲突，请重新上传") from None
        os.rename(temp, final)


# --- content checks ------------------------------------------------------------------------------
OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")


def extension_of(file_name: str) -> str:
    """The lower-case extension of an allowed file name; raises EvidenceRejectedError otherwise."""
    name = safe_file_name(file_name)
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in TYPES:
        raise EvidenceRejectedError(f"不支持的文件类型「{ext or '无扩展名'}」，允许：{ALLOWED_TEXT}")
    return ext


def safe_file_name(file_name: str) -> str:
    """The base name a browser sent, without directories or control characters, at most 200 chars."""
    name = re.split(r"[\\/]", file_name or "")[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().lstrip(".")
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 8 else name[:200]
    return name


def check_content(path: Path, head: bytes, extension: str) -> None:
    """The bytes really are what the extension says; raises EvidenceRejectedError otherwise."""
    label = TYPES[extension].label
    if not _matches(path, head, extension):
        raise EvidenceRejectedError(
            f"文件内容与扩展名不符：「.{extension}」应为{label}，但文件内容不是（可能是改了扩展名的其他文件）"
        )


def _matches(path: Path, head: bytes, ext: str) -> bool:
    if ext == "pdf":
        return head.startswith(b"%PDF-")
    if ext in ("jpg", "jpeg"):
        return head.startswith(b"\xff\xd8\xff")
    if ext == "png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if ext in ("doc", "xls"):
        return head.startswith(OLE_MAGIC)
    if ext == "mp4":
        return head[4:8] == b"ftyp"
    if ext == "mp3":
        return head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)
    if ext == "wav":
        return head.startswith(b"RIFF") and head[8:12] == b"WAVE"
    if ext in ("zip", "docx", "xlsx"):
        return head.startswith((b"PK\x03\x04", b"PK\x05\x06")) and _zip_matches(path, ext)
    if ext in ("txt", "csv"):
        return _is_text(path)
    return False


def _zip_matches(path: Path, ext: str) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    if ext == "docx":
        return "[Content_Types].xml" in names and "word/document.xml" in names
    if ext == "xlsx":
        return "[Content_Types].xml" in names and "xl/workbook.xml" in names
    return True


# Text may hold tabs, line breaks and form feeds; any other C0 control (NUL above all) means binary.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _is_text(path: Path) -> bool:
    return any(_decodes(path, encoding) for encoding in ("utf-8-sig", "gb18030"))


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with open(path, "rb") as f:
            for chunk in _chunks(f):  # type: ignore[arg-type]
                if _CONTROL.search(decoder.decode(chunk)):
                    return False
            return not _CONTROL.search(decoder.decode(b"", final=True))
    except UnicodeDecodeError:
        return False


def human_size(n: int) -> str:
    """1536 -> '1.5 KB'."""
    size = float(n)
    for unit in ("字节", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "字节" else f"{size:.1f} {unit}".replace(".0 ", " ")
        size /= 1024
    return f"{n} 字节"


# --- the evidence record ---------------------------------------------------------------------------
def upload(
    session: Session,
    store: EvidenceStore,
    case_id: int,
    stream: BinaryIO,
    *,
    file_name: str,
    title: str,
    kind: str,
    actor: Actor,
    max_bytes: int = DEFAULT_MAX_BYTES,
    task_id: int | None = None,
) -> EvidenceFile:
    """Store the bytes and record them as the next version of `title` in the caller's transaction.
    Raises EvidenceRejectedError (type, size, empty), FormValidationError (title, kind), NotFoundError."""
    title = " ".join((title or "").split())
    kind = (kind or "").strip()
    clean_name = safe_file_name(file_name)
    if not clean_name:
        raise EvidenceRejectedError("请选择要上传的文件")
    extension = extension_of(clean_name)
    if not title:
        title = clean_name.rsplit(".", 1)[0][:255]
    if len(title) > 255:
        raise FormValidationError({"title": "证据名称过长（最多 255 个字）"})
    if kind not in KINDS:
        raise FormValidationError({"kind": f"请选择证据类型（{'、'.join(KINDS)}）"})
    # Lock the case row: two uploads of one title at once must not both become version 2.
    case = session.scalars(select(Case).where(Case.id == case_id).with_for_update()).first()
    if case is None:
        raise NotFoundError(f"案件 {case_id} 不存在")
    previous = latest_version(session, case_id, title)

    blob = store.save(stream, extension=extension, max_bytes=max_bytes)
    _remove_on_rollback(session, store, blob.key)
    row = EvidenceFile(
        case_id=case_id,
        title=title,
        kind=kind,
        file_name=clean_name,
        content_type=TYPES[extension].content_type,
        size=blob.size,
        sha256=blob.sha256,
        version=(previous.version + 1) if previous else 1,
        supersedes_id=previous.id if previous else None,
        storage_key=blob.key,
        task_id=task_id,
        uploaded_by=actor.username,
        uploaded_at=utcnow(),
    )
    session.add(row)
    session.flush()  # the audit event names the new row's id
    audit.record(
        session,
        actor=actor.username,
        client_addr=actor.client_addr,
        action="evidence.upload",
        object_type="evidence",
        object_id=str(row.id),
        case_id=case_id,
        after=blob.sha256,
        detail={
            "title": title,
            "kind": kind,
            "file_name": clean_name,
            "size": blob.size,
            "sha256": blob.sha256,
            "version": row.version,
            "supersedes": row.supersedes_id,
        },
    )
    return row


def _remove_on_rollback(session: Session, store: EvidenceStore, key: str) -> None:
    """Delete the stored bytes if the caller's transaction rolls back; forget them once it commits."""
    pending: list[tuple[EvidenceStore, str]] = session.info.setdefault("ybjg_evidence_pending", [])
    pending.append((store, key))
    if session.info.get("ybjg_evidence_hooked"):
        return
    session.info["ybjg_evidence_hooked"] = True

    def committed(s: Session) -> None:
        s.info.get("ybjg_evidence_pending", []).clear()

    def rolled_back(s: Session) -> None:
        files = s.info.get("ybjg_evidence_pending", [])
        for owner, stored_key in files:
            owner.discard(stored_key)
        files.clear()

    event.listen(session, "after_commit", committed)
    event.listen(session, "after_rollback", rolled_back)


def latest_version(session: Session, case_id: int, title: str) -> EvidenceFile | None:
    """The newest version of the evidence titled `title` in the case, or None."""
    query = (
        select(EvidenceFile)
        .where(EvidenceFile.case_id == case_id, EvidenceFile.title == title)
        .order_by(EvidenceFile.version.desc(), EvidenceFile.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


@dataclass(frozen=True)
class EvidenceItem:
    """One title with its versions, newest first."""

    title: str
    versions: list[EvidenceFile]

    @property
    def current(self) -> EvidenceFile:
        return self.versions[0]


def list_for_case(session: Session, case_id: int) -> list[EvidenceItem]:
    """The case's evidence grouped by title, most recently changed first."""
    rows = session.scalars(
        select(EvidenceFile)
        .where(EvidenceFile.case_id == case_id)
        .order_by(EvidenceFile.version.desc(), EvidenceFile.id.desc())
    ).all()
    grouped: dict[str, list[EvidenceFile]] = {}
    for row in rows:
        grouped.setdefault(row.title, []).append(row)
    items = [EvidenceItem(title, versions) for title, versions in grouped.items()]
    items.sort(key=lambda item: (item.current.uploaded_at, item.current.id), reverse=True)
    return items


def get(session: Session, evidence_id: int) -> EvidenceFile:
    row = session.get(EvidenceFile, evidence_id)
    if row is None:
        raise NotFoundError(f"证据 {evidence_id} 不存在")
    return row


def open_for_download(
    session: Session, store: EvidenceStore, evidence_id: int, *, case_id: int, actor: Actor
) -> tuple[EvidenceFile, BinaryIO]:
    """The evidence row and its bytes, with an `evidence.download` audit event in the caller's
    transaction. Raises NotFoundError when the row is not the case's or its bytes are missing."""
    row = get(session, evidence_id)
    if row.case_id != case_id:
        raise NotFoundError(f"证据 {evidence_id} 不存在")
    stream = store.open(row.storage_key)
    try:
        audit.record(
            session,
            actor=actor.username,
            client_addr=actor.client_addr,
            action="evidence.download",
            object_type="evidence",
            object_id=str(row.id),
            case_id=row.case_id,
            detail={"title": row.title, "version": row.version, "sha256": row.sha256},
        )
    except BaseException:
        stream.close()
        raise
    return row, stream


def verify(store: EvidenceStore, row: EvidenceFile) -> bool:
    """Do the stored bytes still hash to the recorded SHA-256?"""
    digest = hashlib.sha256()
    with store.open(row.storage_key) as f:
        for chunk in _chunks(f):
            digest.update(chunk)
    return digest.hexdigest() == row.sha256
