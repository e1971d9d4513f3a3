"""The intake pages: the public 举报 page (no sign-in, rate-limited with a Chinese message, receipt and
status check), the reporter's identity only for handling officers, 疑点 import with broken rows by
line, transfer entry with documents, and 信息抄告 on the case page."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.models import AuditEvent, Case, OutboxMessage, ProcessInstance, Report, Task
from tests.webui.conftest import Browser

PDF = b"%PDF-1.7\n%%EOF\n"
FORM = {
    "bureau": "yubei",
    "institution": "某某大药房",
    "matter": "串换药品、耗材、诊疗项目",
    "description": "该药房用医保卡刷取保健品，收据上写成药品名称。",
    "name": "王举报",
    "phone": "13800001234",
}


@pytest.fixture
def app(app: Flask, tmp_path: Path) -> Flask:
    app.config.update(YBJG_EVIDENCE_DIR=tmp_path / "evidence", YBJG_REPORT_PER_ADDRESS=2)
    return app


def public(app: Flask) -> Browser:
    b = Browser(app.test_client())
    b.get("/report")
    return b


def submit(b: Browser, form: dict | None = None, files=None):  # type: ignore[no-untyped-def]
    data = dict(form or FORM)
    if files:
        data["attachments"] = files
    return b.post("/report", data, content_type="multipart/form-data")


def count(sf: sessionmaker[Session], model: type) -> int:
    with sf() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_public_report_gives_receipt_and_code_and_the_status_can_be_checked(app, seeded) -> None:
    b = public(app)
    page = b.get("/report").get_data(as_text=True)
    assert "我要举报" in page and "退出" not in page  # no sign-in, no officer menu
    response = submit(b, files=[(io.BytesIO(PDF), "照片.pdf")])
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    number = re.search(r'id="receipt-number">([^<]+)<', html).group(1)
    code = re.search(r'id="query-code">([^<]+)<', html).group(1)
    assert number.startswith("YUBEI-JB")
    status = b.post("/report/status", {"receipt_number": number, "query_code": code})
    assert status.status_code == 200 and "已收到，待受理" in status.get_data(as_text=True)
    wrong = b.post("/report/status", {"receipt_number": number, "query_code": "AAAAAAAA"})
    assert wrong.status_code == 404 and "受理编号或查询码不正确" in wrong.get_data(as_text=True)


def test_rate_limit_answers_in_chinese_and_creates_nothing(app, seeded) -> None:
    b = public(app)
    for _ in range(2):
        assert submit(b).status_code == 200
    limited = submit(b)
    assert limited.status_code == 429
    assert "您提交举报过于频繁，请一小时后再试" in limited.get_data(as_text=True)
    assert count(seeded, Report) == 2 and count(seeded, Case) == 2


def test_bad_input_is_shown_by_field_and_kept(app, seeded) -> None:
    b = public(app)
    bad = {**FORM, "description": "太短", "phone": "电话", "institution": ""}
    response = submit(b, bad, files=[(io.BytesIO(b"MZ\x90"), "病毒.exe")])
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "请具体描述问题" in html and "联系电话格式不正确" in html and "请填写被举报的机构或个人" in html
    assert "类型不支持" in html and "太短" in html  # input kept
    assert count(seeded, Case) == 0


def test_identity_only_for_handling_officers_never_in_lists(app, seeded, as_user) -> None:
    submit(public(app))
    with seeded() as s:
        case_id = s.scalars(select(Case.id)).one()
        task_id = s.scalars(select(Task.id).where(Task.case_id == case_id)).one()
    officer2 = as_user("officer2")
    assert officer2.get(f"/cases/{case_id}/reporter").status_code == 403
    page = officer2.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "举报人信息受保护" in page and "王举报" not in page
    for url in ("/", "/cases/search", f"/tasks/{task_id}"):
        assert "王举报" not in officer2.get(url).get_data(as_text=True)
    officer1 = as_user("officer1")
    officer1.post(f"/tasks/{task_id}/claim")
    assert "查看举报人信息" in officer1.get(f"/cases/{case_id}").get_data(as_text=True)
    shown = officer1.get(f"/cases/{case_id}/reporter")
    assert shown.status_code == 200 and "王举报" in shown.get_data(as_text=True)
    assert shown.headers["Cache-Control"] == "private, no-store"
    with seeded() as s:
        views = s.scalars(select(AuditEvent).where(AuditEvent.action == "report.identity_view")).all()
        assert [v.actor for v in views] == ["officer1"]


CSV = (
    "来源系统,疑点编号,机构编码,机构名称,疑点规则,结算日期,疑点金额\n"
    "ZNJG,R1,H1,某某医院,重复收费,2024-09-02,100\n"
    "ZNJG,R2,H1,某某医院,重复收费,2024-09-31,100\n"
)


def test_suspicion_upload_twice_and_broken_rows_by_line(app, seeded, as_user) -> None:
    officer = as_user("officer1")
    assert officer.get("/intake/suspicions").status_code == 200
    first = officer.post(
        "/intake/suspicions",
        {"file": (io.BytesIO(CSV.encode()), "疑点.csv")},
        content_type="multipart/form-data",
    )
    html = first.get_data(as_text=True)
    assert first.status_code == 422
    assert "第 3 行" in html and "结算日期「2024-09-31」无效" in html and "新线索" in html
    again = officer.post(
        "/intake/suspicions",
        {"file": (io.BytesIO(CSV.encode()), "疑点.csv")},
        content_type="multipart/form-data",
    )
    assert "此前已导入、本次跳过 <strong>1</strong>" in again.get_data(as_text=True)
    assert count(seeded, ProcessInstance) == 1
    assert as_user("legal").get("/intake/suspicions").status_code == 403


def test_transfer_entry_starts_incoming_transfer(app, seeded, as_user) -> None:
    officer = as_user("officer1")
    page = officer.get("/intake/transfers/new").get_data(as_text=True)
    assert "移交机关名称" in page and 'type="file"' in page
    data = {
        "sender_type": "audit",
        "sender_name": "渝北区审计局",
        "party_name": "某某医院",
        "party_type": "institution",
        "suspected_offence": "超标准收费",
        "facts": "审计发现该院超标准收取诊查费",
        "court_fined": "false",
    }
    missing = officer.post("/intake/transfers", data, content_type="multipart/form-data")
    assert missing.status_code == 400 and "请上传来文及随附材料" in missing.get_data(as_text=True)
    assert count(seeded, ProcessInstance) == 0
    fined = {**data, "court_fined": "true", "sender_documents": [(io.BytesIO(PDF), "移送处理书.pdf")]}
    no_amount = officer.post("/intake/transfers", fined, content_type="multipart/form-data")
    html = no_amount.get_data(as_text=True)  # the register script's reject(), beside its field
    assert no_amount.status_code == 400 and "人民法院已判处罚金的，请填写罚金金额" in html
    assert "文件未保存" in html and "审计发现该院超标准收取诊查费" in html  # the input is kept
    assert count(seeded, ProcessInstance) == 0
    files = {**data, "sender_documents": [(io.BytesIO(PDF), "移送处理书.pdf")]}
    done = officer.post("/intake/transfers", files, content_type="multipart/form-data")
    assert done.status_code == 302
    case_page = officer.get(done.location).get_data(as_text=True)
    assert "来文材料：移送处理书" in case_page
    with seeded() as s:
        instance = s.scalars(select(ProcessInstance)).one()
        assert instance.process_key == "incoming_transfer"


def test_information_copy_from_the_case_page_once_per_agency(app, seeded, as_user) -> None:
    submit(public(app))
    with seeded() as s:
        case_id = s.scalars(select(Case.id)).one()
    officer = as_user("officer1")
    form = officer.get(f"/cases/{case_id}/info-copies").get_data(as_text=True)
    assert "区市场监督管理局" in form
    empty = officer.post(f"/cases/{case_id}/info-copies", {"note": "x"})
    assert empty.status_code == 400 and "请选择抄告单位" in empty.get_data(as_text=True)
    for _ in range(2):
        sent = officer.post(f"/cases/{case_id}/info-copies", {"agencies": ["scjgj"], "note": "请关注"})
        assert sent.status_code == 302
    with seeded() as s:
        messages = s.scalars(select(OutboxMessage)).all()
        assert [m.idempotency_key for m in messages] == [f"infocopy:{case_id}:scjgj"]
        assert "王举报" not in repr(messages[0].payload)
    page = officer.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "区市场监督管理局" in page and "待发送" in page
