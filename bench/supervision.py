"""Supervision benchmark: the 超期督办 board's response time with 100 000 open instances (one open
task and one running legal clock each, bulk-inserted, then projected into deadline_items as the Alembic
revision back-fills it), on SQLite and PostgreSQL, and the 统计分析 dashboard's figures. Prints
figures, asserts nothing; the target is printed beside them.

    .venv/bin/python bench/supervision.py [--quick] [--only board|dashboard] [--pg-url URL]

The PostgreSQL database (default ybjg_bench_c1) is created when missing and its public schema is
dropped and re-created: the script refuses a database whose name lacks "bench"."""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench")]

from sqlalchemy import Engine, insert, select  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from engine import deadlines, supervision  # noqa: E402
from engine.clock import clock  # noqa: E402
from engine.db import make_session_factory  # noqa: E402
from engine.models import Case, Definition, LegalClock, ProcessInstance, Task, TaskGroup  # noqa: E402

# bench/engine.py's database helpers (fresh_database, pg_problem, analyze, NOW), loaded by path: its
# module name would shadow the `engine` package.
_spec = importlib.util.spec_from_file_location("bench_engine", ROOT / "bench" / "engine.py")
assert _spec is not None and _spec.loader is not None
bench_engine = importlib.util.module_from_spec(_spec)
sys.modules["bench_engine"] = bench_engine  # dataclasses look their module up there
_spec.loader.exec_module(bench_engine)

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/ybjg_bench_c1"
NOW = bench_engine.NOW
BATCH = 10_000
RUNS, WARMUP = 20, 3
TARGET_MS = 100.0
STAGES = ["线索核查", "调查取证", "审查", "告知", "决定", "执行"]
TASKS = [
    ("verify_clue", "核查线索"),
    ("investigate", "调查取证"),
    ("review_case", "审查"),
    ("decide", "作出决定"),
]
OFFICERS = ["officer1", "officer2", "officer3", None]


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def seed_board(db: Engine, n: int) -> None:
    """n cases of ~1 700 institutions, each with a running penalty_case instance, one open task and
    one running 办案 clock; due instants spread from 20 days ago to 40 days ahead."""
    rng = random.Random(20250303)
    with db.connect() as conn:
        definition_id = conn.scalar(select(Definition.id).where(Definition.key == "penalty_case"))
    institutions = [f"渝北区第{i}医药机构" for i in range(1700)]

    def cases() -> Iterator[dict[str, Any]]:
        for i in range(n):
            yield {
                "number": f"渝北医保立〔2025〕{i + 1}号",
                "party_name": rng.choice(institutions),
                "unit_code": "yubei",
                "stage": rng.choice(STAGES),
                "opened_at": NOW - timedelta(days=30),
            }

    for batch in _batches(cases()):
        with db.begin() as conn:
            conn.execute(insert(Case), batch)
    with db.connect() as conn:
        case_ids = list(conn.scalars(select(Case.id).order_by(Case.id)))

    def instances() -> Iterator[dict[str, Any]]:
        for case_id in case_ids:
            yield {
                "definition_id": definition_id,
                "process_key": "penalty_case",
                "spec_pins": {"penalty_case": definition_id},
                "case_id": case_id,
                "unit_code": "yubei",
                "status": "running",
                "state": "{}",
                "serializer_version": "1",
                "lock_version": 1,
                "started_at": NOW - timedelta(days=30),
                "started_by": rng.choice(OFFICERS[:3]),
                "updated_at": NOW,
            }

    for batch in _batches(instances()):
        with db.begin() as conn:
            conn.execute(insert(ProcessInstance), batch)
    with db.connect() as conn:
        pairs = conn.execute(
            select(ProcessInstance.id, ProcessInstance.case_id).order_by(ProcessInstance.id)
        ).all()

    def due() -> Any:
        return NOW + timedelta(days=rng.uniform(-20, 40))

    def tasks() -> Iterator[dict[str, Any]]:
        for serial, (instance_id, case_id) in enumerate(pairs):
            bpmn_id, name = rng.choice(TASKS)
            yield {
                "instance_id": instance_id,
                "case_id": case_id,
                "spiff_task_id": f"{serial:036d}",
                "process_key": "penalty_case",
                "bpmn_id": bpmn_id,
                "name": name,
                "stage": rng.choice(STAGES),
                "role": "officer",
                "candidate_groups": ["officer"],
                "candidate_users": [],
                "assignee": rng.choice(OFFICERS),
                "unit_code": "yubei",
                "state": "open",
                "priority": 50,
                "created_at": NOW - timedelta(days=5),
                "due_at": due(),
                "due_unverified": False,
            }

    for batch in _batches(tasks()):
        with db.begin() as conn:
            conn.execute(insert(Task), batch)
    with db.connect() as conn:
        task_ids = list(conn.scalars(select(Task.id)))
    for first in range(0, len(task_ids), BATCH):
        with db.begin() as conn:
            conn.execute(
                insert(TaskGroup),
                [{"group_code": "officer", "task_id": t} for t in task_ids[first : first + BATCH]],
            )

    def clocks() -> Iterator[dict[str, Any]]:
        for instance_id, case_id in pairs:
            yield {
                "instance_id": instance_id,
                "case_id": case_id,
                "name": "办案",
                "started_at": NOW - timedelta(days=30),
                "amount": 90,
                "unit": "days",
                "extended": 0,
                "suspensions": [],
                "status": "running",
                "due_at": due(),
                "due_unverified": False,
                "history": [],
            }

    for batch in _batches(clocks()):
        with db.begin() as conn:
            conn.execute(insert(LegalClock), batch)
    with db.begin() as conn:  # the board's projection, as revision 0009 back-fills it
        deadlines.rebuild(conn)


