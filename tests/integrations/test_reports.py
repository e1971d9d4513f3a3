"""Reports and exports over a year of cases played through the real processes: the annual report's
figures equal the dashboard's and an independent SQL count; the quarterly and monthly reports cover
their periods; CSV and XLSX carry every figure."""

from __future__ import annotations

import csv
import io
import re
import shutil
from datetime import date
from decimal import Decimal

import pytest
from docx import Document as open_docx
from openpyxl import load_workbook
from sqlalchemy import text

from engine import statistics
from integrations import charts, reports
from tests.engine import year_of_cases

FILED = (
    "unit_code = 'yubei' AND opened_at >= :lo AND opened_at < :hi AND kind IN ('penalty_case', "
    "'incoming_transfer') AND status NOT IN ('clue', 'not_filed')"
)
YEAR_2024 = {"lo": "2023-12-31 16:00:00+00", "hi": "2024-12-31 16:00:00+00"}


@pytest.fixture
def year(seeded, db_engine):
    return year_of_cases.load(seeded, db_engine)


def annual(sf) -> tuple[statistics.Statistics, bytes]:
    with sf() as s:
        stats = statistics.compute(s, reports.period_scope("annual", 2024, 0, "yubei"))
    return stats, reports.render_docx(stats, "annual", generated_on=date(2025, 1, 10))


def paragraphs(data: bytes) -> list[str]:
    return [p.text for p in open_docx(io.BytesIO(data)).paragraphs]


def test_annual_report_figures_equal_the_dashboard_and_raw_sql(year) -> None:
    stats, data = annual(year)
    body = "\n".join(paragraphs(data))
    assert "渝北区医疗保障局2024年度行政执法总体情况报告" in body
    found = re.search(
        r"共办理行政处罚案件(\d+)件，其中公示(\d+)件，经法制审核(\d+)件；追回医保基金([\d.]+)万元"
        r"（其中智能监管追回([\d.]+)万元），罚款([\d.]+)万元，违约金([\d.]+)万元；自查自纠退回医保基金([\d.]+)万元",
        body,
    )
    assert found is not None, body
    handled, published, reviewed = (int(found[i]) for i in (1, 2, 3))
    recovered, smart, fines, damages, refunds = (Decimal(found[i]) for i in (4, 5, 6, 7, 8))
    # The dashboard's figures (the same compute() the statistics page calls).
    with year() as s:
        page = statistics.compute(s, statistics.scope_for(date(2024, 1, 1), date(2024, 12, 31), "yubei"))
        raw = s.execute(
            text(
                f"SELECT count(*), sum(CASE WHEN published THEN 1 ELSE 0 END), "
                f"sum(CASE WHEN legal_review THEN 1 ELSE 0 END), sum(fine), sum(liquidated_damages) "
                f"FROM cases WHERE {FILED}"
            ),
            YEAR_2024,
        ).one()
        raw_recovered = s.execute(
            text(
                "SELECT sum(amount_recovered) FROM cases WHERE unit_code = 'yubei' AND opened_at >= :lo "
                "AND opened_at < :hi AND kind <> 'self_inspection'"
            ),
            YEAR_2024,
        ).scalar()
        per_year = [
            s.execute(
                text(f"SELECT count(*) FROM cases WHERE {FILED}"),
                {"lo": f"{y - 1}-12-31 16:00:00+00", "hi": f"{y}-12-31 16:00:00+00"},
            ).scalar()
            for y in (2022, 2023, 2024)
        ]
    assert page == stats
    assert (handled, published, reviewed) == (
        page.value("penalty_cases"),
        page.value("published"),
        page.value("legal_review_cases"),
    )
    assert (handled, published, reviewed) == (raw[0], raw[1], raw[2]) == (16, 10, 3)
    assert (
        fines
        == Decimal(reports.wan(page.value("fines")))
        == Decimal(reports.wan(raw[3]))
        == Decimal("123.02")
    )
    assert damages == Decimal(reports.wan(raw[4])) == Decimal(reports.wan(page.value("liquidated_damages")))
    assert recovered == Decimal(reports.wan(raw_recovered)) == Decimal(reports.wan(page.value("recovered")))
    assert smart == Decimal(reports.wan(page.value("smart_recovered")))
    assert refunds == Decimal("194.40")  # the seed's 自查自纠 refund
    assert (
        f"近三年办理行政处罚案件：2022年{per_year[0]}件，2023年{per_year[1]}件，2024年{per_year[2]}件。"
        in body
    )
    assert per_year == [1, 2, 16]


