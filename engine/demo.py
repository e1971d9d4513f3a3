"""Demo cases for `ybjg seed --demo`: six 行政处罚 cases at different stages, so that a newcomer who
signs in sees real work at once. Nothing is inserted by hand: each case is played through the shipped
penalty_case process by the demo accounts — instances.start, tasks.complete, documents.issue,
evidence.upload, comments.add — with the engine clock moved back so that the history spreads over
the past weeks. The steps of all cases run in time order, so 文号 and the audit trail are in order too.

Idempotent: each case leaves a `demo.case` audit event named by its key, and a case whose event
exists is not played again."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit, comments, documents, evidence, instances, tasks
from engine.clock import BEIJING, clock, to_beijing, utcnow
from engine.errors import InputError
from engine.models import AuditEvent, ProcessInstance, Task, TaskState
from engine.users import actor_for

PROCESS = "penalty_case"
MARK = "demo.case"


@dataclass(frozen=True)
class Start:
    """线索登记: the start form of penalty_case."""

    user: str
    form: Mapping[str, Any]


@dataclass(frozen=True)
class Complete:
    """Complete the case's one open task with this BPMN id."""

    task: str
    user: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    task: str
    user: str


@dataclass(frozen=True)
class Draft:
    task: str
    user: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Issue:
    """Generate a document of `kind`, from the open task `task` when given (its 文号 may come from it)."""

    kind: str
    user: str
    task: str | None = None


@dataclass(frozen=True)
class Upload:
    title: str
    kind: str
    file_name: str
    text: str
    user: str


@dataclass(frozen=True)
class Note:
    user: str
    body: str


Action = Start | Complete | Claim | Draft | Issue | Upload | Note


@dataclass(frozen=True)
class At:
    """An action `days` days before the demo's end, at `hour` o'clock Beijing time."""

    days: int
    hour: float
    action: Action


# --- what the officers enter (the forms of bpmn/penalty_case.bpmn and bpmn/legal_review.bpmn) -----


def _verify(text: str) -> Complete:
    return Complete("verify_clue", "officer1", {"verification": text, "suggestion": "file"})


def _file(cause: str) -> Complete:
    return Complete(
        "decide_filing",
        "chief",
        {"decision": "file", "case_cause": cause, "decision_opinion": "同意立案调查"},
    )


def _investigate(evidence_list: str) -> Complete:
    return Complete(
        "investigate",
        "officer1",
        {
            "investigators": "officer1,officer2",
            "evidence_list": evidence_list,
            "investigation_step": "report",
        },
    )


def _report(facts: str, amount: str, **types: bool) -> Complete:
    return Complete(
        "investigation_report",
        "officer1",
        {"facts": facts, "amount_confirmed": amount, "report_suggestion": "penalise", **types},
    )


REVIEW = Complete(
    "review_case",
    "chief",
    {
        "review_outcome": "penalise",
        "complex": False,
        "review_opinion": "事实清楚，证据充分，同意予以行政处罚",
    },
)


def _propose(fine: str, recovery: str, article: str) -> Complete:
    return Complete(
        "propose_penalty",
        "officer1",
        {
            "penalty_article": article,
            "penalty_band": "normal",
            "proposed_recovery": recovery,
            "proposed_fine": fine,
            "proposed_suspension_months": 0,
            "terminate_agreement": False,
            "proposed_penalty": f"责令退回医保基金{recovery}元，处罚款{fine}元",
            "legal_basis": "《医疗保障基金使用监督管理条例》",
        },
    )


SERVE_NOTICE = Complete(
    "serve_notice", "officer1", {"notice_service_method": "direct", "notice_note": "直接送达，当事人签收"}
)
WAIVED = Complete(
    "record_party_response", "officer1", {"party_response": "waived", "hearing_requested": False}
)


def _consider(fine: str) -> Complete:
    return Complete(
        "consider_arguments",
        "officer1",
        {
            "arguments_adopted": "none",
            "revised_fine": fine,
            "consideration_note": "当事人书面放弃陈述申辩，维持拟处理意见",
        },
    )


# --- the six cases ------------------------------------------------------------------------------

