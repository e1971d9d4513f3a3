"""法制审核 (legal_review): started on its own with the inputs as start values, and called from a
small case process to prove the call interface (only declared inputs and outputs cross) and that a
second call in the same case restarts the 法制审核 clock."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from engine import instances, registry
from engine.clock import clock
from engine.db import unit_of_work
from engine.errors import NotPermittedError
from engine.models import ProcessInstance, Task, TaskState
from engine.users import SYSTEM
from engine.workflow import runtime
from tests.processes.driver import Driver, beijing, end_of

# Monday 2024-09-23 10:00 Beijing. 法制审核 = 10 working days, the start day not counted:
# 9-24..9-27 (4), Sunday 9-29 is a 调休 working day (5), 9-30 (6), 10-1..10-7 National Day,
# 10-8..10-11 (10) → due 2024-10-11 23:59:59.
START = beijing(2024, 9, 23, 10, 0)
REVIEW_DUE = end_of(date(2024, 10, 11))
# Extended by 10 working days from 10-11: Saturday 10-12 is a 调休 working day (1),
# 10-14..10-18 (6), 10-21..10-24 (10) → 2024-10-24.
EXTENDED_DUE = end_of(date(2024, 10, 24))

INPUTS: dict[str, Any] = {
    "case_number": "渝北医保立〔2024〕7号",
    "party_name": "某某大药房",
    "facts": "2023年1月至12月串换药品结算，造成医保基金损失50 000元",
    "proposed_penalty": "责令退回50 000元，处损失金额1.5倍罚款75 000元",
    "fine": "75000",
    "amount_recovered": "50000",
    "hearing_held": True,
}
CHECKS_OK: dict[str, Any] = {
    "chk_authority": True,
    "chk_qualification": True,
    "chk_procedure": True,
    "chk_facts": True,
    "chk_law": True,
    "chk_documents": True,
    "chk_crime": False,
}
DECLARED_INPUTS = {
    "case_id",
    "case_number",
    "party_name",
    "facts",
    "proposed_penalty",
    "fine",
    "amount_recovered",
    "hearing_held",
}


@pytest.fixture(autouse=True)
def _frozen() -> None:
    clock.set(START)


def start(seeded: sessionmaker[Session], **overrides: Any) -> Driver:
    return Driver.start(seeded, "legal_review", "officer1", **(INPUTS | overrides))


def submit(d: Driver, investigators: str = "officer1,officer2") -> None:
    d.complete(
        "submit_review",
        "officer1",
        investigators=investigators,
        review_grounds="heard",
        evidence_summary="现场检查笔录、询问笔录、结算明细",
        legal_basis="《医疗保障基金使用监督管理条例》第三十八条",
    )


def receive(d: Driver, reviewer: str = "legal", **extra: Any) -> None:
    d.complete("receive_review", "legal", reviewer=reviewer, **extra)


def review(d: Driver, outcome: str, opinion: str = "审核意见", **checks: Any) -> None:
    d.complete("review_legal", "legal", outcome=outcome, review_opinion=opinion, **(CHECKS_OK | checks))


def to_review(seeded: sessionmaker[Session]) -> Driver:
    """Submitted and received without counsel: the reviewer's task is open."""
    d = start(seeded)
    submit(d)
    receive(d, counsel_needed=False)
    return d


def spiff_data(d: Driver, task: Task) -> dict[str, Any]:
    """The data a ready task sees (its own copy, inside a called process too)."""
    with d.sf() as s:
        loaded = instances.load(s, s.get(ProcessInstance, d.id), SYSTEM)
        found = runtime.find_task(loaded.workflow, task.spiff_task_id)
        assert found is not None
        return dict(found.data)


def test_review_passes_at_once(seeded) -> None:
    d = start(seeded)
    submit_task = d.task("submit_review")
    assert submit_task.role == "officer" and submit_task.stage == "法制审核"
    submit(d)
    receipt = d.task("receive_review")
    assert receipt.role == "legal_reviewer" and receipt.due_at == REVIEW_DUE
    assert d.clock("法制审核").due_at == REVIEW_DUE
    receive(d, counsel_needed=False)
    task = d.task("review_legal")
    # Assigned to the reviewer named at receipt; due when the 法制审核 clock runs out.
    assert (task.assignee, task.role, task.due_at) == ("legal", "legal_reviewer", REVIEW_DUE)
    assert d.instance().next_timer_at == REVIEW_DUE
    review(d, "passed", "事实清楚，证据确凿，程序合法，裁量适当，同意")
    assert d.finished and d.open_ids() == []
    data = d.data()
    assert (data["legal_review_result"], data["legal_review_opinion"]) == (
        "passed",
        "事实清楚，证据确凿，程序合法，裁量适当，同意",
    )
    assert d.clock("法制审核").status == "stopped"


