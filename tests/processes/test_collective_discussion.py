"""集体讨论 (collective_discussion): convened by the 局长, one opinion per member (multi-instance,
each assigned to that member), quorum and majority by the rule tables, the chair's decision and
the record; started on its own, and called from a small case process for the call interface."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from engine import instances, registry, tasks
from engine.clock import clock
from engine.db import unit_of_work
from engine.errors import NotPermittedError
from engine.models import ProcessInstance, Task
from engine.users import SYSTEM, actor_for
from engine.workflow import runtime
from tests.processes.driver import Driver, beijing, end_of

START = beijing(2024, 9, 23, 10, 0)
MEETING = "2024-09-27"  # Friday: the members' opinions are due by the end of the meeting day
FIVE = ["director", "deputy", "member1", "member2", "member3"]

INPUTS: dict[str, Any] = {
    "case_number": "渝北医保立〔2024〕7号",
    "party_name": "某某医院",
    "topic": "某某医院分解住院骗取医保基金案拟处理意见",
    "facts": "2023年分解住院132人次，骗取医保基金38万元",
    "proposed_penalty": "责令退回38万元，处骗取金额3倍罚款114万元，暂停医保结算6个月",
    "legal_review_opinion": "事实清楚，证据确凿，程序合法，同意",
}
# Engine defect (reported): a multi-instance activity whose instances complete in separate requests
# never finishes, because engine.workflow.runtime restores specs from a pickle that lacks the
# completed_event -> merge_child wiring Spiff adds at run time (Spiff's own spec converter re-adds it).
# Strict: once the engine is fixed these pass, fail as XPASS, and this marker is to be removed.
DECLARED_INPUTS = {
    "case_id",
    "case_number",
    "party_name",
    "topic",
    "facts",
    "proposed_penalty",
    "legal_review_opinion",
}


@pytest.fixture(autouse=True)
def _frozen() -> None:
    clock.set(START)


def start(seeded: sessionmaker[Session]) -> Driver:
    return Driver.start(seeded, "collective_discussion", "director", **INPUTS)


def convene(d: Driver, members: list[str] | str = FIVE) -> None:
    listed = members if isinstance(members, str) else ",".join(members)
    d.complete(
        "convene_discussion", "director", meeting_date=MEETING, meeting_place="局三楼会议室", members=listed
    )


def vote(d: Driver, votes: dict[str, str]) -> None:
    """Each member completes their own opinion task."""
    open_ = {t.assignee: t for t in d.tasks_named("record_opinion")}
    assert set(open_) == set(votes), f"opinion tasks open for {sorted(open_)}"
    for user, outcome in votes.items():
        with unit_of_work(d.sf) as s:
            opinion = "因公出差" if outcome == "absent" else f"{user}的意见"
            data = {"outcome": outcome, "vote_opinion": opinion}
            tasks.complete(s, open_[user].id, actor=actor_for(s, user), data=data)


def conclude(d: Driver, decision: str) -> None:
    d.complete("conclude_discussion", "director", decision=decision, discussion_notes="经讨论，形成决定如下")


def spiff_data(d: Driver, task: Task) -> dict[str, Any]:
    with d.sf() as s:
        loaded = instances.load(s, s.get(ProcessInstance, d.id), SYSTEM)
        found = runtime.find_task(loaded.workflow, task.spiff_task_id)
        assert found is not None
        return dict(found.data)


def test_five_members_all_agree(seeded) -> None:
    d = start(seeded)
    assert d.task("convene_discussion").role == "director"
    convene(d)
    opinions = d.tasks_named("record_opinion")
    assert sorted(t.assignee for t in opinions) == sorted(FIVE)
    assert {(t.role, t.due_at, t.stage) for t in opinions} == {
        ("discussion_member", end_of(date(2024, 9, 27)), "集体讨论")
    }
    vote(d, dict.fromkeys(FIVE, "agree"))
    chair = d.task("conclude_discussion")
    assert chair.role == "director"
    shown = spiff_data(d, chair)
    assert shown["tally_text"] == "应到5人，实到5人；同意5人，修改0人，不同意0人"
    assert shown["majority_conclusion"] == "approve"
    conclude(d, "approve")
    assert d.finished
    data = d.data()
    assert data["discussion_conclusion"] == "approve"
    record = data["discussion_record"]
    assert record.splitlines()[0] == "议题：某某医院分解住院骗取医保基金案拟处理意见"
    assert "出席：director、deputy、member1、member2、member3" in record
    assert "未出席或回避：无" in record
    assert "member2：同意。member2的意见" in record
    assert record.endswith("决定：同意拟处理意见")


def test_majority_revise_binds_the_chair(seeded) -> None:
    d = start(seeded)
    convene(d)
    vote(
        d,
        {
            "director": "agree",
            "deputy": "revise",
            "member1": "revise",
            "member2": "agree",
            "member3": "revise",
        },
    )
    assert spiff_data(d, d.task("conclude_discussion"))["majority_text"] == "过半数意见为修改"
    conclude(d, "approve")  # against the majority: refused
    assert d.open_ids() == ["conclude_discussion"]
    note = spiff_data(d, d.task("conclude_discussion"))["conclusion_note"]
    assert note == "决定应当按多数意见作出（过半数意见为修改），请重新选择"
    conclude(d, "revise")
    assert d.finished
    assert d.data()["discussion_conclusion"] == "revise"


@pytest.mark.parametrize(
    ("votes", "majority"),
    [
        (["disagree", "disagree", "disagree", "agree", "revise"], "reject"),
        (["agree", "agree", "revise", "revise", "disagree"], "revise"),  # no majority: no approval
        (["agree", "agree", "agree", "absent", "revise"], "approve"),  # 3 of 4 present
    ],
)
def test_majority_rule(seeded, votes: list[str], majority: str) -> None:
    d = start(seeded)
    convene(d)
    vote(d, dict(zip(FIVE, votes, strict=True)))
    assert spiff_data(d, d.task("conclude_discussion"))["majority_conclusion"] == majority
    conclude(d, majority)
    assert d.data()["discussion_conclusion"] == majority


def test_too_few_present_reconvenes(seeded) -> None:
    d = start(seeded)
    convene(d)
    # 3 of 5 present is less than two thirds: the meeting does not count.
    vote(
        d,
        {
            "director": "agree",
            "deputy": "absent",
            "member1": "agree",
            "member2": "absent",
            "member3": "agree",
        },
    )
    assert d.open_ids() == ["convene_discussion"]
    note = spiff_data(d, d.task("convene_discussion"))["convene_note"]
    assert note == "实到人数未达到应到人数的三分之二，讨论无效，请重新召集"
    d.complete(
        "convene_discussion",
        "director",
        meeting_date="2024-10-08",
        meeting_place="局三楼会议室",
        members=",".join(FIVE),
    )
    # 10-1..10-7 National Day: the new meeting on Tuesday 10-8.
    assert {t.due_at for t in d.tasks_named("record_opinion")} == {end_of(date(2024, 10, 8))}
    vote(d, dict.fromkeys(FIVE, "agree"))
    conclude(d, "approve")
    record = d.data()["discussion_record"]
    assert "会议日期：2024-10-08" in record and "未出席或回避：无" in record
    assert "因公出差" not in record  # only the meeting that counted is recorded


@pytest.mark.parametrize(
    ("members", "note"),
    [
        ("director,deputy,member1,member1,member2", "参会成员不得少于5人，请重新确定参会成员"),
        ("director，deputy，member1，member2，member3，chief", "参会成员人数应为奇数，请重新确定参会成员"),
    ],
)
def test_members_must_be_an_odd_number_of_at_least_five(seeded, members: str, note: str) -> None:
    d = start(seeded)
    convene(d, members)
    assert d.open_ids() == ["convene_discussion"]
    assert spiff_data(d, d.task("convene_discussion"))["convene_note"] == note
    convene(d)
    assert len(d.tasks_named("record_opinion")) == 5


def test_each_opinion_task_belongs_to_its_member_only(seeded) -> None:
    d = start(seeded)
    convene(d)
    by_user = {t.assignee: t for t in d.tasks_named("record_opinion")}
    mine = by_user["member1"]
    data = {"outcome": "agree", "vote_opinion": "同意"}
    for user in ("member2", "director", "chief", "other"):
        with pytest.raises(NotPermittedError), unit_of_work(seeded) as s:
            tasks.complete(s, mine.id, actor=actor_for(s, user), data=data)
    with seeded() as s:
        inbox = tasks.list_open(s, actor=actor_for(s, "member1"))
        assert [t.id for t in inbox] == [mine.id]
        assert tasks.list_open(s, actor=actor_for(s, "chief")) == []
    with unit_of_work(seeded) as s:
        tasks.complete(s, mine.id, actor=actor_for(s, "member1"), data=data)
    assert sorted(t.assignee for t in d.tasks_named("record_opinion")) == sorted(set(FIVE) - {"member1"})


# --- called from a case --------------------------------------------------------------------

CALLER_XML = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  id="Definitions_cd_caller" targetNamespace="http://ybjg.example/test">
  <bpmn:process id="cd_test_caller" name="集体讨论调用测试" isExecutable="true">
    <bpmn:startEvent id="caller_start"><bpmn:outgoing>c1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="caller_open" scriptFormat="python">
      <bpmn:incoming>c1</bpmn:incoming><bpmn:outgoing>c2</bpmn:outgoing>
      <bpmn:script>case_id = open_case(
    party_name=party_name, party_type='institution', title='调用测试', status='open')</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:callActivity id="call_discussion" calledElement="collective_discussion">
      <bpmn:incoming>c2</bpmn:incoming><bpmn:outgoing>c3</bpmn:outgoing>
    </bpmn:callActivity>
    <bpmn:endEvent id="caller_end"><bpmn:incoming>c3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="c1" sourceRef="caller_start" targetRef="caller_open" />
    <bpmn:sequenceFlow id="c2" sourceRef="caller_open" targetRef="call_discussion" />
    <bpmn:sequenceFlow id="c3" sourceRef="call_discussion" targetRef="caller_end" />
  </bpmn:process>
</bpmn:definitions>"""

# Caller variables the discussion must never see nor overwrite (it has its own `decision`, `members`).
CALLER_ONLY = {"decision": "caller-decision", "members": "caller-members", "caller_secret": "内部"}


def test_only_declared_variables_cross_the_call(seeded) -> None:
    with unit_of_work(seeded) as s:
        registry.deploy(s, [registry.Upload("cd_test_caller.bpmn", CALLER_XML.encode())], actor="system")
    d = Driver.start(seeded, "cd_test_caller", "director", **(INPUTS | CALLER_ONLY))
    assert set(spiff_data(d, d.task("convene_discussion"))) == DECLARED_INPUTS
    assert d.case().stage == "集体讨论"
    convene(d)
    vote(d, dict.fromkeys(FIVE, "agree"))
    conclude(d, "approve")
    assert d.finished
    back = d.data()
    assert back["discussion_conclusion"] == "approve" and back["discussion_record"].endswith("同意拟处理意见")
    for name, value in CALLER_ONLY.items():
        assert back[name] == value
    assert not {"ballots", "member_list", "tally_text", "majority_conclusion", "meeting_date"} & set(back)
    assert d.case().collective_discussion is True