def timed(factory: sessionmaker[Session], call: Callable[[Session], object]) -> list[float]:
    samples = []
    for run in range(WARMUP + RUNS):
        with factory() as session:
            started = time.perf_counter()
            call(session)
            elapsed = time.perf_counter() - started
        if run >= WARMUP:
            samples.append(elapsed)
    return samples


def board_page(f: supervision.BoardFilter, group: supervision.GroupBy) -> Callable[[Session], object]:
    """What the board page asks: one page of 50 rows, the total, and the counts of one group."""

    def call(session: Session) -> object:
        rows, total = supervision.board(session, f, limit=50)
        return rows, total, supervision.counts(session, f, group)

    return call


def board_figures(url: str, n: int) -> dict[str, list[float]]:
    """Seed n open instances at `url` and time the board as a supervisor of the bureau reads it."""
    db = bench_engine.fresh_database(url)
    started = time.perf_counter()
    seed_board(db, n)
    bench_engine.analyze(db)
    seconds = time.perf_counter() - started
    print(f"  seeded {n} cases, instances, open tasks and running clocks in {seconds:.0f} s")
    factory = make_session_factory(db)
    clock.set(NOW)
    try:
        with factory() as session:
            _, total = supervision.board(session, supervision.BoardFilter(bureau="yubei"))
            _, overdue = supervision.board(
                session, supervision.BoardFilter(only_overdue=True, bureau="yubei")
            )
        print(f"  on the board (due within 3 working days): {total}, of which overdue: {overdue}")
        cases = {
            "board, 3 working days, by officer": board_page(
                supervision.BoardFilter(bureau="yubei"), "officer"
            ),
            "board, overdue only, by institution": board_page(
                supervision.BoardFilter(only_overdue=True, bureau="yubei"), "institution"
            ),
            "board, one officer, by stage": board_page(
                supervision.BoardFilter(officer="officer2", bureau="yubei"), "stage"
            ),
        }
        return {label: timed(factory, call) for label, call in cases.items()}
    finally:
        clock.reset()
        db.dispose()