def test_start_values_are_converted_by_the_start_form(seeded) -> None:
    d = start(seeded)
    data = spiff_data(d, d.task("submit_review"))
    assert data["fine"] == Decimal("75000.00") and data["hearing_held"] is True
    assert data["case_id"] is None  # a review started on its own belongs to no case


def test_counsel_gives_an_opinion_first(seeded) -> None:
    d = start(seeded)
    submit(d)
    receive(d)  # 是否征求法律顾问意见 defaults to yes (the seed bureau's practice)
    counsel = d.task("counsel_review")
    assert counsel.role == "legal_counsel" and counsel.due_at == REVIEW_DUE
    with pytest.raises(NotPermittedError):
        d.complete("counsel_review", "legal", counsel_view="agree", counsel_opinion="同意")
    d.complete("counsel_review", "counsel", counsel_view="partly", counsel_opinion="建议在裁量幅度内从轻")
    assert d.open_ids() == ["review_legal"]
    assert spiff_data(d, d.task("review_legal"))["counsel_opinion"] == "建议在裁量幅度内从轻"
    review(d, "passed", "采纳法律顾问意见，同意")
    assert d.data()["legal_review_result"] == "passed"


@pytest.mark.parametrize("outcome", ["supplement", "revise", "disagree"])
def test_each_non_pass_outcome_returns_to_the_case(seeded, outcome: str) -> None:
    d = to_review(seeded)
    review(d, outcome, "证据不足，退回", chk_facts=False)
    assert d.finished
    assert d.data()["legal_review_result"] == outcome
    assert d.data()["legal_review_opinion"] == "证据不足，退回"


def test_pass_is_refused_when_the_checklist_fails(seeded) -> None:
    d = to_review(seeded)
    review(d, "passed", chk_facts=False)
    assert d.open_ids() == ["review_legal"]
    assert "审核要点未全部符合要求" in spiff_data(d, d.task("review_legal"))["review_problem"]
    # A suspected crime must be transferred: no pass either (a fine never replaces a transfer).
    review(d, "passed", chk_crime=True, chk_crime_note="骗保金额已达追诉标准")
    assert "不得以罚代刑" in spiff_data(d, d.task("review_legal"))["review_problem"]
    review(d, "disagree", "涉嫌犯罪，应移送公安机关", chk_crime=True)
    assert d.data()["legal_review_result"] == "disagree"


def test_reviewer_who_investigated_the_case_is_refused(seeded) -> None:
    d = start(seeded)
    submit(d, investigators="officer1，officer2")
    receive(d, reviewer="officer2", counsel_needed=False)
    assert d.open_ids() == ["receive_review"]  # back to receipt: nobody reviews yet
    note = spiff_data(d, d.task("receive_review"))["reviewer_conflict_note"]
    assert note == "审核人「officer2」是本案承办人员，应当回避，请另行指定审核人"
    receive(d, reviewer="legal", counsel_needed=False)
    assert d.task("review_legal").assignee == "legal"
    # Only the named reviewer works the review: not an investigator, not another role.
    for user in ("officer1", "officer2", "chief"):
        with pytest.raises(NotPermittedError):
            d.complete("review_legal", user, outcome="passed", review_opinion="x", **CHECKS_OK)
    review(d, "passed")
    assert d.finished


def test_investigators_must_be_at_least_two(seeded) -> None:
    from engine.errors import FormValidationError

    d = start(seeded)
    with pytest.raises(FormValidationError) as err:
        submit(d, investigators="officer1")
    assert set(err.value.errors) == {"investigators"}


def test_expired_clock_raises_a_supervision_task_without_stopping_the_review(seeded) -> None:
    d = to_review(seeded)
    assert d.advance(to=beijing(2024, 10, 11, 23, 59)) == []
    assert d.advance(to=beijing(2024, 10, 12, 0, 1)) == [d.id]
    assert d.open_ids() == ["review_legal", "review_overdue"]
    overdue = d.task("review_overdue")
    assert overdue.role == "section_chief" and overdue.priority == 90
    d.complete("review_overdue", "chief", overdue_instruction="请于2个工作日内出具审核意见")
    assert d.open_ids() == ["review_legal"]
    review(d, "passed")
    assert d.finished and d.data()["legal_review_result"] == "passed"


