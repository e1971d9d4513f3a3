"""What process owners see of deployed versions: which instances run on each version (root processes,
called processes and decision tables alike, through the instances' pins), and a heat map per process
version — how many instances wait at each step and how long each step took — from the task projection."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import registry
from engine.errors import NotFoundError
from engine.models import Case, Definition, InstanceStatus, ProcessInstance, Task, TaskState

SCAN_BATCH = 2000


@dataclass
class VersionRow:
    definition: Definition
    running: int  # running instances pinned to this version


@dataclass
class KeyVersions:
    key: str
    name: str
    kind: str  # "process" or "decision"
    versions: list[VersionRow]

    @property
    def running(self) -> int:
        return sum(v.running for v in self.versions)


@dataclass
class InstanceRow:
    instance: ProcessInstance
    case_number: str | None
    steps: list[str] = field(default_factory=list)  # open task names


def _running_pins(session: Session) -> Iterator[tuple[int, int, dict[str, int]]]:
    """(instance id, root definition id, pins) of every running instance, in batches."""
    last = 0
    while True:
        rows = session.execute(
            select(ProcessInstance.id, ProcessInstance.definition_id, ProcessInstance.spec_pins)
            .where(ProcessInstance.status == InstanceStatus.RUNNING, ProcessInstance.id > last)
            .order_by(ProcessInstance.id)
            .limit(SCAN_BATCH)
        ).all()
        if not rows:
            return
        for instance_id, definition_id, pins in rows:
            yield instance_id, definition_id, dict(pins or {})
        last = rows[-1][0]


def overview(session: Session) -> list[KeyVersions]:
    """Every deployed key, newest version first, with the running instances on each version."""
    counts: Counter[int] = Counter()
    for _, root, pins in _running_pins(session):
        counts.update(set(pins.values()) | {root})
    by_key: dict[str, list[Definition]] = defaultdict(list)
    for d in session.scalars(select(Definition).order_by(Definition.key, Definition.version.desc())):
        by_key[d.key].append(d)
    out = [
        KeyVersions(key, rows[0].name, rows[0].kind, [VersionRow(d, counts[d.id]) for d in rows])
        for key, rows in by_key.items()
    ]
    return sorted(out, key=lambda k: (k.kind != "process", k.key))


def instances_on(session: Session, definition: Definition, *, limit: int = 500) -> list[InstanceRow]:
    """The running instances that use `definition` (as their process, a called process or a decision)."""
    ids = [
        i
        for i, root, pins in _running_pins(session)
        if root == definition.id or pins.get(definition.key) == definition.id
    ]
    ids = ids[:limit]
    if not ids:
        return []
    rows = {
        i.id: InstanceRow(i, None)
        for i in session.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(ids)))
    }
    case_ids = {r.instance.case_id for r in rows.values() if r.instance.case_id}
    numbers = (
        dict(session.execute(select(Case.id, Case.number).where(Case.id.in_(case_ids))).all())
        if case_ids
        else {}
    )
    for row in rows.values():
        row.case_number = numbers.get(row.instance.case_id)
    for instance_id, name in session.execute(
        select(Task.instance_id, Task.name)
        .where(Task.instance_id.in_(ids), Task.state == TaskState.OPEN)
        .order_by(Task.id)
    ):
        rows[instance_id].steps.append(name)
    return [rows[i] for i in ids]


@dataclass
class HeatCell:
    bpmn_id: str
    name: str
    waiting: int = 0  # instances at this step now
    done: int = 0  # completions counted in the average
    total_seconds: float = 0.0
    overdue: int = 0

    @property
    def average_hours(self) -> float | None:
        return round(self.total_seconds / self.done / 3600, 1) if self.done else None


def heatmap(session: Session, definition: Definition, *, now: datetime) -> dict[str, HeatCell]:
    """Per user task of this process version: instances waiting there now (and how many overdue), and
    the average time from arrival to completion. Reads the task projection only."""
    instance_ids = [
        i
        for i, root, pins in _all_pins(session, definition.key)
        if root == definition.id or pins.get(definition.key) == definition.id
    ]
    cells: dict[str, HeatCell] = {}
    for chunk in _chunks(instance_ids, 500):
        query = select(
            Task.bpmn_id, Task.name, Task.state, Task.created_at, Task.completed_at, Task.due_at
        ).where(Task.instance_id.in_(chunk), Task.process_key == definition.key)
        for bpmn_id, name, state, created, completed, due in session.execute(query):
            cell = cells.setdefault(bpmn_id, HeatCell(bpmn_id, name))
            if state == TaskState.OPEN:
                cell.waiting += 1
                if due is not None and due < now:
                    cell.overdue += 1
            elif state == TaskState.COMPLETED and completed is not None:
                cell.done += 1
                cell.total_seconds += (completed - created).total_seconds()
    return cells


def _all_pins(session: Session, key: str) -> Iterator[tuple[int, int, dict[str, int]]]:
    """Instances (any status) that have tasks of process `key`, with their pins."""
    with_tasks = select(Task.instance_id).where(Task.process_key == key).distinct()
    for instance_id, root, pins in session.execute(
        select(ProcessInstance.id, ProcessInstance.definition_id, ProcessInstance.spec_pins).where(
            ProcessInstance.id.in_(with_tasks)
        )
    ):
        yield instance_id, root, dict(pins or {})


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def get_version(session: Session, key: str, version: int) -> Definition:
    """One deployed version; NotFoundError when there is none."""
    for d in registry.versions_of(session, key):
        if d.version == version:
            return d
    raise NotFoundError(f"「{key}」没有第 {version} 版")