# fmt: off
CASES: dict[str, list[At]] = {
    # 线索核查: a clue from smart supervision, waiting for an officer to claim it.
    "clue": [
        At(2, 10, Start("officer2", {
            "clue_source": "smart", "party_name": "渝北区康宁大药房", "party_type": "institution",
            "institution_type": "pharmacy", "amount_involved": "8650.00",
            "clue_summary": "智能监管系统提示：同一参保人一个月内12次购买同一降压药，疑似串换药品",
        })),
    ],
    # 立案审批: verified, waiting for the 科室负责人.
    "filing": [
        At(6, 9.5, Start("officer1", {
            "clue_source": "report", "party_name": "渝北区龙溪街道社区卫生服务中心",
            "party_type": "institution", "institution_type": "primary_care", "amount_involved": "31200.00",
            "clue_summary": "群众举报该中心对住院患者重复收取护理费、超标准收取床位费",
        })),
        At(4, 15, _verify("调取2024年1月至6月住院结算明细，护理费与床位费重复计费情况基本属实，建议立案。")),
    ],
    # 调查取证: filed, evidence collected (one record in two versions), a draft, a comment.
    "investigation": [
        At(20, 9, Start("officer1", {
            "clue_source": "report", "party_name": "重庆渝北仁爱骨科医院", "party_type": "institution",
            "institution_type": "private_hospital", "amount_involved": "236400.00",
            "clue_summary": "举报该院存在挂床住院、将自费耗材串换为医保目录内耗材结算等问题",
        })),
        At(17, 16, _verify("抽查2024年住院病历30份，发现挂床住院5例、串换耗材记录若干，线索属实。")),
        At(15, 10, _file("涉嫌挂床住院、串换医用耗材骗取医保基金")),
        At(15, 11, Issue("立案审批表", "officer1")),
        At(14, 9, Claim("investigate", "officer1")),
        At(12, 16, Upload("现场检查笔录", "勘验笔录/现场笔录", "现场检查笔录.txt",
                          "现场检查笔录\n检查时间：上午九时至十一时\n检查地点：住院部三病区\n"
                          "检查情况：在院登记患者42人，实际在床37人，5人不在院。", "officer1")),
        At(11, 10, Upload("住院结算明细", "电子数据", "住院结算明细.csv",
                          "结算日期,患者,项目,金额\n2024-03-02,患者甲,一次性骨科耗材,4860.00\n"
                          "2024-03-05,患者乙,一次性骨科耗材,5120.00\n", "officer2")),
        At(10, 15, Upload("现场检查笔录", "勘验笔录/现场笔录", "现场检查笔录（经当事人签字）.txt",
                          "现场检查笔录（经当事人签字确认）\n检查时间：上午九时至十一时\n检查地点：住院部三病区\n"
                          "检查情况：在院登记患者42人，实际在床37人，5人不在院。\n当事人签字：已签",
                          "officer1")),
        At(10, 17, Note("chief", "请重点核查2024年下半年的住院病历，并对耗材进销存做账实核对。")),
        At(1, 17, Draft("investigate", "officer1", {
            "investigators": "officer1,officer2",
            "evidence_list": "现场检查笔录、住院结算明细（待补充进销存记录）",
        })),
    ],
    # 法制审核: an individual fined 12 000 元 (≥ 1 万 needs review); the 法制审核员 is to receive it.
    "legal_review": [
        At(30, 9, Start("officer1", {
            "clue_source": "smart", "party_name": "刘某", "party_type": "person",
            "amount_involved": "4000.00",
            "clue_summary": "智能监管提示：参保人刘某住院期间其社保卡在三家药店购药，疑似冒名就医",
        })),
        At(29, 15, _verify("调取购药记录及监控录像，刘某将社保卡交由他人使用，属实。")),
        At(28, 10, _file("涉嫌将本人医保凭证交由他人冒名使用")),
        At(21, 16, _investigate("询问笔录、购药记录、药店监控截图")),
        At(18, 10, _report("刘某于2024年将本人医保凭证交由他人冒名购药，造成医保基金损失4000元。",
                           "4000", vt_impersonation=True)),
        At(15, 10, REVIEW),
        At(12, 11, _propose("12000", "4000", "a41")),
        At(11, 10, Issue("行政处罚事先告知书", "officer1", task="serve_notice")),
        At(11, 15, SERVE_NOTICE),
        At(7, 10, WAIVED),
        At(5, 16, _consider("12000")),
        At(2, 10, Complete("submit_review", "officer1", {
            "investigators": "officer1,officer2", "review_grounds": "local_threshold",
            "evidence_summary": "询问笔录、购药记录、药店监控截图",
            "legal_basis": "《医疗保障基金使用监督管理条例》第四十一条",
        })),
    ],
    # 告知: the 行政处罚事先告知书 generated and served; the party has its 陈述申辩 window.
    "statement": [
        At(25, 9, Start("officer1", {
            "clue_source": "inspection", "party_name": "渝北区惠民诊所", "party_type": "institution",
            "institution_type": "clinic", "amount_involved": "12000.00",
            "clue_summary": "日常检查发现该诊所超标准收取诊查费并串换治疗项目",
        })),
        At(24, 15, _verify("抽查门诊处方及结算单据，超标准收费事实属实。")),
        At(23, 10, _file("涉嫌超标准收费、串换诊疗项目")),
        At(15, 16, _investigate("现场检查笔录、门诊结算清单、收费公示照片")),
        At(12, 10, _report("该诊所2024年超标准收取诊查费、将理疗串换为针灸项目结算，造成基金损失12000元。",
                           "12000", vt_overcharge=True, vt_item_swap=True)),
        At(8, 10, REVIEW),
        At(5, 11, _propose("40000", "12000", "a40")),
        At(2, 10, Issue("行政处罚事先告知书", "officer1", task="serve_notice")),
        At(2, 15, SERVE_NOTICE),
    ],
    # 结案: decided, served, published, paid and closed.
    "closed": [
        At(75, 9, Start("officer1", {
            "clue_source": "assigned", "party_name": "渝北区仁和大药房", "party_type": "institution",
            "institution_type": "pharmacy", "amount_involved": "12000.00",
            "clue_summary": "市局交办：该药房为非定点药店刷卡结算",
        })),
        At(74, 15, _verify("核实该药房通过定点药店账户为其关联门店刷卡结算，属实。")),
        At(73, 10, _file("涉嫌为非定点医药机构提供刷卡结算")),
        At(66, 16, _investigate("现场检查笔录、询问笔录、结算流水")),
        At(62, 10, _report("该药房2024年为关联非定点门店刷卡结算，造成医保基金损失12000元。",
                           "12000", vt_other=True)),
        At(58, 10, REVIEW),
        At(55, 11, _propose("40000", "12000", "a40")),
        At(54, 10, Issue("行政处罚事先告知书", "officer1", task="serve_notice")),
        At(54, 15, SERVE_NOTICE),
        At(50, 10, WAIVED),
        At(47, 16, _consider("40000")),
        At(40, 10, Complete("decide_penalty", "director", {"decision_opinion": "同意", "to_publish": True})),
        At(39, 9, Issue("行政处罚决定书", "officer1", task="serve_decision")),
        At(39, 15, Complete("serve_decision", "officer1", {"service_method": "direct"})),
        At(38, 10, Complete("publish_decision", "officer1", {"publish_channel": "信用中国（重庆）"})),
        At(30, 10, Complete("await_payment", "officer1", {"payment_status": "paid", "paid_on": "{today}"})),
        At(12, 10, Complete("close_case_report", "officer1", {
            "closing_summary": "当事人已全额退回医保基金并缴纳罚款，处罚决定执行完毕。",
            "archive_no": "{year}-罚-001",
        })),
        At(12, 11, Issue("结案报告", "officer1")),
        At(10, 10, Complete("approve_closing", "chief", {"closing_opinion": "同意结案归档"})),
    ],
}
# fmt: on


