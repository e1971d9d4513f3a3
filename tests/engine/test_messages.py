"""Messages: delivered to exactly one instance by correlation key or instance id; event
subprocesses accept messages at any time (中止 requests), and suspend/resume move the clocks."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine import instances, messages, registry
from engine.clock import BEIJING, clock
from engine.db import unit_of_work
from engine.errors import NotFoundError
from engine.models import LegalClock, MessageWait, ProcessInstance
from engine.users import SYSTEM
from tests.engine.helpers import complete, only_task, open_tasks

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://t">
  <bpmn:message id="m_reply" name="police_reply" />
  <bpmn:message id="m_suspend" name="case_suspend" />
  <bpmn:process id="msg_demo" name="消息示例" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="prep"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>start_clock('办案')</bpmn:script></bpmn:scriptTask>
    <bpmn:intermediateCatchEvent id="wait_reply" name="等待公安回复">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="correlate" value="referral_no" />
      </camunda:properties></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:messageEventDefinition messageRef="m_reply" camunda:resultVariable="reply" />
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="read_reply" name="阅处回复" camunda:candidateGroups="officer">
      <bpmn:extensionElements><camunda:formData>
        <camunda:formField id="note" label="备注" type="string" />
      </camunda:formData></bpmn:extensionElements>
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="prep" />
    <bpmn:sequenceFlow id="f2" sourceRef="prep" targetRef="wait_reply" />
    <bpmn:sequenceFlow id="f3" sourceRef="wait_reply" targetRef="read_reply" />
    <bpmn:sequenceFlow id="f4" sourceRef="read_reply" targetRef="e" />
    <bpmn:subProcess id="suspension" name="中止" triggeredByEvent="true">
      <bpmn:startEvent id="suspend_requested" isInterrupting="false"><bpmn:outgoing>g1</bpmn:outgoing>
        <bpmn:messageEventDefinition messageRef="m_suspend" camunda:resultVariable="suspend_request" />
      </bpmn:startEvent>
      <bpmn:scriptTask id="do_suspend"><bpmn:incoming>g1</bpmn:incoming><bpmn:outgoing>g2</bpmn:outgoing>
        <bpmn:script>suspend_clock('办案', suspend_request['reason'])</bpmn:script></bpmn:scriptTask>
      <bpmn:userTask id="record_resume" name="中止情形消除，恢复办案" camunda:candidateGroups="officer">
        <bpmn:extensionElements><camunda:formData>
          <camunda:formField id="resume_note" label="恢复说明" type="string" />
        </camunda:formData></bpmn:extensionElements>
        <bpmn:incoming>g2</bpmn:incoming><bpmn:outgoing>g3</bpmn:outgoing>
      </bpmn:userTask>
      <bpmn:scriptTask id="do_resume"><bpmn:incoming>g3</bpmn:incoming><bpmn:outgoing>g4</bpmn:outgoing>
        <bpmn:script>resume_clock('办案')</bpmn:script></bpmn:scriptTask>
      <bpmn:endEvent id="se"><bpmn:incoming>g4</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="g1" sourceRef="suspend_requested" targetRef="do_suspend" />
      <bpmn:sequenceFlow id="g2" sourceRef="do_suspend" targetRef="record_resume" />
      <bpmn:sequenceFlow id="g3" sourceRef="record_resume" targetRef="do_resume" />
      <bpmn:sequenceFlow id="g4" sourceRef="do_resume" targetRef="se" />
    </bpmn:subProcess>
  </bpmn:process>
</bpmn:definitions>
"""
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=BEIJING)


@pytest.fixture
def two(seeded) -> list[int]:
    clock.set(T0)
    with unit_of_work(seeded) as s:
        registry.deploy(s, [registry.Upload("msg.bpmn", BPMN.encode())], actor="test")
        return [
            instances.start(s, "msg_demo", actor=SYSTEM, variables={"referral_no": f"移〔2025〕{n}号"}).id
            for n in (1, 2)
        ]


def test_waits_are_projected(seeded, two: list[int]) -> None:
    with seeded() as s:
        waits = {(w.instance_id, w.name, w.kind, w.correlation_key) for w in s.scalars(select(MessageWait))}
    assert waits == {
        (two[0], "police_reply", "catch", "移〔2025〕1号"),
        (two[1], "police_reply", "catch", "移〔2025〕2号"),
        (two[0], "case_suspend", "start", None),
        (two[1], "case_suspend", "start", None),
    }


