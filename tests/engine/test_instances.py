"""Durability of the engine: concurrent completion, a crash mid-step, versions, listing."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine import audit, instances, messages, registry, tasks
from engine.clock import BEIJING, clock
from engine.db import unit_of_work
from engine.errors import ConcurrentUpdateError, WorkflowScriptError
from engine.models import AuditEvent, Definition, ProcessInstance, Task, TaskState
from engine.users import SYSTEM, actor_for
from engine.workflow import runtime
from tests.engine.helpers import complete, only_task, open_tasks, start


@pytest.fixture(autouse=True)
def _frozen() -> None:
    clock.set(datetime(2024, 9, 23, 10, 0, tzinfo=BEIJING))


def test_two_threads_completing_one_task_exactly_one_wins(seeded) -> None:
    instance_id = start(seeded)
    task = only_task(seeded, instance_id, "verify_clue")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def worker(user: str) -> None:
        barrier.wait()
        try:
            complete(seeded, task.id, user, verification=f"{user} 核查", suggestion="file")
            outcomes.append("ok")
        except ConcurrentUpdateError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=worker, args=(u,)) for u in ("officer1", "officer2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    with seeded() as s:
        rows = s.scalars(select(Task).where(Task.instance_id == instance_id).order_by(Task.id)).all()
        assert [(r.bpmn_id, r.state) for r in rows] == [
            ("verify_clue", TaskState.COMPLETED),
            ("decide_filing", TaskState.OPEN),
        ]
        completions = s.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "task.complete")
        )
        assert completions == 1
        assert audit.verify(s).ok


def test_crash_in_the_middle_of_completing_changes_nothing(seeded, monkeypatch) -> None:
    instance_id = start(seeded)
    task = only_task(seeded, instance_id, "verify_clue")
    with seeded() as s:
        before = s.get(ProcessInstance, instance_id)
        state, version, events = (
            before.state,
            before.lock_version,
            s.scalar(select(func.count()).select_from(AuditEvent)),
        )
        snapshot = [(t.id, t.state, t.completed_at) for t in s.scalars(select(Task).order_by(Task.id))]

    def boom(_wf: object) -> str:
        raise RuntimeError("disk full")

    monkeypatch.setattr(runtime, "dump", boom)
    with pytest.raises(RuntimeError):
        complete(seeded, task.id, "officer1", verification="核查", suggestion="file")
    monkeypatch.undo()
    with seeded() as s:
        after = s.get(ProcessInstance, instance_id)
        assert (after.state, after.lock_version) == (state, version)
        assert [
            (t.id, t.state, t.completed_at) for t in s.scalars(select(Task).order_by(Task.id))
        ] == snapshot
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == events
    complete(seeded, task.id, "officer1", verification="核查", suggestion="file")  # and it still works
    assert only_task(seeded, instance_id, "decide_filing")


def test_stale_save_raises_a_typed_error(seeded) -> None:
    instance_id = start(seeded)
    task = only_task(seeded, instance_id, "verify_clue")
    with seeded() as s1, seeded() as s2:
        if s1.bind.dialect.name == "sqlite":
            pytest.skip("SQLite serializes writers with BEGIN IMMEDIATE: no stale read is possible")
        officer = actor_for(s1, "officer1")
        loaded = instances.load(s2, s2.get(ProcessInstance, instance_id), officer)  # s2 reads version 1
        tasks.complete(s1, task.id, actor=officer, data={"verification": "a", "suggestion": "file"})
        s1.commit()
        with pytest.raises(ConcurrentUpdateError):
            instances.save(s2, loaded, actor=officer, action="test.save")
        s2.rollback()


def test_an_instance_stays_on_its_version(seeded, repo_root) -> None:
    old = start(seeded)
    xml = (repo_root / "bpmn" / "penalty_case.bpmn").read_text(encoding="utf-8")
    changed = xml.replace('name="核查线索"', 'name="核查线索（新版）"')
    with unit_of_work(seeded) as s:
        assert registry.deploy(s, [registry.Upload("penalty_case.bpmn", xml.encode())], actor="modeler") == []
        created = registry.deploy(
            s, [registry.Upload("penalty_case.bpmn", changed.encode())], actor="modeler"
        )
        assert [(d.key, d.version) for d in created] == [("penalty_case", 2)]
    new = start(seeded)
    assert only_task(seeded, new, "verify_clue").name == "核查线索（新版）"
    old_task = only_task(seeded, old, "verify_clue")
    assert old_task.name == "核查线索"
    complete(seeded, old_task.id, "officer1", verification="旧版", suggestion="file")
    with seeded() as s:
        versions = {
            i.id: s.get(Definition, i.definition_id).version for i in s.scalars(select(ProcessInstance))
        }
        assert versions == {old: 1, new: 2}


def test_inbox_lists_only_what_the_officer_may_work(seeded) -> None:
    mine = start(seeded)
    start(seeded, user="other")  # another bureau's case
    with seeded() as s:
        officer = actor_for(s, "officer2")
        assert [t.instance_id for t in tasks.list_open(s, actor=officer)] == [mine]
        assert tasks.list_open(s, actor=actor_for(s, "chief")) == []
        assert len(tasks.list_open(s, role="officer")) == 2


def test_claimed_task_leaves_the_group_inbox(seeded) -> None:
    instance_id = start(seeded)
    task = only_task(seeded, instance_id, "verify_clue")
    with unit_of_work(seeded) as s:
        tasks.claim(s, task.id, actor=actor_for(s, "officer1"))
    with seeded() as s:
        assert [t.id for t in tasks.list_open(s, actor=actor_for(s, "officer1"))] == [task.id]
        assert tasks.list_open(s, actor=actor_for(s, "officer2")) == []


def test_script_errors_are_typed(seeded, repo_root) -> None:
    bad = (
        (repo_root / "bpmn" / "penalty_case.bpmn")
        .read_text(encoding="utf-8")
        .replace("start_clock('核查立案')\n", "start_clock('核查立案')\nx = 1 / 0\n")
    )
    with unit_of_work(seeded) as s:
        registry.deploy(s, [registry.Upload("penalty_case.bpmn", bad.encode())], actor="modeler")
    with pytest.raises(WorkflowScriptError) as err:
        start(seeded)
    assert "division by zero" in str(err.value)


# --- SpiffWorkflow behaviours the engine corrects, each through save and restore ----------------
FIXTURES = Path(__file__).parent / "fixtures"


def _deploy_probe(sf, name: str) -> None:
    with unit_of_work(sf) as s:
        registry.deploy(s, [registry.Upload(name, (FIXTURES / name).read_bytes())], actor="modeler")


def _variables(sf, instance_id: int) -> dict[str, Any]:
    with sf() as s:
        loaded = instances.load(s, s.get(ProcessInstance, instance_id), SYSTEM)
        return runtime.workflow_data(loaded.workflow)


def test_multi_instance_over_a_collection_survives_save_and_restore(seeded) -> None:
    """Camunda collection / elementVariable loops, parallel then sequential: each completion is
    a reload, and every member gets exactly one task, in order when sequential."""
    _deploy_probe(seeded, "probe_loops.bpmn")
    members = ["officer1", "officer2", "officer3"]
    instance_id = start(seeded, "probe_loops", members=members)
    parallel = open_tasks(seeded, instance_id)
    assert [(t.bpmn_id, t.assignee) for t in parallel] == [("parallel_opinion", m) for m in members]
    for task in parallel:
        complete(seeded, task.id, task.assignee, opinion=f"{task.assignee} 同意")
    for member in members:
        (task,) = open_tasks(seeded, instance_id)
        assert (task.bpmn_id, task.assignee) == ("sequential_opinion", member)
        complete(seeded, task.id, member, opinion="同意")
    assert [t.bpmn_id for t in open_tasks(seeded, instance_id)] == ["done"]
    assert _variables(seeded, instance_id)["members"] == members  # written in place, not appended


def test_terminate_end_event_in_a_called_process_returns_its_outputs(seeded) -> None:
    _deploy_probe(seeded, "probe_called.bpmn")
    instance_id = start(seeded, "probe_caller", case_note="x")
    assert [t.bpmn_id for t in open_tasks(seeded, instance_id)] == ["decide", "side_work"]
    complete(seeded, only_task(seeded, instance_id, "decide").id, "officer1", result="查实")
    # The terminate end event ended the called process (side_work withdrawn); the output arrived.
    assert [t.bpmn_id for t in open_tasks(seeded, instance_id)] == ["check_result"]
    assert _variables(seeded, instance_id)["result"] == "查实"


def test_interrupting_event_subprocess_in_a_called_process(seeded) -> None:
    _deploy_probe(seeded, "probe_called.bpmn")
    instance_id = start(seeded, "probe_caller", case_note="x")
    with unit_of_work(seeded) as s:
        messages.deliver(s, "probe_withdraw", actor=SYSTEM, payload={}, instance_id=instance_id)
    # Both open tasks of the called process are withdrawn; the caller goes on with its output.
    assert [t.bpmn_id for t in open_tasks(seeded, instance_id)] == ["check_result"]
    assert _variables(seeded, instance_id)["result"] == "withdrawn"


def test_a_task_in_an_embedded_subprocess_takes_the_lane_it_is_drawn_in(seeded) -> None:
    """The subprocess lies in 办案人员, its task in 科室负责人: the task is the section chief's."""
    _deploy_probe(seeded, "probe_called.bpmn")
    instance_id = start(seeded, "probe_caller", case_note="x")
    complete(seeded, only_task(seeded, instance_id, "decide").id, "officer1", result="查实")
    assert only_task(seeded, instance_id, "check_result").role == "section_chief"