@dataclass(frozen=True)
class Stores:
    """Where the demo's generated documents and evidence files go, and what renders the .docx."""

    renderer: documents.Renderer
    document_dir: Path
    evidence: evidence.EvidenceStore


def seed_demo_cases(session: Session, stores: Stores, *, now: datetime | None = None) -> int:
    """Play every demo case not yet seeded (in the caller's transaction) and return how many were.
    The engine clock is moved back for each step; afterwards it runs again (or stays at `now`, the
    instant a test froze it at). Raises DomainError when a shipped process no longer fits the steps."""
    anchor = now or utcnow()
    todo = {key: steps for key, steps in CASES.items() if not _seeded(session, key)}
    timeline = sorted(
        ((_instant(anchor, step), key, index, step.action) for key, steps in todo.items()
         for index, step in enumerate(steps)),
        key=lambda entry: (entry[0], entry[1], entry[2]),
    )  # fmt: skip
    played: dict[str, int] = {}  # case key -> instance id
    try:
        for instant, key, _, action in timeline:
            clock.set(instant)
            _play(session, stores, key, action, played)
    finally:
        clock.reset()
        if now is not None:
            clock.set(now)
    return len(played)


def _seeded(session: Session, key: str) -> bool:
    found = select(AuditEvent.id).where(AuditEvent.action == MARK, AuditEvent.object_id == key).limit(1)
    return session.scalar(found) is not None


