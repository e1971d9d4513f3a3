"""The 待办 query equals a plain Python reading of the same rows: for random tasks (assigned or not,
several candidate groups, in the officer's bureau, another or none, with and without a due date,
open or completed), every filter, every sort and every page, including past the last one."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from engine import inbox
from engine.clock import clock, utcnow
from engine.db import unit_of_work
from engine.models import Case, Definition, ProcessInstance, Task, TaskGroup, TaskState
from engine.users import Actor

NOW = utcnow().replace(microsecond=0)
PARTIES = ["重庆某某医院", "渝北某药房", "某社区卫生服务中心"]
ROLES = ["officer", "legal_reviewer", "section_chief"]


def seed(session: Session, rng: random.Random, n: int = 240) -> None:
    definition_id = session.scalar(select(Definition.id).where(Definition.key == "penalty_case"))
    cases = []
    for i, party in enumerate(PARTIES):
        case = Case(number=f"渝北医保立〔2026〕{i + 1}号", party_name=party, unit_code="yubei")
        session.add(case)
        cases.append(case)
    session.flush()
    instance_id = session.scalar(
        insert(ProcessInstance)
        .values(
            definition_id=definition_id, process_key="penalty_case", spec_pins={}, unit_code="yubei",
            state="{}", serializer_version="test", started_by="officer1",
        )
        .returning(ProcessInstance.id)
    )  # fmt: skip
    for serial in range(n):
        groups = rng.sample(ROLES, rng.choice([1, 1, 2]))
        task = Task(
            instance_id=instance_id,
            case_id=rng.choice([None, *(c.id for c in cases)]),
            spiff_task_id=f"t{serial}",
            process_key=rng.choice(["penalty_case", "legal_review", "ledger_clearance"]),
            bpmn_id=f"task_{serial}",
            name=f"任务{serial}",
            stage=rng.choice(["", "立案", "调查", "审查"]),
            role=groups[0],
            candidate_groups=groups,
            assignee=rng.choice([None, None, "officer1", "officer2"]),
            unit_code=rng.choice([None, "yubei", "yubei", "jiangbei"]),
            state=TaskState.OPEN if rng.random() < 0.8 else TaskState.COMPLETED,
            priority=rng.choice([30, 50, 50, 90]),
            created_at=NOW - timedelta(hours=rng.randrange(2000)),
            due_at=None if rng.random() < 0.15 else NOW + timedelta(hours=rng.randrange(-300, 300)),
        )
        session.add(task)
        session.flush()
        if task.state == TaskState.OPEN:
            session.add_all(TaskGroup(group_code=g, task_id=task.id) for g in groups)


def expected(session: Session, actor: Actor, f: inbox.InboxFilter) -> list[int]:
    """Every open task the actor may see, filtered and sorted in Python."""
    groups: dict[int, set[str]] = {}
    for group in session.scalars(select(TaskGroup)):
        groups.setdefault(group.task_id, set()).add(group.group_code)
    parties = {c.id: (c.party_name, c.number or "") for c in session.scalars(select(Case))}
    now, soon = utcnow(), utcnow() + inbox.SOON
    rows = []
    for t in session.scalars(select(Task)):
        mine = t.assignee == actor.username
        claimable = t.assignee is None and bool(groups.get(t.id, set()) & actor.roles) and not f.mine_only
        in_bureau = actor.bureau is None or t.unit_code in (None, actor.bureau)
        if t.state != TaskState.OPEN or not (mine or claimable) or not in_bureau:
            continue
        if f.process and t.process_key not in f.process.split(","):
            continue
        if f.stage and t.stage != f.stage:
            continue
        due = t.due_at
        if f.due == "overdue" and not (due is not None and due < now):
            continue
        if f.due == "soon" and not (due is not None and now <= due < soon):
            continue
        if f.due == "later" and not (due is None or due >= soon):
            continue
        if f.party and not (t.case_id in parties and any(f.party in text for text in parties[t.case_id])):
            continue
        rows.append(t)
    far = NOW + timedelta(days=10_000)
    keys: dict[str, Any] = {
        "due": lambda t: (t.due_at is None, t.due_at or far, t.id),
        "-priority": lambda t: (-t.priority, t.due_at is None, t.due_at or far, t.id),
        "created": lambda t: (t.created_at, t.id),
        "-created": lambda t: (-t.created_at.timestamp(), -t.id),
    }
    return [t.id for t in sorted(rows, key=keys[f.sort])]


FILTERS = [
    inbox.InboxFilter(),
    inbox.InboxFilter(mine_only=True),
    inbox.InboxFilter(due="overdue"),
    inbox.InboxFilter(due="soon", sort="-priority"),
    inbox.InboxFilter(due="later", sort="created"),
    inbox.InboxFilter(process="legal_review,ledger_clearance", sort="-created"),
    inbox.InboxFilter(stage="调查", due="overdue"),
    inbox.InboxFilter(party="药房"),
    inbox.InboxFilter(party="渝北医保立〔2026〕1号", sort="-priority"),
    inbox.InboxFilter(party="某_医院"),  # no wildcard: matches nothing
]
ACTORS = [
    Actor("officer1", frozenset({"officer"}), "yubei"),
    Actor("officer2", frozenset({"officer", "legal_reviewer"}), "yubei"),
    Actor("chief", frozenset({"section_chief"}), None),  # no bureau: every unit
]


@pytest.fixture
def tasks_seeded(seeded: sessionmaker[Session]) -> sessionmaker[Session]:
    with unit_of_work(seeded) as session:
        seed(session, random.Random(20261123))
    clock.set(NOW)
    return seeded


@pytest.mark.parametrize("f", FILTERS, ids=lambda f: repr(f).removeprefix("InboxFilter"))
def test_every_page_equals_the_python_reading(
    tasks_seeded: sessionmaker[Session], f: inbox.InboxFilter
) -> None:
    check_every_page(tasks_seeded, f)


@pytest.mark.parametrize("party", ["药房", "渝北医保立〔2026〕1号", "医院"])
def test_a_party_matching_many_cases_reads_the_same(
    tasks_seeded: sessionmaker[Session], party: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past FEW_CASES matching cases the filter is a CTE over the case records, not their ids."""
    monkeypatch.setattr(inbox, "FEW_CASES", 0)
    check_every_page(tasks_seeded, inbox.InboxFilter(party=party, sort="-created"))


def check_every_page(factory: sessionmaker[Session], f: inbox.InboxFilter) -> None:
    with factory() as session:
        for actor in ACTORS:
            want = expected(session, actor, f)
            per_page = 7
            pages = -(-len(want) // per_page) or 1
            got: list[int] = []
            for number in range(1, pages + 2):  # one past the last page
                page = inbox.inbox(session, actor, f, page=number, per_page=per_page)
                assert page.total == len(want), (actor.username, number)
                got.extend(row.task.id for row in page.rows)
            assert got == want, actor.username


def test_rows_carry_their_case(tasks_seeded: sessionmaker[Session]) -> None:
    with tasks_seeded() as session:
        page = inbox.inbox(session, ACTORS[1], inbox.InboxFilter(party="医院"), per_page=100)
        assert page.rows
        assert {row.party_name for row in page.rows} == {"重庆某某医院"}
        assert all(row.case_number == "渝北医保立〔2026〕1号" for row in page.rows)
