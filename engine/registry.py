"""Process registry: validates and deploys BPMN/DMN files as versions, pins the versions an
instance runs on, and caches parsed spec bundles per pinned set (a cache: any worker rebuilds it)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import audit
from engine.errors import DefinitionInvalidError, NotFoundError
from engine.models import Definition, InstanceStatus, ProcessInstance
from engine.workflow.runtime import SourceFile, SpecBundle
from engine.workflow.validate import FileInfo, Problem, files_from_sources, read_file, validate


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


def check(session: Session, uploads: Sequence[Upload]) -> tuple[list[FileInfo], list[Problem]]:
    """Validate uploads against what is deployed; returns the parsed files and every problem."""
    infos: list[FileInfo] = []
    problems: list[Problem] = []
    names = [u.name for u in uploads]
    for dup in {n for n in names if names.count(n) > 1}:
        problems.append(Problem(dup, "", "同名文件上传了不止一次"))
    for upload in uploads:
        info, file_problems = read_file(upload.name, upload.data)
        problems += file_problems
        if info is not None:
            infos.append(info)
    if problems:
        return infos, problems
    return infos, validate(infos, files_from_sources(latest_files(session)))


def deploy(session: Session, uploads: Sequence[Upload], *, actor: str) -> list[Definition]:
    """Validate and store a new version of every process/decision whose file changed.
    Identical XML is not a new version. Raises DefinitionInvalidError with every problem."""
    infos, problems = check(session, uploads)
    if problems:
        raise DefinitionInvalidError([(p.file, p.element, p.message) for p in problems])
    created: list[Definition] = []
    for info in infos:
        sha = hashlib.sha256(info.xml.encode("utf-8")).hexdigest()
        kind = "decision" if info.kind == "dmn" else "process"
        keys = info.decisions if info.kind == "dmn" else info.processes
        for key, name in keys.items():
            latest = find_latest(session, key)
            if latest is not None and latest.sha256 == sha:
                continue
            definition = Definition(
                key=key,
                version=(latest.version + 1) if latest else 1,
                kind=kind,
                name=name,
                file_name=info.name,
                sha256=sha,
                xml=info.xml,
                deployed_by=actor,
            )
            session.add(definition)
            session.flush()  # the id goes into the audit event
            audit.record(
                session,
                actor=actor,
                action="definition.deploy",
                object_type="definition",
                object_id=str(definition.id),
                detail={"key": key, "version": definition.version, "file": info.name, "sha256": sha},
                after=info.xml,
            )
            created.append(definition)
    return created


def deploy_directory(session: Session, directory: Path, *, actor: str = "system") -> list[Definition]:
    """Deploy every *.bpmn and *.dmn in `directory` (unchanged files create nothing)."""
    paths = sorted([*directory.glob("*.bpmn"), *directory.glob("*.dmn")])
    return deploy(session, [Upload(p.name, p.read_bytes()) for p in paths], actor=actor)


def find_latest(session: Session, key: str) -> Definition | None:
    return session.scalars(
        select(Definition).where(Definition.key == key).order_by(Definition.version.desc()).limit(1)
    ).first()


def get_latest(session: Session, key: str) -> Definition:
    definition = find_latest(session, key)
    if definition is None:
        raise NotFoundError(f"流程「{key}」尚未部署")
    return definition


def latest_definitions(session: Session) -> list[Definition]:
    newest = (
        select(Definition.key, func.max(Definition.version).label("v")).group_by(Definition.key).subquery()
    )
    return list(
        session.scalars(
            select(Definition)
            .join(newest, (Definition.key == newest.c.key) & (Definition.version == newest.c.v))
            .order_by(Definition.key)
        )
    )


def latest_files(session: Session) -> list[SourceFile]:
    seen: dict[str, SourceFile] = {}
    for d in latest_definitions(session):
        seen.setdefault(d.sha256, _source(d))
    return list(seen.values())


def _source(d: Definition) -> SourceFile:
    return SourceFile(d.file_name, d.xml, "dmn" if d.kind == "decision" else "bpmn")


def pins_for_start(session: Session, key: str) -> dict[str, int]:
    """The newest version of the process and of everything it calls or decides with, transitively."""
    return pins_for(session, get_latest(session, key))


def pins_for(session: Session, root: Definition) -> dict[str, int]:
    """Pins for running `root` (any version of its process): that version, and the newest version
    of everything it calls or decides with, transitively. Used at start and when migrating."""
    latest = {d.key: d for d in latest_definitions(session)}
    latest[root.key] = root
    infos: dict[str, FileInfo] = {}  # by sha256: a key's older version may share a file name

    def info_of(d: Definition) -> FileInfo:
        if d.sha256 not in infos:
            infos[d.sha256] = files_from_sources([_source(d)])[0]
        return infos[d.sha256]

    pins: dict[str, int] = {}
    todo = [root.key]
    while todo:
        k = todo.pop()
        if k in pins:
            continue
        d = latest.get(k)
        if d is None:
            raise NotFoundError(f"流程或决策表「{k}」尚未部署")
        pins[k] = d.id
        info = info_of(d)
        todo += sorted(info.calls.get(k, set())) + sorted(info.decision_refs.get(k, set()))
    return pins


def versions_of(session: Session, key: str) -> list[Definition]:
    """Every deployed version of `key`, newest first (NotFoundError when none)."""
    rows = list(
        session.scalars(select(Definition).where(Definition.key == key).order_by(Definition.version.desc()))
    )
    if not rows:
        raise NotFoundError(f"流程或决策表「{key}」尚未部署")
    return rows


def latest_file(session: Session, file_name: str) -> Definition | None:
    """The newest deployed definition that came from the file `file_name` (its XML is the file)."""
    return session.scalars(
        select(Definition).where(Definition.file_name == file_name).order_by(Definition.id.desc()).limit(1)
    ).first()


class _BundleCache:
    """Parsed bundles keyed by the pinned definition ids; bounded, thread-safe."""

    def __init__(self, size: int = 64) -> None:
        self._items: OrderedDict[tuple[str, ...], SpecBundle] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, session: Session, root_key: str, pins: dict[str, int]) -> SpecBundle:
        # Keyed by content, not ids: ids can be reused (a restored or re-created database) and
        # must never bring back another process's spec.
        shas = dict(
            session.execute(
                select(Definition.id, Definition.sha256).where(Definition.id.in_(pins.values()))
            ).all()
        )
        ident = (root_key, *sorted(set(shas.values())))
        with self._lock:
            bundle = self._items.get(ident)
            if bundle is not None:
                self._items.move_to_end(ident)
                return bundle
        definitions = session.scalars(select(Definition).where(Definition.id.in_(pins.values()))).all()
        files = {d.sha256: _source(d) for d in definitions}
        bundle = SpecBundle(root_key, files.values())
        with self._lock:
            self._items[ident] = bundle
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return bundle

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


bundles = _BundleCache()


def bundle_for(session: Session, instance: ProcessInstance) -> SpecBundle:
    return bundles.get(session, instance.process_key, instance.spec_pins)


@dataclass(frozen=True)
class ProcessSummary:
    key: str
    name: str
    kind: str
    version: int
    versions: int
    running: int
    deployed_at: str


def summaries(session: Session) -> list[ProcessSummary]:
    """Every deployed key with its newest version, number of versions and running instances."""
    counts = dict(
        session.execute(
            select(ProcessInstance.process_key, func.count())
            .where(ProcessInstance.status == InstanceStatus.RUNNING)
            .group_by(ProcessInstance.process_key)
        ).all()
    )
    return [
        ProcessSummary(
            d.key, d.name, d.kind, d.version, d.version, counts.get(d.key, 0), d.deployed_at.isoformat()
        )
        for d in latest_definitions(session)
    ]


def uploads_from_paths(paths: Iterable[Path]) -> list[Upload]:
    return [Upload(p.name, p.read_bytes()) for p in paths]