def _instant(anchor: datetime, step: At) -> datetime:
    day = to_beijing(anchor).date() - timedelta(days=step.days)
    hours, fraction = divmod(step.hour, 1)
    instant = datetime.combine(day, time(int(hours), int(fraction * 60)), BEIJING)
    return min(instant, anchor)


def _play(session: Session, stores: Stores, key: str, action: Action, played: dict[str, int]) -> None:
    actor = actor_for(session, action.user)
    if isinstance(action, Start):
        instance = instances.start(session, PROCESS, actor=actor, variables=action.form)
        played[key] = instance.id
        audit.record(
            session, actor="system", action=MARK, object_type="demo", object_id=key,
            case_id=instance.case_id, instance_id=instance.id,
            detail={"说明": "演示案件：由 ybjg seed --demo 按真实流程办理生成"},
        )  # fmt: skip
        return
    instance_id = played[key]
    case_id = _case_id(session, instance_id)
    if isinstance(action, Complete):
        tasks.complete(
            session, _open(session, instance_id, action.task).id, actor=actor, data=_filled(action.data)
        )
    elif isinstance(action, Claim):
        tasks.claim(session, _open(session, instance_id, action.task).id, actor=actor)
    elif isinstance(action, Draft):
        tasks.save_draft(session, _open(session, instance_id, action.task).id, actor=actor, data=action.data)
    elif isinstance(action, Issue):
        task_id = _open(session, instance_id, action.task).id if action.task else None
        documents.issue(
            session, case_id, action.kind, actor=actor, renderer=stores.renderer,
            store=stores.document_dir, task_id=task_id,
        )  # fmt: skip
    elif isinstance(action, Upload):
        evidence.upload(
            session, stores.evidence, case_id, io.BytesIO(action.text.encode("utf-8")),
            file_name=action.file_name, title=action.title, kind=action.kind, actor=actor,
        )  # fmt: skip
    else:
        comments.add(session, case_id, action.body, actor=actor)


def _filled(data: Mapping[str, Any]) -> dict[str, Any]:
    """The data with {today} and {year} in text values replaced as of the (moved) clock."""
    today = to_beijing(utcnow()).date()
    return {
        k: v.format(today=today.isoformat(), year=today.year) if isinstance(v, str) else v
        for k, v in data.items()
    }


def _case_id(session: Session, instance_id: int) -> int:
    instance = session.get(ProcessInstance, instance_id)
    if instance is None or instance.case_id is None:
        raise InputError(f"演示流程实例 {instance_id} 没有案件")
    return instance.case_id


def _open(session: Session, instance_id: int, bpmn_id: str) -> Task:
    query = select(Task).where(
        Task.instance_id == instance_id, Task.bpmn_id == bpmn_id, Task.state == TaskState.OPEN
    )
    found = session.scalars(query).first()
    if found is None:
        raise InputError(f"演示案件的流程没有待办的「{bpmn_id}」任务（流程已变更？）")
    return found