def test_annual_report_has_tables_charts_and_narrative_placeholders(year) -> None:
    stats, data = annual(year)
    doc = open_docx(io.BytesIO(data))
    first = doc.tables[0]
    figures = {row.cells[0].text: row.cells[1].text for row in first.rows[1:]}
    assert figures["办理行政处罚案件"] == str(stats.value("penalty_cases"))
    assert figures["罚款"] == str(stats.value("fines"))
    assert figures["违约金"] == str(stats.value("liquidated_damages"))
    years = doc.tables[1]
    assert [[c.text for c in row.cells] for row in years.rows] == [
        ["年度", "件数"],
        ["2022", "1"],
        ["2023", "2"],
        ["2024", "16"],
    ]
    charted = [k for k in reports.KINDS["annual"].tables if stats.table(k).chart]
    assert len(doc.inline_shapes) == len(charted)
    headings = paragraphs(data)
    for heading in ("三、主要做法和成效", "四、存在的问题", "五、下一步工作打算"):
        assert headings[headings.index(heading) + 1] == reports.PLACEHOLDER
    assert doc.core_properties.title == "渝北区医疗保障局2024年度行政执法总体情况报告"


def test_quarterly_and_monthly_reports_cover_their_periods(year) -> None:
    assert reports.period_scope("quarterly", 2024, 1, "yubei") == statistics.Scope(
        date(2024, 1, 1), date(2024, 3, 31), "yubei"
    )
    assert reports.period_scope("monthly", 2024, 12, "yubei").end == date(2024, 12, 31)
    assert reports.period_scope("monthly", 2024, 2, "yubei").end == date(2024, 2, 29)
    with pytest.raises(ValueError, match="季度"):
        reports.period_scope("quarterly", 2024, 5, "yubei")
    with year() as s:
        q1 = statistics.compute(s, reports.period_scope("quarterly", 2024, 1, "yubei"))
        march = statistics.compute(s, reports.period_scope("monthly", 2024, 3, "yubei"))
        q1_raw = s.execute(
            text(f"SELECT count(*) FROM cases WHERE {FILED}"),
            {"lo": "2023-12-31 16:00:00+00", "hi": "2024-03-31 16:00:00+00"},
        ).scalar()
    assert q1.value("penalty_cases") == q1_raw == 5
    quarterly = "\n".join(paragraphs(reports.render_docx(q1, "quarterly", generated_on=date(2024, 4, 1))))
    assert "渝北区医疗保障局2024年第一季度医保基金监管执法工作调度情况" in quarterly
    assert f"共办理行政处罚案件{q1_raw}件" in quarterly and "下季度工作安排" in quarterly
    monthly = "\n".join(paragraphs(reports.render_docx(march, "monthly", generated_on=date(2024, 3, 29))))
    assert "2024年3月医保基金监管执法工作进展报告" in monthly
    assert f"共办理行政处罚案件{march.value('penalty_cases')}件" in monthly and "下月工作计划" in monthly


def test_csv_and_xlsx_carry_every_figure_and_table(year) -> None:
    stats, _ = annual(year)
    rows = list(csv.reader(io.StringIO(reports.to_csv(stats).decode("utf-8-sig"))))
    start = rows.index(["主要数据"])
    figures = {r[0]: r[1] for r in rows[start + 2 : start + 2 + len(stats.figures) + 2]}
    assert figures["办理行政处罚案件"] == str(stats.value("penalty_cases"))
    assert Decimal(figures["罚款"]) == stats.value("fines")
    for table in stats.tables:
        assert [table.title] in rows
        at = rows.index([table.title])
        assert tuple(rows[at + 1]) == table.columns
        assert len(rows[at + 2 : at + 2 + len(table.rows)]) == len(table.rows)
    book = load_workbook(io.BytesIO(reports.to_xlsx(stats)), read_only=True)
    summary = {r[0]: r[1] for r in book["主要数据"].iter_rows(min_row=2, values_only=True)}
    assert summary["办理行政处罚案件"] == stats.value("penalty_cases")
    assert Decimal(str(summary["罚款"])) == stats.value("fines")
    violations = list(book["违法类型"].iter_rows(min_row=2, values_only=True))
    assert violations == [tuple(r) for r in stats.table("by_violation").rows]
    assert len(book.sheetnames) == 1 + len(stats.tables)


def test_charts_render_with_a_cjk_font(year) -> None:
    stats, _ = annual(year)
    assert charts.cjk_family() is not None  # fonts-noto-cjk (installed by `make test`)
    for table in stats.tables:
        png = charts.chart_png(table)
        assert png is None if not table.chart else png[:8] == b"\x89PNG\r\n\x1a\n"
    empty = statistics.Table("x", "空表", ("a", "件数"), ())
    assert charts.chart_png(empty)[:4] == b"\x89PNG"


@pytest.mark.skipif(
    not (shutil.which("soffice") or shutil.which("libreoffice")), reason="LibreOffice not installed"
)
def test_pdf_through_libreoffice(year) -> None:
    _, data = annual(year)
    assert reports.docx_to_pdf(data)[:5] == b"%PDF-"