def test_message_reaches_only_the_correlated_instance(seeded, two: list[int]) -> None:
    with unit_of_work(seeded) as s:
        messages.deliver(
            s, "police_reply", actor=SYSTEM, payload={"decision": "立案"}, correlation_key="移〔2025〕2号"
        )
    assert [t.bpmn_id for t in open_tasks(seeded, two[1])] == ["read_reply"]
    assert open_tasks(seeded, two[0]) == []
    with seeded() as s:
        assert {w.name for w in messages.accepted(s, two[1])} == {"case_suspend"}
    with pytest.raises(NotFoundError), unit_of_work(seeded) as s:  # already answered: not waiting any more
        messages.deliver(s, "police_reply", actor=SYSTEM, payload={}, correlation_key="移〔2025〕2号")
    with pytest.raises(NotFoundError), unit_of_work(seeded) as s:
        messages.deliver(s, "police_reply", actor=SYSTEM, payload={}, correlation_key="移〔2025〕9号")


def test_suspension_pauses_the_clock(seeded, two: list[int]) -> None:
    instance_id = two[0]
    with seeded() as s:
        due_before = s.scalars(select(LegalClock.due_at).where(LegalClock.instance_id == instance_id)).one()
    clock.set(T0 + timedelta(days=10))
    with unit_of_work(seeded) as s:
        messages.deliver(s, "case_suspend", actor=SYSTEM, payload={"reason": "鉴定"}, instance_id=instance_id)
    with seeded() as s:
        row = s.scalars(select(LegalClock).where(LegalClock.instance_id == instance_id)).one()
        assert row.status == "suspended" and row.due_at is None
    clock.set(T0 + timedelta(days=20))
    complete(seeded, only_task(seeded, instance_id, "record_resume").id, "officer1", resume_note="鉴定完成")
    with seeded() as s:
        row = s.scalars(select(LegalClock).where(LegalClock.instance_id == instance_id)).one()
        assert row.status == "running"
        # 90 days from 2025-03-03 is Sunday 06-01, inside 端午 (05-31..06-02): due 06-03. Ten paused
        # days make it 06-11, a Wednesday.
        assert due_before == datetime(2025, 6, 3, 23, 59, 59, tzinfo=BEIJING)
        assert row.due_at == datetime(2025, 6, 11, 23, 59, 59, tzinfo=BEIJING)
        assert s.get(ProcessInstance, instance_id).status == "running"


def test_a_message_the_instance_does_not_take_is_refused(seeded, two: list[int]) -> None:
    with pytest.raises(NotFoundError), unit_of_work(seeded) as s:
        messages.deliver(s, "no_such_message", actor=SYSTEM, payload={}, instance_id=two[0])


def test_a_triggered_event_subprocess_does_not_leak_into_other_instances(seeded, two: list[int]) -> None:
    # Regression: Spiff mutates specs when an event subprocess fires; shared specs made every later
    # instance report the start event as a waiting catch event.
    with unit_of_work(seeded) as s:
        messages.deliver(s, "case_suspend", actor=SYSTEM, payload={"reason": "鉴定"}, instance_id=two[0])
        third = instances.start(s, "msg_demo", actor=SYSTEM, variables={"referral_no": "移〔2025〕3号"}).id
    with seeded() as s:
        kinds = {w.name: w.kind for w in messages.accepted(s, third)}
    assert kinds == {"police_reply": "catch", "case_suspend": "start"}


def test_an_event_subprocess_can_be_triggered_again(seeded, two: list[int]) -> None:
    instance_id = two[0]
    for round_ in (1, 2):
        with unit_of_work(seeded) as s:
            messages.deliver(
                s, "case_suspend", actor=SYSTEM, payload={"reason": f"第{round_}次"}, instance_id=instance_id
            )
        complete(seeded, only_task(seeded, instance_id, "record_resume").id, "officer1", resume_note="恢复")
    with seeded() as s:
        row = s.scalars(select(LegalClock).where(LegalClock.instance_id == instance_id)).one()
        assert row.status == "running" and len(row.suspensions) == 2
