"""Drop folder: the outbox's "dropfolder" channel, for agencies that collect files from a shared
directory. Each envelope becomes files named by its idempotency key: the attachments (the referral
package) first, then `<key>.json` — the message itself, the marker a collector waits for. Every file
is written to a temporary name and moved into place with os.replace, so a collector never sees half
a file; a retry finds identical files already there and writes nothing again. A file of that name
with other content is never overwritten (a permanent failure a person must look at)."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.outbox import DeliveryError, Envelope


def file_stem(idempotency_key: str) -> str:
    """A file name for a key: its letters, digits and CJK kept, the rest '_', plus a short hash
    (so two keys that differ only in punctuation never share a file)."""
    readable = "".join(c if c.isalnum() or c in "-_.〔〕" else "_" for c in idempotency_key)[:100]
    return f"{readable}-{hashlib.sha256(idempotency_key.encode('utf-8')).hexdigest()[:8]}"


@dataclass(frozen=True)
class DropFolderSender:
    def send(self, envelope: Envelope) -> str:
        folder = Path(envelope.destination)
        if not folder.is_absolute():
            raise DeliveryError(f"共享目录应为绝对路径：{envelope.destination}", permanent=True)
        if not folder.is_dir():
            raise DeliveryError(f"共享目录不存在或不可访问：{folder}")
        stem = file_stem(envelope.idempotency_key)
        listed: list[dict[str, Any]] = []
        attachments = envelope.payload.get("attachments") or []
        for n, item in enumerate(attachments, start=1):
            source = Path(str(item.get("path") or ""))
            suffix = "".join(Path(str(item.get("filename") or source.name)).suffixes[-1:]) or ".bin"
            name = f"{stem}{suffix}" if len(attachments) == 1 else f"{stem}-{n}{suffix}"
            try:
                data = source.read_bytes()
            except OSError as exc:
                raise DeliveryError(f"附件「{item.get('filename', '')}」缺失：{exc}", permanent=True) from exc
            _write_once(folder / name, data)
            listed.append(
                {"file": name, "filename": item.get("filename") or source.name, "size": len(data),
                 "sha256": hashlib.sha256(data).hexdigest()}
            )  # fmt: skip
        payload = {k: v for k, v in envelope.payload.items() if k not in ("attachments", "sources")}
        message = {
            "idempotency_key": envelope.idempotency_key,
            "subject": envelope.subject,
            "payload": payload,
            "attachments": listed,
        }
        marker = folder / f"{stem}.json"
        _write_once(marker, json.dumps(message, ensure_ascii=False, sort_keys=True, indent=2).encode("utf-8"))
        return str(marker)


def _write_once(path: Path, data: bytes) -> None:
    """Atomically put `data` at `path`; nothing is written when the same bytes are already there."""
    if path.exists():
        if hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest():
            return
        raise DeliveryError(f"目标文件 {path.name} 已存在且内容不同，未覆盖", permanent=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        with open(temp, "xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise DeliveryError(f"写入共享目录失败：{exc}") from exc
