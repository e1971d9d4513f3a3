"""Official documents: the .docx generator (numerals, markup, layout) and issuing through the engine
(numbering without gaps under concurrency, hashes, audit) on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import threading
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from docx import Document as open_docx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine import documents
from engine.clock import BEIJING, clock
from engine.db import unit_of_work
from engine.errors import InputError, NotPermittedError
from engine.models import AuditEvent, Case, ClockUnit, Document, LegalClock, Task, TaskState
from engine.users import actor_for
from integrations.documents import DocxRenderer, chinese_date, chinese_number, rmb_capital, text_of
from tests.processes.driver import Driver

CLUE = {
    "clue_source": "report",
    "party_name": "某某大药房有限公司",
    "party_type": "institution",
    "clue_summary": "举报该药房串换药品",
    "amount_involved": "23456.70",
}
RENDERER = DocxRenderer()


# --- numerals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("12345.67", "壹万贰仟叁佰肆拾伍元陆角柒分"),
        ("0", "零元整"),
        ("0.05", "伍分"),
        ("0.5", "伍角"),
        ("1", "壹元整"),
        ("10", "壹拾元整"),
        ("100", "壹佰元整"),
        ("1005", "壹仟零伍元整"),
        ("10010", "壹万零壹拾元整"),
        ("16409.02", "壹万陆仟肆佰零玖元零贰分"),
        ("1680.32", "壹仟陆佰捌拾元叁角贰分"),
        ("107000.53", "壹拾万柒仟元伍角叁分"),
        ("100000000", "壹亿元整"),
        ("100010000", "壹亿零壹万元整"),
        ("10000000", "壹仟万元整"),
        ("325000", "叁拾贰万伍仟元整"),
        ("1007000", "壹佰万柒仟元整"),
        ("1000700", "壹佰万零柒佰元整"),
        ("100000001", "壹亿零壹元整"),
        ("20000300", "贰仟万零叁佰元整"),
        ("999999999999.99", "玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
        ("2.005", "贰元零壹分"),  # rounded half-up to the 分
    ],
)
def test_capital_amounts(amount: str, words: str) -> None:
    assert rmb_capital(Decimal(amount)) == words


@pytest.mark.parametrize("amount", ["-1", "1000000000000"])
def test_capital_refuses_out_of_range(amount: str) -> None:
    with pytest.raises(ValueError):
        rmb_capital(amount)


def test_chinese_dates_and_counts() -> None:
    assert chinese_date(datetime(2026, 11, 23)) == "二〇二六年十一月二十三日"
    assert chinese_date(datetime(2020, 1, 1)) == "二〇二〇年一月一日"
    assert chinese_date(datetime(2024, 10, 30)) == "二〇二四年十月三十日"
    assert [chinese_number(n) for n in (5, 10, 15, 20, 31, 60, 100, 105, 115)] == [
        "五", "十", "十五", "二十", "三十一", "六十", "一百", "一百零五", "一百一十五",
    ]  # fmt: skip


# --- issuing through the engine -------------------------------------------------------------------


@pytest.fixture
def case(seeded: sessionmaker[Session]) -> Driver:
    clock.set(datetime(2024, 9, 23, 10, tzinfo=BEIJING))
    return Driver.start(seeded, "penalty_case", "officer1", **CLUE)


def _filed(case: Driver) -> Driver:
    case.complete("verify_clue", "officer1", verification="现场核查属实，串换药品3批次", suggestion="file")
    return case.complete(
        "decide_filing", "chief", decision="file", case_cause="串换药品", decision_opinion="同意立案"
    )


def _issue(
    sf: sessionmaker[Session], case_id: int, kind: str, store: Path, user: str = "officer1"
) -> Document:
    with unit_of_work(sf) as s:
        return documents.issue(s, case_id, kind, actor=actor_for(s, user), renderer=RENDERER, store=store)


def _set_penalty(sf: sessionmaker[Session], case_id: int) -> None:
    with unit_of_work(sf) as s:
        row = s.get(Case, case_id)
        assert row is not None
        row.fine = Decimal("12345.67")
        row.amount_recovered = Decimal("6172.84")


@pytest.mark.parametrize("kind", list(documents.KINDS))
def test_each_kind_is_a_docx_with_number_and_party(seeded, case: Driver, tmp_path: Path, kind: str) -> None:  # type: ignore[no-untyped-def]
    _filed(case)
    case_id = case.case().id
    _set_penalty(seeded, case_id)
    document = _issue(seeded, case_id, kind, tmp_path)
    data = (tmp_path / document.storage_key).read_bytes()
    text = text_of(data)  # python-docx opens it again
    assert document.number and document.number in text
    assert "built-in" not in text and "Undefined" not in text and "None" not in text
    assert "某某大药房有限公司" in text and "渝北区医疗保障局" in text
    assert document.file_name == f"{document.number}{kind}.docx"
    if kind == "立案审批表":
        assert document.number == case.case().number == "渝北医保立〔2024〕1号"
        assert "现场核查属实" in text and "同意立案" in text
    else:
        assert document.number == f"渝北医保{documents.KINDS[kind]}〔2024〕1号"
    if kind == "行政处罚决定书":
        assert "12345.67元" in text and "壹万贰仟叁佰肆拾伍元陆角柒分" in text
        assert "6172.84元" in text and "陆仟壹佰柒拾贰元捌角肆分" in text
        assert "渝北区人民政府申请行政复议" in text and "六个月内" in text
        assert "二〇二四年九月二十三日" in text  # the date under the seal


def test_decision_layout(seeded, case: Driver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _set_penalty(seeded, case.case().id)
    document = _issue(seeded, case.case().id, "行政处罚决定书", tmp_path)
    doc = open_docx(io.BytesIO((tmp_path / document.storage_key).read_bytes()))
    section = doc.sections[0]
    assert round(section.page_width.cm, 1) == 21.0 and round(section.page_height.cm, 1) == 29.7
    title = doc.paragraphs[1]
    assert title.text == "行政处罚决定书" and title.alignment == 1  # centred
    assert title.runs[0].font.bold and title.runs[0].font.size.pt == 22
    assert doc.paragraphs[2].text == document.number and doc.paragraphs[2].alignment == 1
    assert doc.core_properties.title == f"行政处罚决定书 {document.number}"
    assert "PAGE" in section.footer._element.xml


def test_values_never_act_as_markup(seeded, case: Driver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(seeded) as s:
        row = s.get(Case, case.case().id)
        assert row is not None
        row.party_name = "# 某某 | 诊所"
    document = _issue(seeded, case.case().id, "送达回证", tmp_path)
    doc = open_docx(io.BytesIO((tmp_path / document.storage_key).read_bytes()))
    rows = [[c.text for c in r.cells] for r in doc.tables[0].rows]
    assert ["受送达人", "# 某某 | 诊所"] in rows
    assert all(len(r) == 2 for r in rows)


def test_form_data_of_the_cases_tasks_fills_the_document(seeded, case: Driver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    case_id = case.case().id
    with unit_of_work(seeded) as s:
        s.add(
            Task(
                instance_id=case.id, case_id=case_id, spiff_task_id="t1", process_key="referral_police",
                bpmn_id="write_report", name="撰写移送报告", role="officer", state=TaskState.COMPLETED,
                completed_at=datetime(2024, 9, 23, 11, tzinfo=BEIJING), completed_by="officer2",
                form_data={
                    "police_unit": "重庆市公安局渝北区分局", "suspected_offence": "诈骗罪",
                    "items_list": "处方笺12张", "facts": "虚构诊疗项目骗取医保基金", "fine": "not a number",
                },
            )
        )  # fmt: skip
    document = _issue(seeded, case_id, "涉嫌犯罪案件移送书", tmp_path)
    text = text_of((tmp_path / document.storage_key).read_bytes())
    assert "重庆市公安局渝北区分局：" in text and "涉嫌诈骗罪" in text and "（处方笺12张）" in text
    assert "虚构诊疗项目骗取医保基金" in text and "23456.70元" in text and "贰万叁仟肆佰伍拾陆元柒角" in text
    decision = _issue(seeded, case_id, "行政处罚决定书", tmp_path)  # an unreadable fine leaves a blank
    assert "处罚款人民币" not in text_of((tmp_path / decision.storage_key).read_bytes())


def test_rights_deadlines_come_from_the_legal_clocks(seeded, case: Driver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(seeded) as s:
        s.add(
            LegalClock(
                instance_id=case.id, case_id=case.case().id, name="陈述申辩",
                amount=5, unit=ClockUnit.WORKDAYS,
                started_at=datetime(2024, 9, 23, 10, tzinfo=BEIJING),
                due_at=datetime(2024, 9, 30, 23, 59, 59, tzinfo=BEIJING),
            )
        )  # fmt: skip
    document = _issue(seeded, case.case().id, "行政处罚事先告知书", tmp_path)
    text = text_of((tmp_path / document.storage_key).read_bytes())
    assert "五个工作日内（即二〇二四年九月三十日前）" in text
    assert "陈述、申辩" in text


def test_stored_hash_and_audit_match_the_file(seeded, case: Driver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    case_id = case.case().id  # before opening a session: on SQLite a second one would wait for it
    document = _issue(seeded, case_id, "行政处罚事先告知书", tmp_path)
    data = (tmp_path / document.storage_key).read_bytes()
    assert document.sha256 == hashlib.sha256(data).hexdigest() and document.size == len(data)
    with seeded() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "document.generate")).one()
        assert event.object_id == str(document.id) and event.case_id == case_id
        assert event.after_digest == document.sha256 and event.detail["number"] == document.number
        assert event.actor == "officer1"
        _, again = documents.read(s, document.id, actor=actor_for(s, "supervisor"), store=tmp_path)
        assert again == data
        s.commit()
    with seeded() as s:
        assert s.scalars(select(AuditEvent.actor).where(AuditEvent.action == "document.download")).all() == [
            "supervisor"
        ]


def test_tampered_file_is_refused(seeded, case: Driver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    document = _issue(seeded, case.case().id, "结案报告", tmp_path)
    (tmp_path / document.storage_key).write_bytes(b"not the document")
    with seeded() as s, pytest.raises(documents.DocumentFileError, match="SHA-256"):
        documents.read(s, document.id, actor=actor_for(s, "officer1"), store=tmp_path)


def test_permissions_and_bad_input(seeded, case: Driver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    case_id = case.case().id
    with pytest.raises(NotPermittedError):
        _issue(seeded, case_id, "结案报告", tmp_path, user="other")  # another bureau
    with pytest.raises(NotPermittedError):
        _issue(seeded, case_id, "结案报告", tmp_path, user="supervisor")  # no case role
    with pytest.raises(InputError, match="没有「整改通知书」的文书模板"):
        _issue(seeded, case_id, "整改通知书", tmp_path)
    _issue(seeded, case_id, "立案审批表", tmp_path)
    with pytest.raises(InputError, match="只能制作一次"):
        _issue(seeded, case_id, "立案审批表", tmp_path)
    with seeded() as s:
        assert [d.kind for d in documents.list_for_case(s, case_id)] == ["立案审批表"]


def test_filing_form_gives_the_case_its_number_once(seeded, case: Driver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    document = _issue(seeded, case.case().id, "立案审批表", tmp_path)
    assert case.case().number == document.number == "渝北医保立〔2024〕1号"
    _filed(case)  # assign_case_number keeps the number the form already carries
    assert case.case().number == "渝北医保立〔2024〕1号"


def test_rolled_back_issue_gives_its_number_back(seeded, case: Driver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    case_id = case.case().id
    with seeded() as s:
        doc = documents.issue(
            s, case_id, "送达回证", actor=actor_for(s, "officer1"), renderer=RENDERER, store=tmp_path
        )
        assert doc.number == "渝北医保送〔2024〕1号"
        s.rollback()
    assert _issue(seeded, case_id, "送达回证", tmp_path).number == "渝北医保送〔2024〕1号"
    assert _issue(seeded, case_id, "送达回证", tmp_path).number == "渝北医保送〔2024〕2号"


def test_twenty_documents_from_four_threads_get_one_to_twenty(seeded, case: Driver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    case_id = case.case().id
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait(timeout=30)
            for _ in range(5):
                _issue(seeded, case_id, "行政处罚决定书", tmp_path)
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    with seeded() as s:
        numbers = s.scalars(select(Document.number).where(Document.case_id == case_id)).all()
    assert sorted(numbers, key=lambda n: int(n.split("〕")[1][:-1])) == [
        f"渝北医保罚〔2024〕{i}号" for i in range(1, 21)
    ]
    files = list(tmp_path.rglob("*.docx"))
    assert len(files) == 20


def test_next_year_starts_again_at_one(seeded, case: Driver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert _issue(seeded, case.case().id, "结案报告", tmp_path).number == "渝北医保结〔2024〕1号"
    clock.advance(timedelta(days=120))
    assert _issue(seeded, case.case().id, "结案报告", tmp_path).number == "渝北医保结〔2025〕1号"


def test_task_names_its_documents(seeded, case: Driver) -> None:  # type: ignore[no-untyped-def]
    case.complete("verify_clue", "officer1", verification="属实", suggestion="file")
    task = case.task("decide_filing")
    with seeded() as s:
        assert documents.documents_for_task(s, task) == ["立案审批表", "不予立案审批表"]
        named = documents.task_documents(s, task)
        assert named.available == ["立案审批表"]


# --- through the shipped penalty_case, as the officers fill it in ---------------------------------


def _issue_from(sf: sessionmaker[Session], task: Task, kind: str, store: Path, user: str = "officer1") -> str:
    with unit_of_work(sf) as s:
        assert task.case_id is not None
        doc = documents.issue(
            s, task.case_id, kind, actor=actor_for(s, user), renderer=RENDERER, store=store, task_id=task.id
        )
        storage_key = doc.storage_key
    return text_of((store / storage_key).read_bytes())


def test_penalty_case_documents_carry_what_the_officers_entered(seeded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The step helpers of the penalty_case path tests: the same data the BPMN's forms take.
    from tests.processes.test_penalty_case import START, decide, filed, investigate, propose, review

    clock.set(START)
    d = filed(seeded)
    investigate(d)
    review(d)
    propose(d, "150000", "50000")
    notice = _issue_from(seeded, d.task("serve_notice"), "行政处罚事先告知书", tmp_path)
    assert "渝北医保告〔2024〕1号" in notice and "某某大药房：" in notice
    assert "2023年串换药品结算，造成医保基金损失" in notice and "处方、结算清单、进销存记录" in notice
    assert "《医疗保障基金使用监督管理条例》第四十条" in notice
    assert "退回医疗保障基金人民币50000.00元（大写：人民币伍万元整）" in notice
    assert "处罚款人民币150000.00元（大写：人民币壹拾伍万元整）" in notice
    assert "有权要求举行听证" in notice  # an institution fined 10万 or more (DMN hearing_rights)
    assert "张办案、李办案" in notice

    from tests.processes.test_penalty_case import consider, notify, respond

    notify(d)
    respond(d, "waived")
    consider(d, "150000")
    if "decide_penalty" not in d.open_ids():
        pytest.skip(f"the path to the decision needs review or discussion now: {d.open_ids()}")
    decide(d)
    serve = d.task("serve_decision")
    decision = _issue_from(seeded, serve, "行政处罚决定书", tmp_path, user="chief")
    assert "渝北医保罚〔2024〕1号" in decision  # the number the process drew at the decision, not a second
    assert d.data()["decision_number"] == "渝北医保罚〔2024〕1号"
    assert "《行政处罚事先告知书》（渝北医保告〔2024〕1号）" in decision
    assert "150000.00元" in decision and "壹拾伍万元整" in decision
    receipt = _issue_from(seeded, serve, "送达回证", tmp_path)
    assert "《行政处罚决定书》（渝北医保罚〔2024〕1号）" in receipt