def report(backend: str, figures: dict[str, list[float]]) -> None:
    for label, samples in figures.items():
        median = statistics.median(samples) * 1000
        p90 = statistics.quantiles(samples, n=10)[-1] * 1000
        verdict = "meets" if median <= TARGET_MS else "MISSES"
        target = f"({verdict} ≤ {TARGET_MS:.0f} ms)"
        print(f"  {backend:10s} {label:38s} median {median:7.1f} ms  p90 {p90:7.1f} ms  {target}")


# --- 统计分析 dashboard (engine/statistics.py) ------------------------------------------------------

VIOLATIONS = ["重复开药", "超标准收费", "分解住院", "串换项目", "冒名就医", "挂床住院", "虚假就医"]
INSTITUTION_TYPES = ["public_hospital", "private_hospital", "primary_care", "clinic", "pharmacy"]
CASE_STATUSES = ["open"] * 5 + ["closed"] * 3 + ["clue", "not_filed", "referred"]
DONE_STAGES = ["线索核查", "立案审批", "调查取证", "审查"]


def seed_statistics(db: Engine, n: int) -> None:
    """n penalty cases opened over 2024 (types, institutions, amounts, flags varied), each with a
    running instance, its four earlier stages' completed tasks and one open task: 5 n task rows."""
    rng = random.Random(20240101)
    with db.connect() as conn:
        definition_id = conn.scalar(select(Definition.id).where(Definition.key == "penalty_case"))
    year_start = NOW.replace(year=2024, month=1, day=1)

    def cases() -> Iterator[dict[str, Any]]:
        for i in range(n):
            decided = rng.random() < 0.6
            recovery = rng.randrange(1_000, 200_000)
            yield {
                "number": f"渝北医保立〔2024〕{i + 1}号",
                "party_name": f"渝北区第{rng.randrange(1700)}医药机构",
                "party_type": "institution" if rng.random() < 0.9 else "person",
                "institution_type": rng.choice(INSTITUTION_TYPES),
                "clue_source": rng.choice(["inspection", "report", "smart"]),
                "kind": "penalty_case",
                "unit_code": "yubei",
                "stage": rng.choice(STAGES),
                "status": rng.choice(CASE_STATUSES),
                "outcome": "行政处罚" if decided else "",
                "violation_types": rng.sample(VIOLATIONS, rng.randint(1, 2)),
                "amount_involved": recovery,
                "amount_recovered": recovery if decided else None,
                "fine": recovery * 3 if decided else None,
                "liquidated_damages": rng.choice([0, 0, 5_000]) if decided else None,
                "legal_review": decided and rng.random() < 0.3,
                "collective_discussion": decided and rng.random() < 0.1,
                "published": decided,
                "referral_destination": "公安机关" if rng.random() < 0.02 else "",
                "opened_at": year_start + timedelta(days=rng.uniform(0, 365)),
            }

    for batch in _batches(cases()):
        with db.begin() as conn:
            conn.execute(insert(Case), batch)
    with db.connect() as conn:
        opened = conn.execute(select(Case.id, Case.opened_at).order_by(Case.id)).all()
    for first in range(0, len(opened), BATCH):
        with db.begin() as conn:
            rows = [
                {
                    "definition_id": definition_id,
                    "process_key": "penalty_case",
                    "spec_pins": {"penalty_case": definition_id},
                    "case_id": case_id,
                    "unit_code": "yubei",
                    "status": "running",
                    "state": "{}",
                    "serializer_version": "1",
                    "lock_version": 1,
                    "started_at": at,
                    "started_by": "officer1",
                    "updated_at": at,
                }
                for case_id, at in opened[first : first + BATCH]
            ]
            conn.execute(insert(ProcessInstance), rows)
    with db.connect() as conn:
        pairs = conn.execute(
            select(ProcessInstance.id, ProcessInstance.case_id, ProcessInstance.started_at)
        ).all()

    def tasks() -> Iterator[dict[str, Any]]:
        for serial, (instance_id, case_id, started) in enumerate(pairs):
            at = started
            for step, stage in enumerate([*DONE_STAGES, rng.choice(STAGES)]):
                done = at + timedelta(days=rng.uniform(0.5, 12))
                last = step == len(DONE_STAGES)
                yield {
                    "instance_id": instance_id,
                    "case_id": case_id,
                    "spiff_task_id": f"{serial:030d}{step:06d}",
                    "process_key": "penalty_case",
                    "bpmn_id": f"step_{step}",
                    "name": stage,
                    "stage": stage,
                    "role": "officer",
                    "candidate_groups": ["officer"],
                    "candidate_users": [],
                    "assignee": "officer1",
                    "unit_code": "yubei",
                    "state": "open" if last else "completed",
                    "priority": 50,
                    "created_at": at,
                    "due_at": at + timedelta(days=10),
                    "due_unverified": False,
                    "completed_at": None if last else done,
                    "completed_by": None if last else "officer1",
                }
                at = done

    for batch in _batches(tasks()):
        with db.begin() as conn:
            conn.execute(insert(Task), batch)


