"""`ybjg seed --demo`'s cases: played through the real penalty_case process to six stages, with
documents and evidence; a second run creates nothing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from engine import audit, demo, evidence, instances
from engine.clock import BEIJING, clock, utcnow
from engine.db import unit_of_work
from engine.models import AuditEvent, Case, Comment, Document, EvidenceFile, ProcessInstance, Task, TaskState
from engine.users import SYSTEM
from engine.workflow import runtime
from integrations.documents import DocxRenderer, text_of

NOW = datetime(2024, 11, 25, 10, tzinfo=BEIJING)
COUNTED = (Case, ProcessInstance, Task, Document, EvidenceFile, Comment, AuditEvent)


def _stores(root: Path) -> demo.Stores:
    return demo.Stores(DocxRenderer(), root / "documents", evidence.EvidenceStore(root / "evidence"))


def _counts(sf) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with sf() as s:
        return {m.__name__: s.scalar(select(func.count()).select_from(m)) for m in COUNTED}


def test_demo_cases_reach_their_stages_once(seeded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clock.set(NOW)
    with unit_of_work(seeded) as s:
        assert demo.seed_demo_cases(s, _stores(tmp_path), now=NOW) == 6
    assert utcnow() == NOW  # the clock is back where the test froze it

    with seeded() as s:
        cases = {c.party_name: c for c in s.scalars(select(Case))}
        open_tasks = s.scalars(select(Task).where(Task.state == TaskState.OPEN).order_by(Task.id)).all()
        stages = {
            name: (c.status, c.stage, [t.bpmn_id for t in open_tasks if t.case_id == c.id])
            for name, c in cases.items()
        }
        assert stages == {
            "渝北区康宁大药房": ("clue", "线索核查", ["verify_clue"]),
            "渝北区龙溪街道社区卫生服务中心": ("clue", "立案审批", ["decide_filing"]),
            "重庆渝北仁爱骨科医院": ("open", "调查取证", ["investigate"]),
            "刘某": ("open", "法制审核", ["receive_review"]),
            "渝北区惠民诊所": ("open", "告知", ["record_party_response"]),
            "渝北区仁和大药房": ("closed", "结案", []),
        }
        # Played in time order across the cases: the oldest case was filed first.
        assert cases["渝北区仁和大药房"].number == "渝北医保立〔2024〕1号"
        assert cases["渝北区仁和大药房"].fine == 40000
        assert cases["渝北区仁和大药房"].opened_at.astimezone(BEIJING).date().isoformat() == "2024-09-11"

        investigation = cases["重庆渝北仁爱骨科医院"]
        (task,) = [t for t in open_tasks if t.case_id == investigation.id]
        assert task.assignee == "officer1" and "待补充进销存记录" in (task.draft or {})["evidence_list"]
        items = evidence.list_for_case(s, investigation.id)
        assert sorted((i.title, len(i.versions)) for i in items) == [("住院结算明细", 1), ("现场检查笔录", 2)]
        assert len(s.scalars(select(Comment).where(Comment.case_id == investigation.id)).all()) == 1

        # The 告知书 served at 告知 carries the 文号 the process drew, and says so inside the file.
        statement = cases["渝北区惠民诊所"]
        notice = s.scalars(select(Document).where(Document.case_id == statement.id)).one()
        assert (notice.kind, notice.number) == ("行政处罚事先告知书", "渝北医保告〔2024〕3号")
        instance = s.scalars(select(ProcessInstance).where(ProcessInstance.case_id == statement.id)).one()
        data = runtime.workflow_data(instances.load(s, instance, SYSTEM).workflow)
        assert data["notice_number"] == notice.number
        text = text_of((tmp_path / "documents" / notice.storage_key).read_bytes())
        assert notice.number in text and "渝北区惠民诊所" in text and "40000.00" in text

        closed = cases["渝北区仁和大药房"].id
        kinds = sorted(d.kind for d in s.scalars(select(Document).where(Document.case_id == closed)))
        assert kinds == ["结案报告", "行政处罚事先告知书", "行政处罚决定书"]
        assert audit.verify(s).ok

    before = _counts(seeded)
    with unit_of_work(seeded) as s:
        assert demo.seed_demo_cases(s, _stores(tmp_path), now=NOW) == 0
    assert _counts(seeded) == before
