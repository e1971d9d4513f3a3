"""Intake in the engine: 举报投诉 (receipt, query code, identity kept apart, rate limits in the
database), 智能监管疑点 import (idempotent, broken rows by line), transfers entered with the sender's
documents, and 信息抄告 through the outbox (one copy per agency per case)."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine import evidence, infocopy, intake, ratelimit, suspicions, transfers
from engine.clock import clock
from engine.db import unit_of_work
from engine.errors import FormValidationError, NotPermittedError, RateLimitedError
from engine.models import (
    AuditEvent,
    Case,
    EvidenceFile,
    OutboxMessage,
    ProcessInstance,
    Report,
    ReporterIdentity,
    SuspicionRecord,
    Task,
    TaskState,
)
from engine.users import actor_for
from tests.engine.helpers import open_tasks

PDF = b"%PDF-1.7\n%%EOF\n"
REPORT = {
    "bureau": "yubei",
    "institution": "某某大药房",
    "matter": intake.MATTERS[0],
    "description": "该药房用医保卡刷取保健品，收据写成药品名称。",
    "name": "王举报",
    "phone": "13800001234",
    "email": "wang@example.com",
}


def submit(sf: sessionmaker[Session], store: evidence.EvidenceStore, form: dict | None = None, files=()):
    with unit_of_work(sf) as s:
        return intake.submit(s, store, form or REPORT, list(files))


@pytest.fixture
def store(tmp_path: Path) -> evidence.EvidenceStore:
    return evidence.EvidenceStore(tmp_path / "evidence")


def test_report_becomes_a_clue_with_receipt_and_the_identity_kept_apart(seeded, store) -> None:
    receipt = submit(seeded, store, files=[intake.Attachment("王举报的照片.pdf", io.BytesIO(PDF))])
    with seeded() as s:
        instance_id = s.scalars(select(Report.instance_id)).one()
    # The clue is in the officers' group inbox.
    (task,) = open_tasks(seeded, instance_id)
    assert "officer" in task.candidate_groups and task.assignee is None
    assert receipt.receipt_number.startswith("YUBEI-JB") and receipt.receipt_number.endswith("-00001")
    assert len(receipt.query_code) == 8
    with seeded() as s:
        case = s.get(Case, receipt.case_id)
        assert (case.party_name, case.status, case.clue_source) == ("某某大药房", "clue", "report")
        report = s.scalars(select(Report)).one()
        assert report.query_code_hash != receipt.query_code and not report.anonymous
        assert s.get(ReporterIdentity, report.id).phone == "13800001234"
        # The file name that carried the reporter's name is not kept.
        files = s.scalars(select(EvidenceFile).where(EvidenceFile.case_id == case.id)).all()
        assert [(f.file_name, f.uploaded_by) for f in files] == [("举报附件1.pdf", "public")]
        # Nowhere but the identity table: not the workflow, the tasks, the case, the audit trail.
        instance = s.get(ProcessInstance, report.instance_id)
        tasks = s.scalars(select(Task).where(Task.case_id == case.id)).all()
        events = s.scalars(select(AuditEvent)).all()
        haystack = (
            instance.state
            + repr([(t.form_data, t.name) for t in tasks])
            + repr([(e.detail, e.client_addr) for e in events])
            + repr(case.__dict__)
        )
        for secret in ("王举报", "13800001234", "wang@example.com"):
            assert secret not in haystack


def test_receipt_numbers_are_gap_free_and_a_rejected_report_gives_its_number_back(seeded, store) -> None:
    first = submit(seeded, store)
    with pytest.raises(FormValidationError) as exc:
        submit(seeded, store, files=[intake.Attachment("伪装.pdf", io.BytesIO(b"MZ\x90\x00" * 10))])
    assert "文件内容与扩展名不符" in exc.value.errors["attachments"]
    second = submit(seeded, store, {**REPORT, "name": "", "phone": "", "email": ""})
    assert int(first.receipt_number[-5:]) + 1 == int(second.receipt_number[-5:])
    with seeded() as s:
        assert s.scalar(select(func.count()).select_from(Report)) == 2
        assert s.scalar(select(func.count()).select_from(ReporterIdentity)) == 1  # the second is anonymous


def test_bad_fields_are_reported_together(seeded, store) -> None:
    bad = {"bureau": "nowhere", "institution": "", "matter": "别的", "description": "太短", "phone": "abc"}
    with pytest.raises(FormValidationError) as exc:
        submit(seeded, store, bad, files=[intake.Attachment("a.exe", io.BytesIO(b"x"))])
    assert set(exc.value.errors) == {"bureau", "institution", "matter", "description", "phone", "attachments"}
    with seeded() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0


def test_lookup_needs_the_right_code(seeded, store) -> None:
    receipt = submit(seeded, store)
    with seeded() as s:
        status = intake.lookup(s, receipt.receipt_number.lower(), receipt.query_code)
        assert status is not None and status.status in {"已收到，待受理", "已受理，正在核查"}
        assert intake.lookup(s, receipt.receipt_number, "WRONGCOD") is None
        assert intake.lookup(s, "YUBEI-JB2099-00001", receipt.query_code) is None


def test_only_handling_officers_see_the_identity_and_each_view_is_audited(seeded, store) -> None:
    receipt = submit(seeded, store)
    with unit_of_work(seeded) as s:
        with pytest.raises(NotPermittedError):
            intake.reporter_identities(s, receipt.case_id, actor_for(s, "officer1"))
        task = s.scalars(select(Task).where(Task.case_id == receipt.case_id)).one()
        task.assignee = "officer1"  # as claiming does
    with unit_of_work(seeded) as s:
        rows = intake.reporter_identities(s, receipt.case_id, actor_for(s, "officer1"))
        assert [i.name for _, i in rows] == ["王举报"]
        with pytest.raises(NotPermittedError):
            intake.reporter_identities(s, receipt.case_id, actor_for(s, "officer2"))
    with seeded() as s:
        views = s.scalars(select(AuditEvent).where(AuditEvent.action == "report.identity_view")).all()
        assert [(v.actor, v.case_id) for v in views] == [("officer1", receipt.case_id)]


def test_rate_limit_is_counted_in_the_database(seeded) -> None:
    limits = [ratelimit.Limit("ip:x", 2, timedelta(hours=1), "您提交过于频繁，请一小时后再试")]
    for _ in range(2):
        with unit_of_work(seeded) as s:
            ratelimit.hit(s, limits)
    with pytest.raises(RateLimitedError, match="一小时后"), unit_of_work(seeded) as s:
        ratelimit.hit(s, limits)
    clock.advance(timedelta(hours=1))
    with unit_of_work(seeded) as s:
        ratelimit.hit(s, limits)  # a new window


# --- 智能监管疑点 ---------------------------------------------------------------------------------
CSV = """来源系统,疑点编号,机构编码,机构名称,机构类型,规则编号,疑点规则,结算日期,疑点金额,疑点说明
ZNJG,R001,H500112001,某某医院,民营医院,GZ01,重复收费,2024-09-02,1200.50,同一项目重复计费
ZNJG,R002,H500112001,某某医院,民营医院,GZ02,超量开药,2024-09-03,300,
ZNJG,R003,P500112009,某某大药房,pharmacy,GZ05,串换药品,2024-09-05,88.00,
ZNJG,R004,P500112009,某某大药房,pharmacy,GZ05,串换药品,2024-13-01,88.00,
ZNJG,R005,P500112009,,pharmacy,GZ05,串换药品,2024-09-06,abc,
ZNJG,R001,H500112001,某某医院,民营医院,GZ01,重复收费,2024-09-02,1200.50,同一项目重复计费
ZNJG,R006,P500112009,某某大药房
"""


def import_(sf, data: bytes, name: str = "疑点.csv"):
    with unit_of_work(sf) as s:
        return suspicions.import_file(s, data, name, actor=actor_for(s, "officer1"))


def test_import_reports_broken_rows_by_line_and_imports_the_rest(seeded) -> None:
    result = import_(seeded, CSV.encode("gb18030"))
    assert result.imported == 3 and result.already == 0
    lines = dict(result.errors)
    assert sorted(lines) == [5, 6, 7, 8]
    assert "结算日期「2024-13-01」无效" in lines[5]
    assert "缺少机构名称" in lines[6] and "疑点金额「abc」不是数字" in lines[6]
    assert "与第 2 行" in lines[7]
    assert "列数" in lines[8]
    with seeded() as s:
        cases = s.scalars(select(Case).order_by(Case.id)).all()
        assert [(c.party_name, c.clue_source, c.amount_involved) for c in cases] == [
            ("某某医院", "smart", Decimal("1500.50")),
            ("某某大药房", "smart", Decimal("88.00")),
        ]
        assert cases[1].institution_type == "pharmacy"
        open_ = s.scalars(select(Task).where(Task.state == TaskState.OPEN)).all()
        assert len(open_) == 2 and all("officer" in t.candidate_groups for t in open_)


def test_the_same_file_twice_creates_each_clue_once(seeded) -> None:
    first = import_(seeded, CSV.encode())
    again = import_(seeded, CSV.encode())
    assert (first.imported, again.imported, again.already) == (3, 0, 3)
    assert again.cases == []
    with seeded() as s:
        assert s.scalar(select(func.count()).select_from(SuspicionRecord)) == 3
        assert s.scalar(select(func.count()).select_from(Case)) == 2
        assert s.scalar(select(func.count()).select_from(ProcessInstance)) == 2


def test_new_records_join_the_institutions_clue_still_being_verified(seeded) -> None:
    import_(seeded, CSV.encode())
    later = [
        {"source_system": "ZNJG", "record_id": "R100", "institution_code": "H500112001",
         "institution_name": "某某医院", "rule_name": "重复收费", "settlement_date": "2024-10-01",
         "amount": "99.50"},
    ]  # fmt: skip
    text = "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in later) + "\n]"
    result = import_(seeded, text.encode(), "later.json")
    assert result.imported == 1 and result.cases[0][3] is False
    with seeded() as s:
        hospital = s.scalars(select(Case).where(Case.party_name == "某某医院")).one()
        assert hospital.amount_involved == Decimal("1600.00")


def test_json_errors_name_the_line(seeded) -> None:
    text = (
        '[\n  {"source_system": "ZNJG", "record_id": "J1"},\n  {"source_system": "ZNJG",\n'
        '   "record_id": "J2",\n   "institution_code": "H1", "institution_name": "甲医院",'
        ' "rule_name": "r", "settlement_date": "2024-09-01", "amount": "-5"}\n]'
    )
    result = import_(seeded, text.encode(), "x.json")
    assert result.imported == 0
    assert [line for line, _ in result.errors] == [2, 3]
    assert "疑点金额「-5」超出范围" in result.errors[1][1]


# --- transfers ----------------------------------------------------------------------------------
AUDIT_TRANSFER = {
    "sender_type": "audit",
    "sender_name": "渝北区审计局",
    "sender_doc_no": "渝北审移〔2024〕2号",
    "party_name": "某某医院",
    "party_type": "institution",
    "suspected_offence": "超标准收费",
    "amount_involved": "45000",
    "facts": "审计发现该院2023年超标准收取诊查费",
    "court_fined": "false",
}


def test_transfer_entry_stores_documents_and_starts_incoming_transfer(seeded, store) -> None:
    with unit_of_work(seeded) as s:
        instance = transfers.enter(
            s, store, AUDIT_TRANSFER, [transfers.Document("审计移送处理书.pdf", io.BytesIO(PDF))],
            actor=actor_for(s, "officer1"),
        )  # fmt: skip
        instance_id, case_id = instance.id, instance.case_id
    (task,) = open_tasks(seeded, instance_id)
    assert task.bpmn_id == "review_transfer"
    with seeded() as s:
        (doc,) = s.scalars(select(EvidenceFile).where(EvidenceFile.case_id == case_id)).all()
        assert (doc.title, doc.kind, doc.sha256) == ("来文材料：审计移送处理书", "书证", evidence_sha(PDF))
        assert s.get(Case, case_id).title == "某某医院涉嫌超标准收费（渝北区审计局移交）"


def test_transfer_without_documents_or_with_bad_fields_starts_nothing(seeded, store) -> None:
    with pytest.raises(FormValidationError) as exc, unit_of_work(seeded) as s:
        transfers.enter(s, store, {**AUDIT_TRANSFER, "party_name": ""}, [], actor=actor_for(s, "officer1"))
    assert set(exc.value.errors) == {"party_name", "sender_documents"}
    with seeded() as s:
        assert s.scalar(select(func.count()).select_from(ProcessInstance)) == 0


def evidence_sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


# --- 信息抄告 ---------------------------------------------------------------------------------------
def test_information_copy_is_one_outbox_row_per_agency_per_case(seeded) -> None:
    import_(seeded, CSV.encode())
    with seeded() as s:
        pharmacy = s.scalars(select(Case).where(Case.party_name == "某某大药房")).one()
        assert infocopy.suggested(s, pharmacy) == ["scjgj"]
        case_id = pharmacy.id
    for _ in range(2):
        with unit_of_work(seeded) as s:
            rows = infocopy.send(s, case_id, ["scjgj", "wsjkw"], "请关注", actor=actor_for(s, "officer1"))
            assert [r.agency for r in rows] == ["区市场监督管理局", "区卫生健康委员会"]
    with seeded() as s:
        messages = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [(m.idempotency_key, m.channel, m.status) for m in messages] == [
            (f"infocopy:{case_id}:scjgj", "email", "pending"),
            (f"infocopy:{case_id}:wsjkw", "email", "pending"),
        ]
        assert messages[0].payload["party_name"] == "某某大药房"
        sent = s.scalars(select(AuditEvent).where(AuditEvent.action == "infocopy.send")).all()
        assert len(sent) == 2
        assert [r.agency for r in infocopy.copies_for_case(s, case_id)] == [
            "区市场监督管理局",
            "区卫生健康委员会",
        ]
    with pytest.raises(FormValidationError), unit_of_work(seeded) as s:
        infocopy.send(s, case_id, [], "", actor=actor_for(s, "officer1"))


# --- the command line ---------------------------------------------------------------------------
def test_cli_import_twice_reports_lines_and_creates_nothing_twice(
    seeded, db_url, monkeypatch, capsys, tmp_path
) -> None:
    from engine import cli

    monkeypatch.setenv("DATABASE_URL", db_url)
    path = tmp_path / "疑点.csv"
    path.write_bytes(CSV.encode("gb18030"))
    assert cli.main(["import-suspicions", str(path), "--user", "officer1"]) == 1
    out = capsys.readouterr()
    assert "新导入 3 条" in out.out and "疑点.csv:5: 结算日期「2024-13-01」无效" in out.err
    assert cli.main(["import-suspicions", str(path), "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert (result["imported"], result["already"], len(result["errors"])) == (0, 3, 4)
    assert cli.main(["import-suspicions", str(tmp_path / "nope.csv")]) == 2
    assert "文件不存在" in capsys.readouterr().err
    with seeded() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 2