def test_supervision_task_closes_itself_when_the_review_finishes(seeded) -> None:
    d = to_review(seeded)
    d.advance(to=beijing(2024, 10, 14, 9, 0))
    overdue = d.task("review_overdue")
    review(d, "revise", "裁量过重，建议修改")
    assert d.finished and d.open_ids() == []
    with d.sf() as s:
        assert s.get(Task, overdue.id).state == TaskState.CANCELLED
    assert d.data()["legal_review_result"] == "revise"
    assert d.data()["legal_review_opinion"] == "裁量过重，建议修改"


def test_extension_moves_the_deadline_and_the_timer(seeded) -> None:
    d = to_review(seeded)
    review(d, "extend", "案情复杂，需调阅全部结算明细")
    approval = d.task("approve_extension")
    assert approval.role == "section_chief"
    assert spiff_data(d, approval)["extension_workdays"] == 10
    d.complete("approve_extension", "chief", extension_approved=True, extension_opinion="同意延长10个工作日")
    assert d.task("review_legal").due_at == EXTENDED_DUE
    assert d.clock("法制审核").due_at == EXTENDED_DUE and d.clock("法制审核").extended == 10
    assert d.instance().next_timer_at == EXTENDED_DUE
    assert d.advance(to=beijing(2024, 10, 14, 9, 0)) == []  # the old deadline passed quietly
    # A second extension is not allowed by the rule table: the reviewer is told so.
    review(d, "extend", "仍需时间")
    assert d.open_ids() == ["review_legal"]
    assert "不能再次申请延长" in spiff_data(d, d.task("review_legal"))["review_problem"]
    assert d.advance(to=beijing(2024, 10, 25, 0, 1)) == [d.id]
    assert d.open_ids() == ["review_legal", "review_overdue"]
    review(d, "passed")
    assert d.finished


def test_refused_extension_keeps_the_deadline(seeded) -> None:
    d = to_review(seeded)
    review(d, "extend", "需补充材料")
    d.complete(
        "approve_extension", "chief", extension_approved=False, extension_opinion="材料已齐全，按期完成"
    )
    task = d.task("review_legal")
    assert task.due_at == REVIEW_DUE and d.clock("法制审核").extended == 0
    assert spiff_data(d, task)["review_problem"] == "延期申请未获批准：材料已齐全，按期完成"
    review(d, "passed")
    assert d.finished


# --- called from a case --------------------------------------------------------------------

