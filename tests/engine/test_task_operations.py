"""Claim, unclaim, 转办, 退回, 撤回, drafts and the done list, each audited."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from engine import audit, instances, registry, tasks
from engine.clock import BEIJING, clock
from engine.db import unit_of_work
from engine.errors import ConcurrentUpdateError, InputError, NotPermittedError
from engine.models import AuditEvent, Task, TaskState
from engine.users import actor_for

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://t">
  <bpmn:process id="two_steps" name="两步审批" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="draft_report" name="起草报告" camunda:candidateGroups="officer">
      <bpmn:extensionElements><camunda:formData>
        <camunda:formField id="report" label="报告" type="string">
          <camunda:validation><camunda:constraint name="required" /></camunda:validation>
        </camunda:formField>
      </camunda:formData></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:userTask id="approve" name="审批" camunda:candidateGroups="section_chief">
      <bpmn:extensionElements>
        <camunda:properties><camunda:property name="returnTo" value="draft_report" /></camunda:properties>
        <camunda:formData><camunda:formField id="ok" label="同意" type="boolean" /></camunda:formData>
      </bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="draft_report" />
    <bpmn:sequenceFlow id="f2" sourceRef="draft_report" targetRef="approve" />
    <bpmn:sequenceFlow id="f3" sourceRef="approve" targetRef="e" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def instance_id(seeded) -> int:
    clock.set(datetime(2025, 3, 3, 9, tzinfo=BEIJING))
    with unit_of_work(seeded) as s:
        registry.deploy(s, [registry.Upload("two.bpmn", BPMN.encode())], actor="test")
        return instances.start(s, "two_steps", actor=actor_for(s, "officer1")).id


def _open(sf, instance_id: int) -> list[Task]:
    with sf() as s:
        return list(
            s.scalars(select(Task).where(Task.instance_id == instance_id, Task.state == TaskState.OPEN))
        )


def _do(sf, fn, *args, user: str, **kwargs):  # type: ignore[no-untyped-def]
    with unit_of_work(sf) as s:
        return fn(s, *args, actor=actor_for(s, user), **kwargs)


def test_claim_unclaim_reassign(seeded, instance_id: int) -> None:
    [task] = _open(seeded, instance_id)
    _do(seeded, tasks.claim, task.id, user="officer1")
    with pytest.raises(NotPermittedError):
        _do(seeded, tasks.unclaim, task.id, user="officer2")
    with pytest.raises(InputError):  # the chief has no officer role
        _do(seeded, tasks.reassign, task.id, user="officer1", to_user="chief", reason="休假")
    with pytest.raises(InputError):  # another bureau
        _do(seeded, tasks.reassign, task.id, user="officer1", to_user="other", reason="休假")
    with pytest.raises(InputError):
        _do(seeded, tasks.reassign, task.id, user="officer1", to_user="officer2", reason=" ")
    _do(seeded, tasks.reassign, task.id, user="officer1", to_user="officer2", reason="休假")
    with seeded() as s:
        assert s.get(Task, task.id).assignee == "officer2"
        assert [t.id for t in tasks.list_open(s, actor=actor_for(s, "officer2"))] == [task.id]
        assert tasks.list_open(s, actor=actor_for(s, "officer1")) == []
    _do(seeded, tasks.unclaim, task.id, user="officer2")
    with seeded() as s:
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
        assert actions[-3:] == ["task.claim", "task.reassign", "task.unclaim"]
        assert audit.verify(s).ok


def test_draft_is_kept_and_cleared_on_completion(seeded, instance_id: int) -> None:
    [task] = _open(seeded, instance_id)
    _do(seeded, tasks.save_draft, task.id, user="officer1", data={"report": "半成品"})
    with seeded() as s:
        assert s.get(Task, task.id).draft == {"report": "半成品"}
    _do(seeded, tasks.complete, task.id, user="officer1", data={"report": "定稿"})
    with seeded() as s:
        done = s.get(Task, task.id)
        assert done.draft is None and done.form_data == {"report": "定稿"}
        assert [t.id for t in tasks.list_done(s, actor=actor_for(s, "officer1"))] == [task.id]


def test_send_back_where_the_bpmn_allows(seeded, instance_id: int) -> None:
    [draft] = _open(seeded, instance_id)
    _do(seeded, tasks.complete, draft.id, user="officer1", data={"report": "初稿"})
    [approve] = _open(seeded, instance_id)
    with seeded() as s:
        assert tasks.return_targets(s, approve) == ["draft_report"]
    with pytest.raises(InputError):
        _do(seeded, tasks.send_back, approve.id, user="chief", target="s", reason="x")
    again = _do(seeded, tasks.send_back, approve.id, user="chief", target="draft_report", reason="证据不足")
    assert again.bpmn_id == "draft_report" and again.id != draft.id
    assert [t.bpmn_id for t in _open(seeded, instance_id)] == ["draft_report"]
    with seeded() as s:
        assert s.get(Task, approve.id).state == TaskState.CANCELLED
    _do(seeded, tasks.complete, again.id, user="officer1", data={"report": "补充后"})
    assert [t.bpmn_id for t in _open(seeded, instance_id)] == ["approve"]


def test_withdraw_while_the_next_step_is_untouched(seeded, instance_id: int) -> None:
    [draft] = _open(seeded, instance_id)
    _do(seeded, tasks.complete, draft.id, user="officer1", data={"report": "初稿"})
    with pytest.raises(NotPermittedError):
        _do(seeded, tasks.withdraw, draft.id, user="officer2")
    back = _do(seeded, tasks.withdraw, draft.id, user="officer1", reason="写错了")
    assert [t.bpmn_id for t in _open(seeded, instance_id)] == ["draft_report"] and back.id != draft.id
    _do(seeded, tasks.complete, back.id, user="officer1", data={"report": "改正"})
    [approve] = _open(seeded, instance_id)
    _do(seeded, tasks.claim, approve.id, user="chief")  # the next step has been touched
    with pytest.raises(ConcurrentUpdateError):
        _do(seeded, tasks.withdraw, back.id, user="officer1")
