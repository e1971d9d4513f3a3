"""Engine benchmark: what completing a task, listing the inbox and the overdue tasks, and firing due
timers cost at production scale. It prints figures and asserts nothing; targets are printed beside them.

    .venv/bin/python bench/engine.py [--json] [--quick] [--pg-url URL]

--json adds ONE JSON object as the last line of stdout: bare_ms, sqlite_ms, sqlite_ratio, pg_ms,
pg_ratio, inbox_ms, overdue_ms, timers_10k_s_one, timers_10k_s_two, peak_mb (PostgreSQL figures are
null when it cannot be reached). --quick seeds a tenth of the data; its timer figures are then
extrapolated linearly to 10 000 timers.

The PostgreSQL database (default ybjg_bench) is created when missing, and its public schema is
dropped and re-created for every section: the script refuses a database whose name lacks "bench".
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as `python bench/engine.py`, this file's folder comes first on sys.path and this very module
# would shadow the `engine` package: put the repository root there instead.
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench")]

from sqlalchemy import Engine, func, insert, make_url, select, text, update  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from engine import forms, instances, migrate, registry, seed, tasks, timers  # noqa: E402
from engine.clock import BEIJING, clock  # noqa: E402
from engine.db import make_engine, make_session_factory, normalize_url, unit_of_work  # noqa: E402
from engine.models import AuditEvent, Case, Definition, ProcessInstance, Task, TaskGroup, TaskState  # noqa: E402
from engine.users import SYSTEM, Actor, actor_for  # noqa: E402
from engine.workflow import runtime  # noqa: E402
from tests.engine.test_timers import TIMER_BPMN  # noqa: E402

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/ybjg_bench"
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=BEIJING)  # a Monday, in a year the calendar covers
CLUE = {
    "clue_source": "report",
    "party_name": "某某大药房",
    "party_type": "institution",
    "clue_summary": "举报该药房串换药品",
    "amount_involved": "12000.50",
}
VERIFY = {"verification": "已现场核查，涉嫌串换药品", "suggestion": "file"}
WARMUP = 10  # completions run before the timed ones (imports, caches, prepared statements)
LIST_RUNS, LIST_WARMUP, PAGE = 20, 3, 50
SEED_BATCH = 10_000
TARGET_RATIO, TARGET_LIST_MS, TARGET_TIMERS_S = 3.0, 100.0, 60.0
# The SQLite lists are optional: they run only when this much of the 10-minute budget is left for
# them (about 70 s at full scale) and the timers (about 2.2 times the one-thread figure).
SQLITE_LISTS_UNTIL_S = 270


@dataclass(frozen=True)
class Scale:
    instances: int  # seeded open instances behind the lists
    task_rows: int  # seeded task rows; one per instance is open, the rest completed
    timers: int  # instances waiting on a due timer, per scheduler run
    completions: int  # timed task completions per backend


FULL = Scale(instances=100_000, task_rows=1_000_000, timers=10_000, completions=200)
QUICK = Scale(instances=10_000, task_rows=100_000, timers=1_000, completions=100)


def say(line: str = "") -> None:
    print(line, flush=True)


def warn(line: str) -> None:
    say(f"!!! WARNING: {line}")


def median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000


def p90_ms(samples: Sequence[float]) -> float:
    return statistics.quantiles(samples, n=10)[-1] * 1000


# --- databases --------------------------------------------------------------------------------


def pg_problem(url: str) -> str | None:
    """Create the benchmark database when missing; the reason it cannot be used, or None."""
    target = make_url(normalize_url(url))
    if "bench" not in (target.database or ""):
        return f"refusing {target.database!r}: its schema would be dropped (use a name with 'bench')"
    admin = make_engine(
        target.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 5},
    )
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database})
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    except Exception as exc:  # any failure to connect means: no PostgreSQL figures
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    finally:
        admin.dispose()
    return None


def fresh_database(url: str) -> Engine:
    """An empty database at `url` (PostgreSQL: public schema re-created), migrated and seeded with
    the calendar, clock rules, shipped processes and demo accounts."""
    if url.startswith("postgres"):
        reset = make_engine(url)
        with reset.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        reset.dispose()
    migrate.upgrade(url)
    db = make_engine(url)
    with unit_of_work(make_session_factory(db)) as session:
        seed.seed_reference(session)
        seed.seed_demo_accounts(session)
    return db


def analyze(db: Engine) -> None:
    """On PostgreSQL, what autovacuum keeps in a running system after a bulk load: statistics and
    the visibility map (so that index-only scans are possible). SQLite gathers no statistics unless
    told to and the application never tells it, so its figures are taken without them, as it runs.
    (An AUTOCOMMIT connection would not do here: the SQLite engine begins every transaction itself.)"""
    if db.dialect.name == "postgresql":
        with db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


# --- 1. one task completion -------------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    bare: list[float]  # seconds: SpiffWorkflow alone, workflow already in memory
    round_trip: list[float]  # seconds: restore from the stored JSON, the same step, serialize
    engine: list[float]  # seconds: tasks.complete in a unit of work, commit included
    start: list[float]  # seconds: instances.start in a unit of work (set-up, not a figure)


def start_instances(factory: sessionmaker[Session], actor: Actor, n: int) -> tuple[list[int], list[float]]:
    """Start `n` penalty cases, one unit of work each; returns their verify_clue task ids and the
    seconds each start took (printed, as the figures' set-up cost)."""
    ids, seconds = [], []
    for _ in range(n):
        started = time.perf_counter()
        with unit_of_work(factory) as session:
            ids.append(instances.start(session, "penalty_case", actor=actor, variables=CLUE).id)
        seconds.append(time.perf_counter() - started)
    with factory() as session:
        return list(
            session.scalars(
                select(Task.id)
                .where(Task.instance_id.in_(ids), Task.bpmn_id == "verify_clue", Task.state == TaskState.OPEN)
                .order_by(Task.id)
            )
        ), seconds[WARMUP:]


def spiff_step(wf: runtime.BpmnWorkflow, spiff_task: runtime.SpiffTask) -> None:
    """The bare SpiffWorkflow step: data on the READY user task (as its form converts it), run it,
    step on to the next wait."""
    spiff_task.set_data(**forms.validate(forms.form_of(spiff_task.task_spec.extensions or {}), VERIFY))
    spiff_task.run()
    wf.refresh_timers()
    wf.do_engine_steps()


def bare_step_seconds(
    factory: sessionmaker[Session], actor: Actor, task_ids: Sequence[int]
) -> tuple[list[float], list[float]]:
    """SpiffWorkflow's own cost of the step on workflows the engine loaded (same parsed specs,
    same sandboxed script engine, same data): the step alone, and the round trip through the
    engine's runtime (runtime.load from the stored JSON, step, runtime.dump). Nothing is saved."""
    step, round_trip = [], []
    with factory() as session:
        for task_id in task_ids:
            task = tasks.get(session, task_id)
            instance = instances.get(session, task.instance_id)
            loaded = instances.load(session, instance, actor)
            spiff_task = runtime.find_task(loaded.workflow, task.spiff_task_id)
            assert spiff_task is not None
            started = time.perf_counter()
            spiff_step(loaded.workflow, spiff_task)
            step.append(time.perf_counter() - started)
            landed = [t.bpmn_id for t in runtime.ready_user_tasks(loaded.workflow)]
            if landed != ["decide_filing"]:
                warn(f"bare step of task {task_id} landed on {landed}, not decide_filing")

            bundle = registry.bundle_for(session, instance)
            script_engine = loaded.workflow.script_engine
            started = time.perf_counter()
            wf = runtime.load(instance.state, instance.serializer_version, bundle, script_engine)
            spiff_step(wf, runtime.find_task(wf, task.spiff_task_id))  # type: ignore[arg-type]
            runtime.dump(wf)
            round_trip.append(time.perf_counter() - started)
        session.rollback()
    return step[WARMUP:], round_trip[WARMUP:]


def engine_step_seconds(factory: sessionmaker[Session], actor: Actor, task_ids: Sequence[int]) -> list[float]:
    """Wall time of tasks.complete in its own unit of work, commit included."""
    samples = []
    for task_id in task_ids:
        started = time.perf_counter()
        with unit_of_work(factory) as session:
            tasks.complete(session, task_id, actor=actor, data=VERIFY)
        samples.append(time.perf_counter() - started)
    with factory() as session:
        landed = session.scalar(
            select(func.count())
            .select_from(Task)
            .where(Task.bpmn_id == "decide_filing", Task.state == TaskState.OPEN)
        )
    if landed != len(task_ids):
        warn(f"{landed} of {len(task_ids)} completions landed on decide_filing")
    return samples[WARMUP:]


def completion_figures(url: str, n: int, *, bare: bool) -> Completion:
    """Start n (+ warm-up) cases, optionally time the bare SpiffWorkflow step on them, then time
    the engine's completions of the same tasks."""
    db = fresh_database(url)
    factory = make_session_factory(db)
    with factory() as session:
        actor = actor_for(session, "officer1")
    task_ids, start = start_instances(factory, actor, n + WARMUP)
    step, round_trip = bare_step_seconds(factory, actor, task_ids) if bare else ([], [])
    engine = engine_step_seconds(factory, actor, task_ids)
    db.dispose()
    return Completion(step, round_trip, engine, start)


# --- 2. inbox and overdue list ----------------------------------------------------------------

# (role, bpmn id, name, share of open tasks in %)
OPEN_KINDS = [
    ("officer", "verify_clue", "核查线索", 40),
    ("section_chief", "decide_filing", "立案审批", 20),
    ("legal_reviewer", "legal_review", "法制审核", 15),
    ("director", "approve_decision", "负责人审批", 10),
    ("discussion_member", "collective_discussion", "集体讨论", 10),
    ("hearing_officer", "hold_hearing", "组织听证", 5),
]
ASSIGNEES = {
    "officer": [f"officer{i}" for i in range(1, 21)],
    "section_chief": ["chief"],
    "legal_reviewer": ["legal"],
    "director": ["director"],
    "discussion_member": ["member1", "member2", "member3"],
    "hearing_officer": ["hearing"],
}
ASSIGNED_SHARE = {"officer": 0.5}  # the rest of each role: 0.3; unassigned tasks are group tasks


# 1 700 institutions (a district's 定点医药机构): a party filter matches one of them, or a handful.
PARTIES = [f"重庆市渝北区{kind}{i}" for i in range(1, 851) for kind in ("某某医院第", "某某大药房第")]


def case_rows(n: int, rng: random.Random) -> Iterator[list[dict[str, Any]]]:
    """One case record per instance, against a party drawn from PARTIES, in batches."""
    for first in range(0, n, SEED_BATCH):
        batch = []
        for serial in range(first, min(n, first + SEED_BATCH)):
            unit = "yubei" if rng.random() < 0.9 else "jiangbei"
            batch.append(
                {
                    "number": f"渝北医保立〔2025〕{serial + 1}号",
                    "title": "串换药品",
                    "party_name": rng.choice(PARTIES),
                    "party_type": "institution",
                    "unit_code": unit,
                    "stage": "调查取证",
                    "status": "open",
                    "kind": "penalty_case",
                    "opened_at": NOW - timedelta(days=rng.uniform(1, 120)),
                }
            )
        yield batch


def instance_rows(definition_id: int, cases: Sequence[Any]) -> Iterator[list[dict[str, Any]]]:
    """Running penalty cases in batches, one per case record (id, unit_code, opened_at). `state`
    is a placeholder: listing never deserializes it."""
    for first in range(0, len(cases), SEED_BATCH):
        yield [
            {
                "definition_id": definition_id,
                "process_key": "penalty_case",
                "spec_pins": {"penalty_case": definition_id},
                "case_id": case.id,
                "unit_code": case.unit_code,
                "status": "running",
                "state": "{}",
                "serializer_version": runtime.SERIALIZER_VERSION,
                "lock_version": 1,
                "next_timer_at": None,
                "started_at": case.opened_at,
                "started_by": "officer1",
                "updated_at": case.opened_at,
            }
            for case in cases[first : first + SEED_BATCH]
        ]


def task_rows(
    instance_units: Sequence[tuple[int, str, int]], per_instance: int, rng: random.Random
) -> Iterator[list[dict[str, Any]]]:
    """Per instance (id, unit, case id), per_instance - 1 completed tasks then one open task, in batches."""
    roles = [kind for kind in OPEN_KINDS for _ in range(kind[3])]
    batch: list[dict[str, Any]] = []
    serial = 0
    for instance_id, unit, case_id in instance_units:
        for k in range(per_instance):
            serial += 1
            role, bpmn_id, name, _ = rng.choice(roles)
            assigned = rng.random() < ASSIGNED_SHARE.get(role, 0.3)
            assignee = rng.choice(ASSIGNEES[role]) if assigned else None
            if unit != "yubei" and assignee:
                assignee = f"jb-{assignee}"
            created = NOW - timedelta(days=rng.uniform(0, 60))
            is_open = k == per_instance - 1
            due = None if rng.random() < 0.1 else NOW + timedelta(days=rng.uniform(-20, 40))
            if not is_open:
                assignee = assignee or rng.choice(ASSIGNEES[role])
            batch.append(
                {
                    "instance_id": instance_id,
                    "case_id": case_id,
                    "spiff_task_id": str(uuid.UUID(int=serial)),
                    "process_key": "penalty_case",
                    "bpmn_id": bpmn_id,
                    "name": name,
                    "role": role,
                    "candidate_groups": [role],
                    "candidate_users": [],
                    "assignee": assignee,
                    "unit_code": unit,
                    "state": TaskState.OPEN if is_open else TaskState.COMPLETED,
                    "priority": 50,
                    "created_at": created,
                    "due_at": due,
                    "due_unverified": False,
                    "completed_at": None if is_open else created + timedelta(hours=rng.uniform(1, 72)),
                    "completed_by": None if is_open else assignee,
                    "outcome": None if is_open else "file",
                    "form_data": None if is_open else {"opinion": "同意"},
                }
            )
            if len(batch) == SEED_BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def seed_worklists(db: Engine, scale: Scale) -> int:
    """Bulk-insert the case records, instances, task rows and the open tasks' candidate groups;
    returns open tasks."""
    rng = random.Random(20250303)
    with db.connect() as conn:
        definition_id = conn.scalar(select(Definition.id).where(Definition.key == "penalty_case"))
    assert definition_id is not None
    for batch in case_rows(scale.instances, rng):
        with db.begin() as conn:
            conn.execute(insert(Case), batch)
    with db.connect() as conn:
        cases = conn.execute(select(Case.id, Case.unit_code, Case.opened_at).order_by(Case.id)).all()
    for batch in instance_rows(definition_id, cases):
        with db.begin() as conn:
            conn.execute(insert(ProcessInstance), batch)
    with db.connect() as conn:
        units = conn.execute(
            select(ProcessInstance.id, ProcessInstance.unit_code, ProcessInstance.case_id).order_by(
                ProcessInstance.id
            )
        )
        instance_units = [(row.id, row.unit_code or "", row.case_id) for row in units]
    for batch in task_rows(instance_units, scale.task_rows // scale.instances, rng):
        with db.begin() as conn:
            conn.execute(insert(Task), batch)
    with db.connect() as conn:
        open_tasks = conn.execute(select(Task.id, Task.role).where(Task.state == TaskState.OPEN)).all()
    for first in range(0, len(open_tasks), SEED_BATCH):
        with db.begin() as conn:
            rows = [
                {"group_code": role, "task_id": tid} for tid, role in open_tasks[first : first + SEED_BATCH]
            ]
            conn.execute(insert(TaskGroup), rows)
    return len(open_tasks)


def time_query(factory: sessionmaker[Session], query: Callable[[Session], list[Task]]) -> list[float]:
    """Seconds per call, each in a fresh session, after a few warm-up calls."""
    samples = []
    for run in range(LIST_WARMUP + LIST_RUNS):
        with factory() as session:
            started = time.perf_counter()
            rows = query(session)
            elapsed = time.perf_counter() - started
        if len(rows) != PAGE:
            warn(f"a list returned {len(rows)} rows, not a full page of {PAGE}")
        if run >= LIST_WARMUP:
            samples.append(elapsed)
    return samples


@dataclass(frozen=True)
class Lists:
    inbox: list[float]
    overdue: list[float]
    seed_s: float
    open_tasks: int
    inbox_total: int
    overdue_total: int


def list_figures(url: str, scale: Scale) -> Lists:
    """Seed the worklists in bulk, ANALYZE, then time officer1's inbox and the overdue list."""
    db = fresh_database(url)
    started = time.perf_counter()
    open_count = seed_worklists(db, scale)
    analyze(db)
    seed_s = time.perf_counter() - started
    factory = make_session_factory(db)
    with factory() as session:
        actor = actor_for(session, "officer1")
        inbox_total = session.scalar(select(func.count()).select_from(tasks.inbox_query(actor).subquery()))
        overdue_total = session.scalar(
            select(func.count()).select_from(Task).where(Task.state == TaskState.OPEN, Task.due_at < NOW)
        )
    inbox = time_query(factory, lambda s: tasks.list_open(s, actor=actor, limit=PAGE))
    overdue = time_query(factory, lambda s: tasks.list_overdue(s, limit=PAGE))
    db.dispose()
    return Lists(inbox, overdue, seed_s, open_count, inbox_total or 0, overdue_total or 0)


# --- 3. due timers ----------------------------------------------------------------------------


def waiting_template(db: Engine, factory: sessionmaker[Session]) -> dict[str, Any]:
    """Deploy the PT1H timer process and start one instance; returns its row without the id. The
    instance itself is then taken off the timer queue, so that only clones of it fire."""
    with unit_of_work(factory) as session:
        registry.deploy(session, [registry.Upload("wait.bpmn", TIMER_BPMN.encode())], actor="bench")
        template_id = instances.start(session, "wait_then_act", actor=SYSTEM).id
    table = ProcessInstance.__table__
    with db.begin() as conn:
        row = dict(conn.execute(select(table).where(table.c.id == template_id)).mappings().one())
        conn.execute(update(table).where(table.c.id == template_id).values(next_timer_at=None))
    del row["id"]
    return row


def clone_waiting_instance(db: Engine, template: dict[str, Any], n: int, label: str) -> list[int]:
    """n copies of an instance waiting on its timer (same state, pins, definition, next_timer_at):
    legitimate because every instance's state is identical at that point. `label` marks the batch."""
    table = ProcessInstance.__table__
    row = dict(template, started_by=label)
    for first in range(0, n, SEED_BATCH):
        with db.begin() as conn:
            conn.execute(insert(table), [dict(row) for _ in range(min(SEED_BATCH, n - first))])
    analyze(db)
    with db.connect() as conn:
        return list(conn.scalars(select(table.c.id).where(table.c.started_by == label)))


@dataclass(frozen=True)
class TimerRun:
    how: str
    size: int  # instances in the batch
    seconds: float
    handled: int
    fired_events: int
    created_tasks: int
    per_scheduler: list[int]
    errors: list[str]

    @property
    def exactly_once(self) -> bool:
        return not self.errors and self.handled == self.fired_events == self.created_tasks == self.size


def in_threads(factory: sessionmaker[Session], workers: int) -> tuple[float, list[list[int]], list[str]]:
    """`workers` threads of this process each run timers.fire_due until nothing is due."""
    handled: list[list[int]] = [[] for _ in range(workers)]
    errors: list[str] = []

    def work(slot: int) -> None:
        try:
            handled[slot] = timers.fire_due(factory)
        except Exception as exc:  # reported, not raised: the figure is still printed
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, handled, errors


def scheduler_process(url: str, now: datetime, ready: Any, go: Any, results: Any) -> None:
    """One scheduler in its own process, as production runs `ybjg scheduler` more than once."""
    clock.set(now)
    db = make_engine(url)
    ready.put(None)
    go.wait()
    try:
        results.put((timers.fire_due(make_session_factory(db)), None))
    except Exception as exc:
        results.put(([], f"{type(exc).__name__}: {exc}"))
    db.dispose()


def in_processes(url: str, workers: int) -> tuple[float, list[list[int]], list[str]]:
    """`workers` processes each run timers.fire_due; timed from when all have started up."""
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=scheduler_process, args=(url, clock.now(), ready, go, results))
        for _ in range(workers)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get()
    started = time.perf_counter()
    go.set()
    outcomes = [results.get() for _ in procs]
    seconds = time.perf_counter() - started
    for proc in procs:
        proc.join()
    return seconds, [ids for ids, _ in outcomes], [error for _, error in outcomes if error]


def check_batch(
    factory: sessionmaker[Session],
    label: str,
    ids: Sequence[int],
    how: str,
    outcome: tuple[float, list[list[int]], list[str]],
) -> TimerRun:
    """The exactly-once check of one batch: ids handled, timer.fire audit events, task rows."""
    seconds, handled, errors = outcome
    everything = [i for part in handled for i in part]
    if sorted(everything) != sorted(ids):
        errors.append(
            f"fire_due handled {len(everything)} ids ({len(set(everything))} distinct), not {len(ids)}"
        )
    batch = select(ProcessInstance.id).where(ProcessInstance.started_by == label)
    with factory() as session:
        fired = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "timer.fire", AuditEvent.instance_id.in_(batch))
        )
        created = session.scalar(select(func.count()).select_from(Task).where(Task.instance_id.in_(batch)))
    return TimerRun(
        how, len(ids), seconds, len(everything), fired or 0, created or 0, [len(h) for h in handled], errors
    )


