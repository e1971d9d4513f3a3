"""统计分析 pages over a year of cases played through the real processes: the dashboard, its filters
and errors, who may see it, the CSV/XLSX exports and the report downloads (all audited)."""

from __future__ import annotations

import csv
import io
import re

import pytest
from docx import Document as open_docx
from openpyxl import load_workbook
from sqlalchemy import select

from engine.models import AuditEvent
from integrations import reports
from tests.engine import year_of_cases

YEAR = "start=2024-01-01&end=2024-12-31"


@pytest.fixture
def year(seeded, db_engine):
    return year_of_cases.load(seeded, db_engine)


def figure(html: str, key: str) -> str:
    found = re.search(
        rf'data-key="{key}">\s*<div class="label">[^<]*</div>\s*<div class="value">([^<]+)', html
    )
    assert found is not None, key
    return found[1].strip()


def generated(sf) -> list[AuditEvent]:
    with sf() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == "statistics.generate")))


def test_dashboard_shows_the_figures_with_charts_and_tables(year, as_user) -> None:
    page = as_user("director").get(f"/statistics/?{YEAR}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert figure(html, "penalty_cases") == "16"
    assert figure(html, "legal_review_cases") == "3"
    assert figure(html, "fines") == "1,230,200.00 元"
    assert figure(html, "ledger_clearance_rate") == "66.7"
    assert html.count('<img class="chart" src="data:image/png;base64,') == 10  # one per table
    assert "<td>公安机关</td><td>公安立案</td><td>1</td>" in html
    assert "<td>2022</td><td>1</td>" in html and "<td>2024</td><td>16</td>" in html
    assert ">统计分析</a>" in html  # in the navigation
    # A 科室: 法规科 worked the three cases that went through 法制审核.
    legal = as_user("chief").get(f"/statistics/?{YEAR}&unit=yubei-fgk").get_data(as_text=True)
    assert figure(legal, "penalty_cases") == "3" and "法规科" in legal


@pytest.mark.parametrize("user", ["officer1", "legal", "modeler"])
def test_only_heads_and_supervisors_see_it(year, as_user, user: str) -> None:
    assert as_user(user).get("/statistics/").status_code == 403


def test_bad_filters_are_explained_field_by_field(year, as_user) -> None:
    client = as_user("supervisor")
    page = client.get("/statistics/?start=2024-13-01&end=2024-01-01&unit=jiangbei")
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert "日期格式应为 YYYY-MM-DD" in html and "请选择本局或本局的科室" in html
    reversed_ = client.get("/statistics/?start=2024-12-01&end=2024-01-01")
    assert reversed_.status_code == 400 and "结束日期不能早于开始日期" in reversed_.get_data(as_text=True)
    assert "Traceback" not in html


def test_exports_carry_the_dashboard_figures_and_are_audited(year, as_user) -> None:
    client = as_user("deputy")
    response = client.get(f"/statistics/export.csv?{YEAR}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert ["办理行政处罚案件", "16", "件"] in rows
    assert ["罚款", "1230200.00", "元"] in rows
    response = client.client.get(f"/statistics/export.xlsx?{YEAR}")  # binary: not through the CSRF scrape
    book = load_workbook(io.BytesIO(response.get_data()), read_only=True)
    summary = {r[0]: r[1] for r in book["主要数据"].iter_rows(min_row=2, values_only=True)}
    assert summary["办理行政处罚案件"] == 16 and summary["罚款"] == 1230200
    assert client.get(f"/statistics/export.pdf?{YEAR}").status_code == 404
    events = generated(year)
    assert [(e.actor, e.object_id) for e in events] == [("deputy", "export.csv"), ("deputy", "export.xlsx")]
    assert events[0].detail["start"] == "2024-01-01" and len(events[0].detail["sha256"]) == 64


def test_reports_download_and_are_audited(year, as_user) -> None:
    client = as_user("director")
    response = client.client.get("/statistics/report?kind=annual&year=2024&unit=yubei")
    assert response.status_code == 200
    assert "2024%E5%B9%B4%E5%BA%A6" in response.headers["Content-Disposition"]  # 2024年度
    text = "\n".join(p.text for p in open_docx(io.BytesIO(response.get_data())).paragraphs)
    assert "共办理行政处罚案件16件，其中公示10件，经法制审核3件" in text
    quarterly = client.client.get("/statistics/report?kind=quarterly&year=2024&number=1&unit=yubei")
    assert "第一季度" in "\n".join(p.text for p in open_docx(io.BytesIO(quarterly.get_data())).paragraphs)
    monthly = client.client.get("/statistics/report?kind=monthly&year=2024&number=3&unit=yubei")
    assert monthly.status_code == 200
    assert [e.object_id for e in generated(year)] == ["report.annual", "report.quarterly", "report.monthly"]
    bad = client.get("/statistics/report?kind=weekly&year=20x4&unit=jiangbei")
    assert bad.status_code == 400
    assert all(m in bad.get_data(as_text=True) for m in ("报告类型无效", "年度或期数无效", "请选择本局"))
    assert client.get("/statistics/report?kind=monthly&year=2024&number=13").status_code == 400
    if not reports.pdf_available():
        pdf = client.get("/statistics/report?kind=annual&year=2024&format=pdf")
        assert pdf.status_code == 409 and "LibreOffice" in pdf.get_data(as_text=True)
    assert len(generated(year)) == 3  # refused requests generate nothing