def dashboard_figures(url: str, n: int) -> dict[str, list[float]]:
    """Seed n open penalty cases at `url` and time the dashboard's figures for 2024 and for a month."""
    from datetime import date

    from engine import statistics as stats
    from integrations import charts

    db = bench_engine.fresh_database(url)
    started = time.perf_counter()
    seed_statistics(db, n)
    bench_engine.analyze(db)
    print(f"  seeded {n} cases, instances and {5 * n} task rows in {time.perf_counter() - started:.0f} s")
    factory = make_session_factory(db)
    year = stats.Scope(date(2024, 1, 1), date(2024, 12, 31), "yubei")
    month = stats.Scope(date(2024, 6, 1), date(2024, 6, 30), "yubei")
    try:
        with factory() as session:
            figures = stats.compute(session, year)
            print(
                f"  2024: {figures.value('penalty_cases')} penalty cases, fines {figures.value('fines')} 元"
            )
            started = time.perf_counter()
            for table in figures.tables:
                charts.chart_png(table)
            print(f"  the page's {len(figures.tables)} charts draw in {time.perf_counter() - started:.2f} s")
        cases = {
            "dashboard figures, 2024": lambda s: stats.compute(s, year),
            "dashboard figures, June 2024": lambda s: stats.compute(s, month),
        }
        return {label: timed(factory, call) for label, call in cases.items()}
    finally:
        db.dispose()


def report_dashboard(backend: str, figures: dict[str, list[float]]) -> None:
    for label, samples in figures.items():
        median = statistics.median(samples) * 1000
        p90 = statistics.quantiles(samples, n=10)[-1] * 1000
        print(f"  {backend:10s} {label:38s} median {median:7.1f} ms  p90 {p90:7.1f} ms")


def dashboard(n: int, pg_url: str) -> None:
    print(f"统计分析 dashboard with {n} open penalty cases")
    with tempfile.TemporaryDirectory() as tmp:
        report_dashboard("SQLite", dashboard_figures(f"sqlite:///{tmp}/bench.sqlite3", n))
    problem = bench_engine.pg_problem(pg_url)
    if problem:
        print(f"  PostgreSQL skipped: {problem}")
    else:
        report_dashboard("PostgreSQL", dashboard_figures(pg_url, n))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/supervision.py")
    parser.add_argument("--quick", action="store_true", help="10 000 instances instead of 100 000")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--only", choices=["board", "dashboard"], help="run one part")
    args = parser.parse_args(argv)
    if args.only == "dashboard":
        dashboard(10_000 if args.quick else 100_000, args.pg_url)
        return 0
    n = 10_000 if args.quick else 100_000
    print(f"超期督办 board with {n} open instances (target ≤ {TARGET_MS:.0f} ms)")
    with tempfile.TemporaryDirectory() as tmp:
        report("SQLite", board_figures(f"sqlite:///{tmp}/bench.sqlite3", n))
    problem = bench_engine.pg_problem(args.pg_url)
    if problem:
        print(f"  PostgreSQL skipped: {problem}")
    else:
        report("PostgreSQL", board_figures(args.pg_url, n))
    if args.only is None:
        dashboard(n, args.pg_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