def timer_figures(url: str, n: int) -> list[TimerRun]:
    """Clone a waiting instance n times and fire the batch with one scheduler thread; again with
    two threads at once; again (n/4) with two scheduler processes, as production runs them."""
    db = fresh_database(url)
    factory = make_session_factory(db)
    clock.set(NOW)
    template = waiting_template(db, factory)
    runs = []
    # Two processes run on a quarter of the batch, to stay within the time budget.
    ways: list[tuple[str, int, Callable[[], tuple[float, list[list[int]], list[str]]]]] = [
        ("one thread", n, lambda: in_threads(factory, 1)),
        ("two threads", n, lambda: in_threads(factory, 2)),
        ("two processes", max(1, n // 4), lambda: in_processes(url, 2)),
    ]
    for k, (how, size, fire) in enumerate(ways):
        label = f"bench-{k}"
        ids = clone_waiting_instance(db, template, size, label)
        clock.set(NOW + timedelta(hours=2))
        runs.append(check_batch(factory, label, ids, how, fire()))
        clock.set(NOW)
    db.dispose()
    return runs


# --- the run ----------------------------------------------------------------------------------

Figures = dict[str, float | None]
KEYS = [
    *("bare_ms", "sqlite_ms", "sqlite_ratio", "pg_ms", "pg_ratio", "inbox_ms", "overdue_ms"),
    *("timers_10k_s_one", "timers_10k_s_two", "peak_mb"),
]


def verdict(value: float, target: float, unit: str) -> str:
    return f"target <= {target:g} {unit}: {'ok' if value <= target else 'MISS'}"


def report_completions(scale: Scale, tmp: str, pg: str | None, figures: Figures) -> None:
    say(
        f"\n[1] completing verify_clue (suggestion=file), landing on decide_filing:"
        f" median (p90) of {scale.completions}"
    )
    lite = completion_figures(f"sqlite:///{tmp}/complete.sqlite3", scale.completions, bare=True)
    bare, sqlite_ms = median_ms(lite.bare), median_ms(lite.engine)
    figures.update(
        bare_ms=round(bare, 3), sqlite_ms=round(sqlite_ms, 3), sqlite_ratio=round(sqlite_ms / bare, 1)
    )
    say(f"    bare SpiffWorkflow, in memory  {bare:8.3f} ms ({p90_ms(lite.bare):.3f})")
    trip = lite.round_trip
    say(
        f"    bare + JSON restore/serialize  {median_ms(trip):8.3f} ms ({p90_ms(trip):.3f})"
        "  (runtime.load incl. its spec copy + step + runtime.dump)"
    )
    say(
        f"    engine on SQLite (file)        {sqlite_ms:8.3f} ms ({p90_ms(lite.engine):.3f})"
        f"  = {sqlite_ms / bare:.1f} x bare  [{verdict(sqlite_ms / bare, TARGET_RATIO, 'x')}]"
    )
    if pg:
        on_pg = completion_figures(pg, scale.completions, bare=False)
        pg_ms = median_ms(on_pg.engine)
        figures.update(pg_ms=round(pg_ms, 3), pg_ratio=round(pg_ms / bare, 1))
        say(
            f"    engine on PostgreSQL           {pg_ms:8.3f} ms ({p90_ms(on_pg.engine):.3f})"
            f"  = {pg_ms / bare:.1f} x bare"
        )
    say(
        f"    (set-up, not a figure: instances.start took {median_ms(lite.start):.1f} ms"
        f" ({p90_ms(lite.start):.1f}) on SQLite)"
    )


def report_lists(scale: Scale, backend: str, url: str, figures: Figures) -> None:
    say(
        f"\n[2] lists on {backend}: officer1's inbox, the overdue list; first {PAGE},"
        f" median (p90) of {LIST_RUNS}"
    )
    lists = list_figures(url, scale)
    say(
        f"    seeded {scale.instances:,} instances and {scale.task_rows:,} task rows"
        f" ({lists.open_tasks:,} open) in {lists.seed_s:.0f} s, then ANALYZE"
    )
    inbox, overdue = median_ms(lists.inbox), median_ms(lists.overdue)
    say(
        f"    inbox   ({lists.inbox_total:7,} match) {inbox:8.2f} ms ({p90_ms(lists.inbox):.2f})"
        f"  [{verdict(inbox, TARGET_LIST_MS, 'ms')}]"
    )
    say(
        f"    overdue ({lists.overdue_total:7,} match) {overdue:8.2f} ms ({p90_ms(lists.overdue):.2f})"
        f"  [{verdict(overdue, TARGET_LIST_MS, 'ms')}]"
    )
    if backend == "PostgreSQL":
        figures.update(inbox_ms=round(inbox, 2), overdue_ms=round(overdue, 2))


def report_timers(scale: Scale, pg: str, figures: Figures) -> None:
    say(f"\n[3] {scale.timers:,} due timers on PostgreSQL: timers.fire_due until none is due")
    for result in timer_figures(pg, scale.timers):
        factor = 10_000 / result.size
        per_10k = result.seconds * factor
        key = {"one thread": "timers_10k_s_one", "two threads": "timers_10k_s_two"}.get(result.how)
        if key:
            figures[key] = round(per_10k, 2)
        scaled = f" for {result.size:,} = {per_10k:.1f} s per 10,000 (linear)" if factor != 1 else ""
        say(
            f"    {result.how:13} {result.seconds:6.1f} s{scaled}, {result.seconds / result.size * 1000:.2f}"
            f" ms per timer  [{verdict(per_10k, TARGET_TIMERS_S, 's per 10,000')}]"
        )
        say(
            f"      fired per scheduler {result.per_scheduler}; 'timer.fire' audit events"
            f" {result.fired_events:,}; task rows created {result.created_tasks:,}"
        )
        for error in result.errors:
            warn(error)
        if result.exactly_once:
            say(f"      every one of the {result.size:,} instances fired exactly once")
        else:
            warn(f"{result.how}: NOT every one of the {result.size:,} instances fired exactly once")


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def run(scale: Scale, pg_url: str) -> Figures:
    """Every figure, printed as it is measured; returns the JSON figures."""
    began = time.perf_counter()
    clock.set(NOW)
    figures: Figures = dict.fromkeys(KEYS)
    say(
        f"ybjg engine benchmark: {scale.completions} completions per backend; lists over {scale.instances:,}"
        f" instances / {scale.task_rows:,} task rows; {scale.timers:,} timers"
    )
    say(f"load average before: {load()} (figures are wall times: other work on the machine inflates them)")
    pg_error = pg_problem(pg_url)
    pg = None if pg_error else normalize_url(pg_url)
    if pg_error:
        say(f"PostgreSQL not usable at {pg_url} ({pg_error}): the PostgreSQL figures are null")
    with tempfile.TemporaryDirectory(prefix="ybjg-bench-") as tmp:
        report_completions(scale, tmp, pg, figures)
        say(f"    ({time.perf_counter() - began:.0f} s so far)")
        backends = [("PostgreSQL", pg)] if pg else []
        for backend, url in [*backends, ("SQLite", f"sqlite:///{tmp}/lists.sqlite3")]:
            elapsed = time.perf_counter() - began
            if backend == "SQLite" and pg and elapsed > SQLITE_LISTS_UNTIL_S:
                say(f"\n[2] lists on SQLite: skipped, {elapsed:.0f} s gone: it would put the run past 10 min")
                continue
            report_lists(scale, backend, url, figures)
            say(f"    ({time.perf_counter() - began:.0f} s so far)")
    if pg:
        report_timers(scale, pg, figures)
    figures["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux
    say(
        f"\n[4] peak RSS {figures['peak_mb']:.1f} MB; total {time.perf_counter() - began:.0f} s;"
        f" load average after: {load()}"
    )
    clock.reset()
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ybjg engine benchmark: prints figures, asserts nothing")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object, last")
    parser.add_argument("--quick", action="store_true", help="a tenth of the seeded data, for a short run")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help=f"PostgreSQL (default {DEFAULT_PG_URL})")
    args = parser.parse_args(argv)
    figures = run(QUICK if args.quick else FULL, args.pg_url)
    if args.json:
        print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
