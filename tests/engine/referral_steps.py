"""Shared steps of the referral tests: play 行刑衔接 up to the hand-over with a configured
destination, a 移送书 and an evidence file in the case, through the real engine."""

from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine import documents, evidence, referrals
from engine.clock import clock
from engine.db import unit_of_work
from engine.models import Referral
from engine.users import actor_for
from integrations.documents import DocxRenderer
from tests.processes.driver import Driver, beijing

START = {
    "case_number": "渝北医保立〔2024〕7号",
    "party_name": "某某诊所",
    "party_type": "institution",
    "suspected_offence": "诈骗罪",
    "amount_involved": "56000",
    "facts": "虚构诊疗项目、伪造病历骗取医保基金",
}
NUMBER = "渝北医保移〔2024〕1号"
SECRET = "police-shared-secret-0123456789"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def configure(
    sf: sessionmaker[Session], channel: str, address: str, *, code: str = "police", secret: str = SECRET
) -> None:
    with unit_of_work(sf) as s:
        referrals.save_destination(
            s, actor="admin", code=code, name=referrals.AGENCIES.get(code, code), channel=channel,
            address=address, secret=secret,
        )  # fmt: skip


def approved(sf: sessionmaker[Session]) -> Driver:
    """Threshold met, report filed Monday 09-23, approved Tuesday 09-24 10:00."""
    clock.set(beijing(2024, 9, 23))
    d = Driver.start(sf, "referral_police", **START)
    d.complete("form_task_group", "officer1", group_members="张办案、李办案", group_leader="张办案")
    d.complete(
        "write_report", "officer1", report_summary="虚构诊疗项目骗取医保基金56000元",
        investigation_report="调查报告.pdf", items_list="涉案物品清单.pdf",
    )  # fmt: skip
    clock.set(beijing(2024, 9, 24, 10))
    d.complete("approve_referral", "director", decision="approve", approval_opinion="同意移送")
    return d


def add_materials(sf: sessionmaker[Session], d: Driver, document_dir: Path, evidence_dir: Path) -> None:
    """The 移送书 (its 文号 is the referral number the process drew) and one evidence file."""
    case_id = d.case().id
    task_id = d.task("deliver_to_police").id
    with unit_of_work(sf) as s:
        documents.issue(
            s, case_id, "涉嫌犯罪案件移送书", actor=actor_for(s, "officer1"), renderer=DocxRenderer(),
            store=document_dir, task_id=task_id,
        )  # fmt: skip
        evidence.upload(
            s, evidence.EvidenceStore(evidence_dir), case_id, io.BytesIO(PDF), file_name="调查报告.pdf",
            title="涉嫌犯罪案件调查报告", kind="书证", actor=actor_for(s, "officer1"),
        )  # fmt: skip


def deliver(d: Driver) -> None:
    clock.set(beijing(2024, 9, 24, 16))
    d.complete("deliver_to_police", "officer1", police_unit="渝北区公安分局", referral_letter="移送书.pdf")


def referral(sf: sessionmaker[Session], number: str = NUMBER) -> Referral:
    with sf() as s:
        row = s.scalars(select(Referral).where(Referral.number == number)).first()
        assert row is not None, f"no referral {number}"
        return row
