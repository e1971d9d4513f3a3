"""Referral packages (移送材料包): the ZIP a receiving agency gets — manifest.json (the manifest
engine/referrals.py fixed when the referral was recorded), then every document and evidence file it
lists, each checked against the SHA-256 in the manifest before it goes in. The ZIP is deterministic
(fixed entry order, times and attributes), so a retried delivery carries exactly the same bytes.

`PackagingSender` wraps any channel's sender: for an envelope whose payload is a referral package it
builds (or reuses) the ZIP under the package directory and hands it on as an attachment
({"filename", "content_type", "path", "sha256", "size"}), the form every sender reads."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
import zipfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.clock import to_beijing
from engine.outbox import DeliveryError, Envelope, Sender
from engine.referrals import manifest_bytes

ZIP_TYPE = "application/zip"


@dataclass(frozen=True)
class PackageStores:
    """Where the bytes the manifest names are kept, and where built packages go."""

    documents: Path
    evidence: Path
    packages: Path


def is_package(payload: dict[str, Any]) -> bool:
    return payload.get("kind") == "referral_package"


def build_zip(payload: dict[str, Any], stores: PackageStores) -> bytes:
    """The package bytes for a referral payload. Raises DeliveryError (permanent) when the manifest
    or a file no longer matches its recorded SHA-256 (retrying would not help), and a retryable
    one when a store cannot be read."""
    manifest = payload["manifest"]
    data = manifest_bytes(manifest)
    if hashlib.sha256(data).hexdigest() != payload.get("manifest_sha256"):
        raise DeliveryError("移送材料清单与登记的 SHA-256 不符，已停止发送", permanent=True)
    stamp = _zip_time(manifest.get("created_at") or "")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        _add(archive, "manifest.json", data, stamp)
        sources = payload.get("sources") or {}
        for entry in sorted(manifest["files"], key=lambda f: f["path"]):
            content = _read(stores, sources.get(entry["path"]), entry["path"])
            if hashlib.sha256(content).hexdigest() != entry["sha256"]:
                raise DeliveryError(
                    f"文件「{entry['path']}」与登记的 SHA-256 不符，已停止发送", permanent=True
                )
            _add(archive, entry["path"], content, stamp)
    return buffer.getvalue()


def _add(
    archive: zipfile.ZipFile, name: str, data: bytes, stamp: tuple[int, int, int, int, int, int]
) -> None:
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # the same bytes whichever system builds it
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def _zip_time(created_at: str) -> tuple[int, int, int, int, int, int]:
    try:
        at = to_beijing(datetime.fromisoformat(created_at))
    except ValueError:
        return (1980, 1, 1, 0, 0, 0)
    return (at.year, at.month, at.day, at.hour, at.minute, at.second)


def _read(stores: PackageStores, source: dict[str, str] | None, path: str) -> bytes:
    if not source or source.get("store") not in ("documents", "evidence"):
        raise DeliveryError(f"移送材料「{path}」没有存储位置", permanent=True)
    root = stores.documents if source["store"] == "documents" else stores.evidence
    file = (root / source["key"]).resolve()
    if not file.is_relative_to(root.resolve()):
        raise DeliveryError(f"移送材料「{path}」的存储位置无效", permanent=True)
    try:
        return file.read_bytes()
    except FileNotFoundError:
        raise DeliveryError(f"移送材料「{path}」的文件缺失", permanent=True) from None
    except OSError as exc:
        raise DeliveryError(f"读取移送材料「{path}」失败：{exc}") from exc


def package_file(payload: dict[str, Any], stores: PackageStores) -> tuple[Path, str, int]:
    """The package written once under the package directory (path, sha256, size); a retry finds
    the same bytes already there and writes nothing."""
    data = build_zip(payload, stores)
    digest = hashlib.sha256(data).hexdigest()
    target = stores.packages / f"{digest}.zip"
    if target.is_file() and target.stat().st_size == len(data):
        return target, digest, len(data)
    try:
        stores.packages.mkdir(parents=True, exist_ok=True)
        temp = stores.packages / f".{uuid.uuid4().hex}.part"
        with open(temp, "xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except OSError as exc:
        raise DeliveryError(f"无法写入移送材料包：{exc}") from exc
    return target, digest, len(data)


@dataclass(frozen=True)
class PackagingSender:
    """A channel's sender that also carries referral packages as a ZIP attachment."""

    inner: Sender
    stores: PackageStores

    def send(self, envelope: Envelope) -> str:
        if not is_package(envelope.payload):
            return self.inner.send(envelope)
        path, digest, size = package_file(envelope.payload, self.stores)
        number = str(envelope.payload.get("referral_no") or "")
        attachment = {
            "filename": f"{number}移送材料.zip".replace("/", "／"),
            "content_type": ZIP_TYPE,
            "path": str(path),
            "sha256": digest,
            "size": size,
        }
        payload = {k: v for k, v in envelope.payload.items() if k != "sources"}
        payload["attachments"] = [*(envelope.payload.get("attachments") or []), attachment]
        payload["package_sha256"] = digest
        receipt = self.inner.send(replace(envelope, payload=payload))
        return f"{receipt}；材料包 SHA-256 {digest}"
