"""Moving running instances to a newer process version: dry run, move, move back; on the real
engine and database with a file in Camunda Modeler 7's format (tests/fixtures/modeler)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine import instances, migration, registry, tasks
from engine.clock import clock, utcnow
from engine.db import unit_of_work
from engine.errors import InputError
from engine.models import AuditEvent, InstanceMigration, ProcessInstance
from engine.users import actor_for
from tests.engine.helpers import complete, only_task

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "modeler"
BPMN = (FIXTURES / "clue_triage.bpmn").read_text(encoding="utf-8")
DMN = (FIXTURES / "triage_level.dmn").read_bytes()


def deploy(sf: sessionmaker[Session], xml: str, *, with_dmn: bool = False) -> int:
    uploads = [registry.Upload("clue_triage.bpmn", xml.encode())]
    if with_dmn:
        uploads.append(registry.Upload("triage_level.dmn", DMN))
    with unit_of_work(sf) as s:
        created = registry.deploy(s, uploads, actor="modeler")
        return next(d.id for d in created if d.key == "clue_triage")


def start(sf: sessionmaker[Session], amount: int = 200000) -> int:
    with unit_of_work(sf) as s:
        actor = actor_for(s, "officer1")
        variables = {"complainant": "张三", "clue_summary": "串换药品", "amount": amount}
        return instances.start(s, "clue_triage", actor=actor, variables=variables).id


@pytest.fixture
def v1(seeded: sessionmaker[Session]) -> int:
    clock.set(utcnow().replace(year=2025, month=3, day=3, hour=2, minute=0, second=0, microsecond=0))
    return deploy(seeded, BPMN, with_dmn=True)


V2 = BPMN.replace(
    'camunda:candidateGroups="officer" camunda:dueDate="P5D"',
    'camunda:candidateGroups="section_chief" camunda:dueDate="P10D"',
)


def test_dry_run_then_move_keeps_the_timer_and_reprojects_the_task(seeded, v1) -> None:
    instance_id = start(seeded)
    before = only_task(seeded, instance_id, "register_clue")
    assert before.candidate_groups == ["officer"]
    assert before.due_at == before.created_at + timedelta(days=5)
    with seeded() as s:
        timer_before = s.get(ProcessInstance, instance_id).next_timer_at
    clock.advance(timedelta(days=1))
    v2 = deploy(seeded, V2)

    with seeded() as s:
        plan = migration.plan(s, [instance_id], v2, actor_for(s, "modeler"))
    assert [p.ok for p in plan] == [True]
    assert [step.bpmn_id for step in plan[0].steps] == ["register_clue", "Timer_register_overdue"]
    assert any("登记核实线索" in n and "办理角色" in n for n in plan[0].notes), plan[0].notes
    assert any("保持原到期时间" in n for n in plan[0].notes)
    with seeded() as s:  # the dry run changed nothing
        assert s.get(ProcessInstance, instance_id).definition_id == v1

    with unit_of_work(seeded) as s:
        migration.migrate(s, instance_id, v2, actor=actor_for(s, "modeler"))
    after = only_task(seeded, instance_id, "register_clue")
    assert after.id == before.id
    assert after.candidate_groups == ["section_chief"] and after.role == "section_chief"
    assert after.due_at == before.created_at + timedelta(days=10)
    with seeded() as s:
        instance = s.get(ProcessInstance, instance_id)
        assert instance.definition_id == v2
        assert instance.next_timer_at == timer_before
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "instance.migrate")).one()
        assert event.instance_id == instance_id
        assert event.detail["from_version"] == 1 and event.detail["to_version"] == 2
        # the chief now sees it; the officer no longer does
        assert [t.id for t in tasks.list_open(s, actor=actor_for(s, "chief"))] == [after.id]
        assert after.id not in [t.id for t in tasks.list_open(s, actor=actor_for(s, "officer1"))]

    # it continues on the new version: the decision table says 重点, the chief reviews
    complete(seeded, after.id, "chief", verification="属实", channel="hotline")
    review = only_task(seeded, instance_id, "chief_review")
    assert review.due_at == review.created_at + timedelta(days=3)


def test_move_back_restores_exactly_while_nothing_happened(seeded, v1) -> None:
    instance_id = start(seeded)
    before = only_task(seeded, instance_id, "register_clue")
    with seeded() as s:
        state_before = s.get(ProcessInstance, instance_id).state
    v2 = deploy(seeded, V2)
    with unit_of_work(seeded) as s:
        migration.migrate(s, instance_id, v2, actor=actor_for(s, "modeler"))
    with unit_of_work(seeded) as s:
        migration.revert(s, instance_id, actor=actor_for(s, "modeler"))
    restored = only_task(seeded, instance_id, "register_clue")
    assert (restored.candidate_groups, restored.due_at) == (["officer"], before.due_at)
    with seeded() as s:
        instance = s.get(ProcessInstance, instance_id)
        assert instance.definition_id == v1 and instance.state == state_before
        assert s.scalars(select(InstanceMigration)).one().reverted_by == "modeler"
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "instance.migrate_back")).one()

    # moved again and then claimed: something happened, so it cannot be moved back
    with unit_of_work(seeded) as s:
        migration.migrate(s, instance_id, v2, actor=actor_for(s, "modeler"))
    with unit_of_work(seeded) as s:
        tasks.claim(s, restored.id, actor=actor_for(s, "chief"))
    with seeded() as s, pytest.raises(InputError, match="已有办理、认领"):
        migration.revert(s, instance_id, actor=actor_for(s, "modeler"))


def test_changed_timer_is_counted_again_from_the_move(seeded, v1) -> None:
    instance_id = start(seeded)
    clock.advance(timedelta(days=1))
    v2 = deploy(seeded, BPMN.replace(">P5D</bpmn:timeDuration>", ">P2D</bpmn:timeDuration>"))
    with unit_of_work(seeded) as s:
        item = migration.migrate(s, instance_id, v2, actor=actor_for(s, "modeler"))
    assert any("重新计时" in n for n in item.notes)
    with seeded() as s:
        assert s.get(ProcessInstance, instance_id).next_timer_at == utcnow() + timedelta(days=2)


def test_refused_when_the_current_step_is_gone_and_nothing_changes(seeded, v1) -> None:
    instance_id = start(seeded)
    v2 = deploy(seeded, BPMN.replace("register_clue", "record_clue"))
    with seeded() as s:
        plan = migration.plan(s, [instance_id], v2, actor_for(s, "modeler"))
    assert not plan[0].ok
    assert any("当前环节「登记核实线索」（register_clue）在新版本中不存在" in r for r in plan[0].reasons)
    with seeded() as s, pytest.raises(InputError, match="不能迁移"):
        migration.migrate(s, instance_id, v2, actor=actor_for(s, "modeler"))
    with seeded() as s:
        assert s.get(ProcessInstance, instance_id).definition_id == v1
        assert s.scalars(select(InstanceMigration)).all() == []


def test_refused_for_ended_instances_and_the_same_version(seeded, v1) -> None:
    done = start(seeded, amount=10)
    complete(seeded, only_task(seeded, done, "register_clue").id, "officer1", verification="不属实")
    running = start(seeded)
    with seeded() as s:
        plan = migration.plan(s, [done, running], v1, actor_for(s, "modeler"))
        assert "实例已结束，无需迁移" in plan[0].reasons
        assert "实例已在第 1 版上运行" in plan[1].reasons
        assert migration.running_on(s, v1) == [running]


def test_cli_dry_run_migrate_and_back(seeded, v1, db_url, monkeypatch, capsys) -> None:
    from engine import cli

    monkeypatch.setenv("DATABASE_URL", db_url)
    instance_id = start(seeded)
    deploy(seeded, V2)

    def run(*argv: str) -> tuple[int, str]:
        code = cli.main(list(argv))
        return code, capsys.readouterr().out

    code, out = run("migrate", "clue_triage", "--to", "2", "--all-of", "1", "--dry-run")
    assert code == 0 and f"实例 {instance_id}: 可以迁移" in out
    with seeded() as s:
        assert s.get(ProcessInstance, instance_id).definition_id == v1
    code, out = run("migrate", "clue_triage", "--to", "2", "--instance", str(instance_id))
    assert code == 0 and f"实例 {instance_id}: 已迁移" in out
    code, out = run("migrate", "clue_triage", "--to", "2", "--instance", str(instance_id))
    assert code == 1 and "实例已在第 2 版上运行" in out
    code, out = run("migrate-back", str(instance_id))
    assert code == 0 and "回到原版本" in out
    with seeded() as s:
        assert s.get(ProcessInstance, instance_id).definition_id == v1


def test_a_shipped_process_with_call_activities_and_clocks_moves(seeded) -> None:
    from tests.engine.helpers import CLUE

    with seeded() as s:
        xml = registry.get_latest(s, "penalty_case").xml
    with unit_of_work(seeded) as s:
        instance_id = instances.start(s, "penalty_case", actor=actor_for(s, "officer1"), variables=CLUE).id
    before = only_task(seeded, instance_id, "verify_clue")
    with unit_of_work(seeded) as s:
        created = registry.deploy(
            s,
            [
                registry.Upload(
                    "penalty_case.bpmn", xml.replace('name="立案审批"', 'name="立案审批（新）"').encode()
                )
            ],
            actor="modeler",
        )
        v2 = created[0].id
    with unit_of_work(seeded) as s:
        item = migration.migrate(s, instance_id, v2, actor=actor_for(s, "modeler"))
    assert item.ok and "核查线索" in [step.name for step in item.steps]
    after = only_task(seeded, instance_id, "verify_clue")
    assert (after.id, after.due_at, after.candidate_groups) == (
        before.id,
        before.due_at,
        before.candidate_groups,
    )
    with seeded() as s:
        assert s.get(ProcessInstance, instance_id).spec_pins["penalty_case"] == v2
