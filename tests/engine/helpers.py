"""Small helpers for engine tests: act as a demo user, start and complete in one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine import instances, tasks
from engine.db import unit_of_work
from engine.models import Task, TaskState
from engine.users import actor_for

CLUE = {
    "clue_source": "report",
    "party_name": "某某大药房",
    "party_type": "institution",
    "clue_summary": "举报该药房串换药品",
    "amount_involved": "12000.50",
}


def start(
    sf: sessionmaker[Session], key: str = "penalty_case", user: str = "officer1", **variables: Any
) -> int:
    with unit_of_work(sf) as s:
        return instances.start(s, key, actor=actor_for(s, user), variables=variables or CLUE).id


def open_tasks(sf: sessionmaker[Session], instance_id: int) -> list[Task]:
    with sf() as s:
        return list(
            s.scalars(
                select(Task)
                .where(Task.instance_id == instance_id, Task.state == TaskState.OPEN)
                .order_by(Task.id)
            )
        )


def only_task(sf: sessionmaker[Session], instance_id: int, bpmn_id: str) -> Task:
    matching = [t for t in open_tasks(sf, instance_id) if t.bpmn_id == bpmn_id]
    assert len(matching) == 1, [t.bpmn_id for t in open_tasks(sf, instance_id)]
    return matching[0]


def complete(sf: sessionmaker[Session], task_id: int, user: str, **data: Any) -> None:
    with unit_of_work(sf) as s:
        tasks.complete(s, task_id, actor=actor_for(s, user), data=data)
