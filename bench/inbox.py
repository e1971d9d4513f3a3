"""The 待办 page's query at 100 000 open instances: prints figures, asserts nothing.

Seeds 100 000 running instances and 1 000 000 task rows in bulk (bench/engine.py's seeding), then
times engine.inbox.inbox — filtered, counted and paged, exactly what the inbox page runs — for
officer1's first page: plain (sorted by due date), filtered to overdue tasks, filtered to one
process sorted by creation, and filtered by party (one of the 1 700 institutions; a word half of
them share). Median and p95 over 40 calls, each in a fresh session, SQLite and
PostgreSQL. Usage: .venv/bin/python -m bench.inbox [--quick] [--pg-url postgresql://…/ybjg_bench_x]"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.engine import FULL, NOW, QUICK, Scale, analyze, fresh_database, pg_problem, say, seed_worklists
from engine import inbox
from engine.clock import clock
from engine.db import make_session_factory
from engine.users import actor_for

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/ybjg_bench"
RUNS, WARMUP, PER_PAGE, TARGET_MS = 40, 5, 20, 100.0
VARIANTS = {
    "first page, by due date": inbox.InboxFilter(),
    "overdue only": inbox.InboxFilter(due="overdue"),
    "one process, by creation": inbox.InboxFilter(process="penalty_case", sort="created"),
    "one party": inbox.InboxFilter(party="某某医院第777"),
    "party, half of them": inbox.InboxFilter(party="大药房"),
}


def time_variant(factory, actor, f: inbox.InboxFilter) -> tuple[list[float], int]:  # type: ignore[no-untyped-def]
    samples, total = [], 0
    for run in range(WARMUP + RUNS):
        with factory() as session:
            started = time.perf_counter()
            page = inbox.inbox(session, actor, f, page=1, per_page=PER_PAGE)
            elapsed = time.perf_counter() - started
        total = page.total
        if run >= WARMUP:
            samples.append(elapsed)
    return samples, total


def figures(label: str, url: str, scale: Scale) -> None:
    db = fresh_database(url)
    started = time.perf_counter()
    open_tasks = seed_worklists(db, scale)
    analyze(db)
    say(f"{label}: seeded {scale.instances} instances, {scale.task_rows} task rows ({open_tasks} open) "
        f"in {time.perf_counter() - started:.0f} s")  # fmt: skip
    factory = make_session_factory(db)
    with factory() as session:
        actor = actor_for(session, "officer1")
    for name, f in VARIANTS.items():
        samples, total = time_variant(factory, actor, f)
        median = statistics.median(samples) * 1000
        p95 = statistics.quantiles(samples, n=20)[-1] * 1000
        verdict = "within" if p95 < TARGET_MS else "OVER"
        say(f"  {name:<26} total {total:>6}  median {median:6.1f} ms  p95 {p95:6.1f} ms  "
            f"({verdict} the {TARGET_MS:.0f} ms target)")  # fmt: skip
    db.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="待办 page query benchmark: prints figures, asserts nothing")
    parser.add_argument("--quick", action="store_true", help="a tenth of the seeded data")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help=f"PostgreSQL (default {DEFAULT_PG_URL})")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one database only")
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    clock.set(NOW)
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as tmp:
            figures("SQLite", f"sqlite:///{Path(tmp) / 'inbox.db'}", scale)
    if args.only != "sqlite":
        problem = pg_problem(args.pg_url)
        if problem:
            say(f"PostgreSQL skipped: {problem}")
        else:
            figures("PostgreSQL", args.pg_url, scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())
