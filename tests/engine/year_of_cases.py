"""A year of enforcement (2024, plus a few cases of 2022 and 2023 for the year-on-year counts) played
through the real processes with the injectable clock: penalty cases of every outcome, through 法制审核
and 集体讨论, a referral to the police and one to another department, problem-ledger items and a
自查自纠 campaign. Built once per database, then restored from a snapshot of the rows for each test.

`load(seeded, db_engine)` returns the database ready; the clock stands at NOW."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import BEIJING, clock
from engine.db import Base
from tests.processes import test_penalty_case as pc
from tests.processes.driver import Driver

NOW = datetime(2025, 1, 10, 9, 0, tzinfo=BEIJING)
FLAGS = {
    "重复开药": "vt_repeat_drugs",
    "超标准收费": "vt_overcharge",
    "分解住院": "vt_split_admission",
    "串换项目": "vt_item_swap",
    "冒名就医": "vt_impersonation",
    "挂床住院": "vt_bed_hanging",
    "虚假就医": "vt_false_treatment",
}


@dataclass(frozen=True)
class Spec:
    """One penalty case: who, what, and how far it goes."""

    opened: date
    party: str
    # closed, heard (法制审核), discussed (+ 集体讨论), minor, not_filed, crime, simple, open
    path: str
    institution: str = "pharmacy"  # "" for a person
    source: str = "inspection"
    violations: tuple[str, ...] = ("串换项目",)
    recovery: int = 10000  # 元; the fine is `multiple` × recovery (条例40/41 一般档: 3–4 ×)
    multiple: int = 3
    damages: int = 0  # 违约金
    late_verify: bool = False  # the 核查 is done after its deadline


PENALTY: tuple[Spec, ...] = (
    Spec(date(2022, 11, 7), "渝北某药房", "simple", source="inspection"),
    Spec(date(2023, 3, 6), "某社区卫生服务中心", "closed", "primary_care", violations=("重复开药",)),
    Spec(date(2023, 9, 4), "某口腔诊所", "simple", "clinic"),
    Spec(
        date(2024, 1, 8), "重庆某某医院", "closed", "public_hospital", "smart", ("分解住院",), 20000, 3, 5000
    ),
    Spec(date(2024, 1, 22), "某大药房", "closed", "pharmacy", "report", ("串换项目", "超标准收费"), 8000),
    Spec(
        date(2024, 2, 26), "某民营医院", "heard", "private_hospital", "smart", ("挂床住院",), 100000, 3, 20000
    ),
    Spec(date(2024, 3, 11), "刘某", "heard", "", "smart", ("冒名就医",), 4000),
    Spec(
        date(2024, 3, 25),
        "某骨科医院",
        "discussed",
        "private_hospital",
        "report",
        ("虚假就医", "挂床住院"),
        200000,
    ),
    Spec(date(2024, 4, 8), "某诊所", "minor", "clinic", "inspection", ("超标准收费",), 3000),
    Spec(date(2024, 4, 22), "某中医馆", "not_filed", "clinic", "report", ()),
    Spec(date(2024, 5, 6), "某康复医院", "crime", "private_hospital", "smart", ("虚假就医",), 56000),
    Spec(date(2024, 5, 20), "张某", "simple", "", "inspection", ()),
    Spec(
        date(2024, 6, 3),
        "某连锁药店",
        "closed",
        "pharmacy",
        "inspection",
        ("串换项目",),
        12000,
        4,
        3000,
        True,
    ),
    Spec(date(2024, 6, 17), "某区人民医院", "closed", "public_hospital", "assigned", ("重复开药",), 30000),
    Spec(date(2024, 7, 8), "某门诊部", "closed", "clinic", "report", ("超标准收费",), 6000, 4),
    Spec(
        date(2024, 8, 5), "某乡镇卫生院", "closed", "primary_care", "smart", ("分解住院", "重复开药"), 15000
    ),
    Spec(date(2024, 9, 2), "某眼科医院", "minor", "private_hospital", "inspection", ("超标准收费",), 2000),
    Spec(date(2024, 10, 14), "某药店", "closed", "pharmacy", "smart", ("串换项目",), 9000, 3, 0, True),
    Spec(date(2024, 11, 4), "某妇产医院", "open", "private_hospital", "report", ("挂床住院",), 40000),
    Spec(date(2024, 12, 2), "某大药房二店", "open", "pharmacy", "inspection", ("串换项目",)),
    Spec(date(2024, 12, 16), "王某", "not_filed", "", "report", ()),
)


def at(day: date, offset: int = 0, hour: int = 10) -> None:
    moment = datetime(day.year, day.month, day.day, hour, tzinfo=BEIJING) + timedelta(days=offset)
    clock.set(moment)


def _clue(spec: Spec) -> dict[str, Any]:
    person = not spec.institution
    return {
        "clue_source": spec.source,
        "party_name": spec.party,
        "party_type": "person" if person else "institution",
        "institution_type": "" if person else spec.institution,
        "clue_summary": f"{spec.party}涉嫌{'、'.join(spec.violations) or '违规使用医保基金'}",
        "amount_involved": str(spec.recovery),
    }


def _investigate(d: Driver, spec: Spec, suggestion: str) -> None:
    d.complete(
        "investigate",
        "officer1",
        investigators="officer1,officer2",
        evidence_list="处方、结算清单、进销存记录",
        investigation_step="report",
    )
    flags = {FLAGS[v]: True for v in spec.violations}
    d.complete(
        "investigation_report",
        "officer1",
        facts="经调查，违法事实清楚",
        amount_confirmed=str(spec.recovery),
        report_suggestion=suggestion,
        **flags,
    )


def _propose(d: Driver, spec: Spec) -> str:
    fine = str(spec.recovery * spec.multiple)
    d.complete(
        "propose_penalty",
        "officer1",
        penalty_article="a41" if not spec.institution else "a40",
        penalty_band="normal",
        proposed_recovery=str(spec.recovery),
        proposed_fine=fine,
        proposed_liquidated_damages=str(spec.damages) if spec.damages else "",
        proposed_suspension_months=0,
        terminate_agreement=False,
        proposed_penalty=f"责令退回{spec.recovery}元，罚款{fine}元",
        legal_basis="《医疗保障基金使用监督管理条例》",
    )
    return fine


def _finish(d: Driver, day: date, published: bool) -> None:
    """决定 → 送达 → (公示) → 执行 → 结案, a few days apart."""
    at(day, 1)
    d.complete("decide_penalty", "director", decision_opinion="同意", to_publish=published)
    at(day, 3)
    d.complete("serve_decision", "officer1", service_method="direct")
    if published:
        d.complete("publish_decision", "officer1", publish_channel="信用中国（重庆）")
    if "await_payment" in d.open_ids():
        at(day, 10)
        d.complete(
            "await_payment", "officer1", payment_status="paid", paid_on=(day + timedelta(10)).isoformat()
        )
    at(day, 14)
    pc.close(d)


def penalty_case(sf: sessionmaker[Session], spec: Spec) -> Driver:
    start = spec.opened
    at(start)
    d = Driver.start(sf, "penalty_case", "officer1", **_clue(spec))
    if spec.path == "simple":
        at(start, 0, 15)
        pc.onsite(d, "fine", "200" if not spec.institution else "2000")
        d.complete("file_onsite_decision", "chief", filing_opinion="已备案")
        at(start, 5)
        d.complete(
            "await_payment", "officer1", payment_status="paid", paid_on=(start + timedelta(5)).isoformat()
        )
        at(start, 8)
        pc.close(d)
        return d
    at(start, 25 if spec.late_verify else 4)
    if spec.path == "not_filed":
        d.complete("verify_clue", "officer2", verification="无违法事实", suggestion="no_file")
        d.complete("decide_filing", "chief", decision="no_file", decision_opinion="不予立案")
        return d
    d.complete("verify_clue", "officer1", verification="已现场核查", suggestion="file")
    d.complete(
        "decide_filing", "chief", decision="file", case_cause="违规使用医保基金", decision_opinion="同意立案"
    )
    base = start + timedelta(25 if spec.late_verify else 4)
    if spec.path == "open":
        return d
    at(base, 20)
    outcome = {"minor": "minor", "crime": "crime"}.get(spec.path, "penalise")
    _investigate(d, spec, outcome)
    at(base, 23)
    pc.review(d, outcome, complex_=spec.path == "discussed")
    if spec.path == "crime":
        return d
    if spec.path == "minor":
        _finish(d, base + timedelta(24), published=False)
        return d
    at(base, 26)
    fine = _propose(d, spec)
    at(base, 27)
    pc.notify(d)
    at(base, 29)
    pc.respond(d, "waived")
    pc.consider(d, fine)
    if spec.path in {"heard", "discussed"}:
        at(base, 31)
        pc.legal_review(d, "passed")
    if spec.path == "discussed":
        at(base, 36)
        pc.discuss(d, "approve")
    _finish(d, base + timedelta(38), published=True)
    return d


def ledger_item(sf: sessionmaker[Session], opened: date, institution: str, refund: str | None) -> Driver:
    """A problem found by a 飞行检查: cleared (refund given) or still being rectified (None)."""
    at(opened)
    d = Driver.start(
        sf,
        "ledger_clearance",
        "chief",
        problem_source="flight",
        problem_description="飞行检查发现超标准收取诊查费",
        institution_name=institution,
        amount_involved=refund or "5000",
        responsible_unit="基金监管科",
        responsible_person="赵科长",
        measures="停止违规收费，退回违规费用",
    )
    d.complete("assign_officer", "chief", responsible_officer="officer2", assign_instruction="请跟踪整改")
    if refund is None:
        return d
    at(opened, 12)
    d.complete("rectify", "officer2", rectify_status="done", measures_taken="已整改", amount_refunded=refund)
    d.complete("submit_evidence", "officer2", rectify_report="整改报告.pdf", refund_voucher="退款凭证.pdf")
    at(opened, 15)
    d.complete("review_rectification", "chief", decision="accept", review_opinion="整改到位")
    at(opened, 17)
    d.complete(
        "approve_clearance",
        "deputy",
        clearance_decision="approve",
        clearance_approver="周副局长",
        clearance_date=(opened + timedelta(17)).isoformat(),
        follow_up_planned=False,
        clearance_opinion="同意销号",
    )
    return d


def campaign(sf: sessionmaker[Session], opened: date, refund: str) -> Driver:
    """A 自查自纠 campaign of one institution that refunds `refund`."""
    at(opened)
    d = Driver.start(
        sf,
        "self_inspection",
        "chief",
        campaign_title=f"{opened.year}年定点医药机构自查自纠",
        problem_list="1. 超标准收费\n2. 串换药品",
        period_start=f"{opened.year - 1}-01-01",
        period_end=f"{opened.year - 1}-12-31",
        institution_list="甲医院",
    )
    at(opened, 20)
    d.complete(
        "record_report",
        "officer1",
        report_type="normal",
        problems_found="超标准收取诊查费",
        refund_amount=refund,
        self_report_file="自查报告.pdf",
        refund_evidence="退款凭证.pdf",
    )
    at(opened, 30)
    d.complete("campaign_summary", "chief", campaign_conclusion="已完成自查自纠")
    return d


def police_referral(sf: sessionmaker[Session], opened: date) -> Driver:
    """行刑衔接: approved, delivered, and the police open a criminal case."""
    at(opened)
    d = Driver.start(
        sf,
        "referral_police",
        party_name="某康复医院",
        party_type="institution",
        suspected_offence="诈骗罪",
        amount_involved="56000",
        facts="虚构诊疗项目骗取医保基金",
    )
    d.complete("form_task_group", "officer1", group_members="张办案、李办案", group_leader="张办案")
    d.complete(
        "write_report",
        "officer1",
        report_summary="虚构诊疗项目",
        investigation_report="调查报告.pdf",
        items_list="涉案物品清单.pdf",
        test_report="鉴定意见.pdf",
    )
    at(opened, 1)
    d.complete("approve_referral", "director", decision="approve", approval_opinion="同意移送")
    d.complete("deliver_to_police", "officer1", police_unit="渝北区公安分局", referral_letter="移送书.pdf")
    key = d.data()["referral_no"]
    at(opened, 2)
    d.deliver("police_receipt", correlation_key=key, received_by="王警官")
    at(opened, 3)
    d.deliver("police_decision", correlation_key=key, decision="立案", reason="")
    d.complete("hand_over_evidence", "officer2", handover_list="移交清单.pdf", handover_receiver="王警官")
    return d


def agency_referral(sf: sessionmaker[Session], opened: date) -> Driver:
    """行政协作 to the market regulator, still waiting for its feedback."""
    at(opened)
    d = Driver.start(
        sf,
        "referral_agency",
        party_name="某大药房",
        party_type="institution",
        suspected_offence="销售过期药品",
        amount_involved="3200",
        facts="检查发现过期药品",
        destination="market_regulation",
    )
    d.complete("prepare_letter", "officer1", letter_content="移送线索", letter_materials="照片.zip")
    d.complete("approve_letter", "chief", decision="approve", letter_opinion="同意")
    d.complete("deliver_letter", "officer1", agency_unit="渝北区市场监督管理局", referral_letter="移送函.pdf")
    return d


def build(sf: sessionmaker[Session]) -> None:
    for spec in PENALTY:
        penalty_case(sf, spec)
    police_referral(sf, date(2024, 5, 30))
    agency_referral(sf, date(2024, 9, 9))
    ledger_item(sf, date(2024, 4, 15), "重庆某某医院", "12000.50")
    ledger_item(sf, date(2024, 8, 12), "某乡镇卫生院", "3000")
    ledger_item(sf, date(2024, 12, 9), "某大药房", None)
    campaign(sf, date(2024, 6, 3), "1944000.00")
    clock.set(NOW)


_SNAPSHOTS: dict[str, list[tuple[str, list[dict[str, object]]]]] = {}


def load(seeded: sessionmaker[Session], db_engine: Engine) -> sessionmaker[Session]:
    """The year's data in the test database (built the first time, restored after that)."""
    key = str(db_engine.url)
    if key not in _SNAPSHOTS:
        build(seeded)
        with db_engine.connect() as conn:
            _SNAPSHOTS[key] = [
                (table.name, [dict(row._mapping) for row in conn.execute(table.select())])
                for table in Base.metadata.sorted_tables
            ]
        clock.set(NOW)
        return seeded
    with db_engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())  # the seed rows `seeded` just restored are in the snapshot
        for name, rows in _SNAPSHOTS[key]:
            if rows:
                conn.execute(Base.metadata.tables[name].insert(), rows)
        if db_engine.dialect.name == "postgresql":
            for name, rows in _SNAPSHOTS[key]:
                table = Base.metadata.tables[name]
                if rows and "id" in table.c and table.c.id.autoincrement is not False:
                    sequence = f"pg_get_serial_sequence('{name}', 'id')"
                    conn.execute(text(f"SELECT setval({sequence}, (SELECT max(id) FROM {name}))"))
    clock.set(NOW)
    return seeded
