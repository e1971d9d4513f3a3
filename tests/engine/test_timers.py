"""Timers: fired exactly once, by one or by two schedulers at a time."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from engine import instances, registry, timers
from engine.clock import BEIJING, clock
from engine.db import unit_of_work
from engine.models import AuditEvent, ProcessInstance, Task
from engine.users import SYSTEM

TIMER_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://t">
  <bpmn:process id="wait_then_act" name="等待后办理" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait" name="等待">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="act" name="办理" camunda:candidateGroups="officer">
      <bpmn:extensionElements><camunda:formData>
        <camunda:formField id="note" label="备注" type="string" />
      </camunda:formData></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="wait" />
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="act" />
    <bpmn:sequenceFlow id="f3" sourceRef="act" targetRef="e" />
  </bpmn:process>
</bpmn:definitions>
"""

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=BEIJING)


def _start_many(sf, n: int) -> list[int]:
    clock.set(T0)
    with unit_of_work(sf) as s:
        registry.deploy(s, [registry.Upload("wait.bpmn", TIMER_BPMN.encode())], actor="test")
        return [instances.start(s, "wait_then_act", actor=SYSTEM).id for _ in range(n)]


def test_bare_iso_literal_timer_and_next_timer_at(sf) -> None:
    [instance_id] = _start_many(sf, 1)
    with sf() as s:
        assert s.get(ProcessInstance, instance_id).next_timer_at == T0 + timedelta(hours=1)
    clock.set(T0 + timedelta(minutes=59))
    assert timers.fire_due(sf) == []
    clock.set(T0 + timedelta(hours=1, seconds=1))
    assert timers.fire_due(sf) == [instance_id]  # fires in this call, not one call late
    with sf() as s:
        assert s.scalars(select(Task.bpmn_id)).all() == ["act"]
        assert s.get(ProcessInstance, instance_id).next_timer_at is None


@pytest.mark.parametrize("workers", [1, 2])
def test_each_timer_fires_exactly_once(sf, backend, workers: int) -> None:
    n = 200
    ids = _start_many(sf, n)
    clock.set(T0 + timedelta(hours=2))
    handled: list[list[int]] = [[] for _ in range(workers)]

    def run(slot: int) -> None:
        handled[slot] = timers.fire_due(sf)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for h in handled for i in h]
    assert sorted(everything) == sorted(ids)  # each once, none twice
    if workers == 2 and backend == "postgresql":
        assert all(handled), "both schedulers did work (SKIP LOCKED let them share)"
    with sf() as s:
        fired = s.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "timer.fire")
        )
        assert fired == n
        assert s.scalar(select(func.count()).select_from(Task)) == n


def test_a_failing_timer_gets_an_incident_and_does_not_block_others(sf, monkeypatch) -> None:
    ids = _start_many(sf, 3)
    clock.set(T0 + timedelta(hours=2))
    real = timers.fire_instance

    def flaky(session, instance):  # type: ignore[no-untyped-def]
        if instance.id == ids[0]:
            from engine.errors import WorkflowScriptError

            raise WorkflowScriptError("脚本错误")
        return real(session, instance)

    monkeypatch.setattr(timers, "fire_instance", flaky)
    assert sorted(timers.fire_due(sf)) == sorted(ids[1:])
    with sf() as s:
        broken = s.get(ProcessInstance, ids[0])
        assert broken.incident == "脚本错误"
        assert broken.next_timer_at == T0 + timedelta(hours=2, minutes=5)