CALLER_XML = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  id="Definitions_lr_caller" targetNamespace="http://ybjg.example/test">
  <bpmn:process id="lr_test_caller" name="法制审核调用测试" isExecutable="true">
    <bpmn:laneSet id="LaneSet_lr_caller">
      <bpmn:lane id="Lane_lr_officer" name="办案人员">
        <bpmn:flowNodeRef>amend_case</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="caller_start"><bpmn:outgoing>c1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="caller_open" scriptFormat="python">
      <bpmn:incoming>c1</bpmn:incoming><bpmn:outgoing>c2</bpmn:outgoing>
      <bpmn:script>case_id = open_case(
    party_name=party_name, party_type='institution', title='调用测试', status='open')</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:callActivity id="call_review" calledElement="legal_review">
      <bpmn:incoming>c2</bpmn:incoming><bpmn:incoming>c5</bpmn:incoming><bpmn:outgoing>c3</bpmn:outgoing>
    </bpmn:callActivity>
    <bpmn:exclusiveGateway id="caller_gateway" default="c4">
      <bpmn:incoming>c3</bpmn:incoming><bpmn:outgoing>c4</bpmn:outgoing><bpmn:outgoing>c6</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:userTask id="amend_case">
      <bpmn:extensionElements><camunda:formData>
        <camunda:formField id="proposed_penalty" label="拟处理意见" type="string" />
      </camunda:formData></bpmn:extensionElements>
      <bpmn:incoming>c4</bpmn:incoming><bpmn:outgoing>c5</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="caller_end"><bpmn:incoming>c6</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="c1" sourceRef="caller_start" targetRef="caller_open" />
    <bpmn:sequenceFlow id="c2" sourceRef="caller_open" targetRef="call_review" />
    <bpmn:sequenceFlow id="c3" sourceRef="call_review" targetRef="caller_gateway" />
    <bpmn:sequenceFlow id="c4" sourceRef="caller_gateway" targetRef="amend_case" />
    <bpmn:sequenceFlow id="c5" sourceRef="amend_case" targetRef="call_review" />
    <bpmn:sequenceFlow id="c6" sourceRef="caller_gateway" targetRef="caller_end">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
        >legal_review_result == 'passed'</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>"""

# Caller variables that the called process must never see, and that it must never overwrite.
CALLER_ONLY = {"outcome": "caller-outcome", "reviewer": "caller-reviewer", "caller_secret": "内部"}


def start_caller(seeded: sessionmaker[Session]) -> Driver:
    with unit_of_work(seeded) as s:
        registry.deploy(s, [registry.Upload("lr_test_caller.bpmn", CALLER_XML.encode())], actor="system")
    return Driver.start(seeded, "lr_test_caller", "officer1", **(INPUTS | CALLER_ONLY))


def test_only_declared_variables_cross_the_call(seeded) -> None:
    d = start_caller(seeded)
    inside = spiff_data(d, d.task("submit_review"))
    assert set(inside) == DECLARED_INPUTS
    assert inside["case_id"] == d.case().id
    submit(d)
    receive(d, counsel_needed=False)
    review(d, "revise", "请调整罚款倍数")
    assert d.open_ids() == ["amend_case"]
    back = d.data()
    assert (back["legal_review_result"], back["legal_review_opinion"]) == ("revise", "请调整罚款倍数")
    for name, value in CALLER_ONLY.items():  # not overwritten by the review's own variables
        assert back[name] == value
    internal = {"review_opinion", "investigators", "investigator_list", "chk_facts", "counsel_needed"}
    assert not internal & set(back)


def test_called_twice_in_one_case_restarts_the_clock(seeded) -> None:
    d = start_caller(seeded)
    assert d.case().stage == "法制审核"
    submit(d)
    receive(d, counsel_needed=False)
    assert d.clock("法制审核").due_at == REVIEW_DUE
    # The first review runs late: the chief is asked to supervise it.
    assert d.advance(to=beijing(2024, 10, 14, 9, 0)) == [d.id]
    assert d.open_ids() == ["review_legal", "review_overdue"]
    review(d, "supplement", "需补充调取2023年结算明细")
    # Back in the case: the supervision task closed with the review, the clock stopped.
    assert d.open_ids() == ["amend_case"]
    assert d.clock("法制审核").status == "stopped" and d.instance().next_timer_at is None
    assert d.case().legal_review is True
    assert d.data()["legal_review_result"] == "supplement"

    # The officers investigate for a week, amend the proposal and submit again.
    d.advance(to=beijing(2024, 10, 21, 9, 0))
    d.complete("amend_case", "officer1", proposed_penalty="责令退回50 000元，处1倍罚款50 000元")
    inside = spiff_data(d, d.task("submit_review"))
    assert set(inside) == DECLARED_INPUTS  # a fresh review: nothing left over from the first one
    assert inside["proposed_penalty"] == "责令退回50 000元，处1倍罚款50 000元"
    submit(d)
    # Restarted on Monday 10-21: 10-22..10-25 (4), 10-28..11-01 (9), 11-04 (10).
    second_due = end_of(date(2024, 11, 4))
    review_clock = d.clock("法制审核")
    assert review_clock.status == "running" and review_clock.due_at == second_due
    assert review_clock.started_at == beijing(2024, 10, 21, 9, 0)
    receive(d, counsel_needed=False)
    assert d.task("review_legal").due_at == second_due
    assert d.instance().next_timer_at == second_due
    assert d.advance(to=beijing(2024, 11, 4, 18, 0)) == []
    review(d, "passed", "补正后同意")
    assert d.finished
    assert d.data()["legal_review_result"] == "passed"


def test_a_caller_must_supply_every_declared_input(seeded) -> None:
    from engine.errors import WorkflowScriptError

    with unit_of_work(seeded) as s:
        registry.deploy(s, [registry.Upload("lr_test_caller.bpmn", CALLER_XML.encode())], actor="system")
    without_hearing = {k: v for k, v in INPUTS.items() if k != "hearing_held"}
    with pytest.raises(WorkflowScriptError, match="Data Input"):
        Driver.start(seeded, "lr_test_caller", "officer1", **without_hearing)
