"""统计分析 in a real browser over a year of cases played through the real processes: the 局长 filters
the dashboard, downloads the Excel export and the annual report; the report's first page is drawn
from the .docx itself (paragraphs, tables and charts in document order) and screenshotted."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import pytest
from docx import Document as open_docx
from docx.oxml.ns import qn
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS, screenshot
from tests.engine import year_of_cases

A4 = {"width": 794, "height": 1123}  # 210 × 297 mm at 96 dpi


@pytest.fixture
def year(seeded, db_engine):  # type: ignore[no-untyped-def]
    return year_of_cases.load(seeded, db_engine)


def docx_page_html(data: bytes) -> str:
    """The document as HTML on an A4 sheet: each paragraph with its alignment, first-line indent, font,
    size and weight; each table; each picture — in the order the .docx holds them."""
    doc = open_docx(io.BytesIO(data))
    section = doc.sections[0]
    margins = f"{section.top_margin.mm}mm {section.right_margin.mm}mm 0 {section.left_margin.mm}mm"
    parts = []
    for child in doc.element.body.iterchildren():
        if child.tag == qn("w:p"):
            parts.append(_paragraph_html(doc, child))
        elif child.tag == qn("w:tbl"):
            rows = []
            for tr in child.iter(qn("w:tr")):
                cells = ["".join(t.text or "" for t in tc.iter(qn("w:t"))) for tc in tr.iter(qn("w:tc"))]
                rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
            parts.append(f"<table>{''.join(rows)}</table>")
    style = (
        f"body{{margin:0;background:#fff}} .sheet{{width:210mm;min-height:297mm;box-sizing:border-box;"
        f"padding:{margins}}} p{{margin:0 0 4px;line-height:1.5}} img{{display:block;margin:4px auto}}"
        "table{border-collapse:collapse;margin:4px auto 8px;font-size:10.5pt}"
        "td{border:1px solid #000;padding:1px 6px;font-family:'Noto Serif CJK SC',serif}"
        "tr:first-child td{font-family:'Noto Sans CJK SC',sans-serif}"
    )
    head = f"<head><meta charset='utf-8'><style>{style}</style></head>"
    return f"<html>{head}<body><div class='sheet'>{''.join(parts)}</div></body></html>"


FONTS = {"黑体": "'Noto Sans CJK SC',sans-serif", "宋体": "'Noto Serif CJK SC',serif"}


def _paragraph_html(doc, p) -> str:  # type: ignore[no-untyped-def]
    from docx.text.paragraph import Paragraph

    para = Paragraph(p, doc)
    css = []
    if para.alignment is not None and int(para.alignment) == 1:
        css.append("text-align:center")
    if para.paragraph_format.first_line_indent:
        css.append(f"text-indent:{para.paragraph_format.first_line_indent.pt}pt")
    content = []
    for run in para.runs:
        font = run.font
        family = FONTS.get(font.name or "", "'Noto Serif CJK SC',serif")
        weight = "bold" if font.bold else "normal"
        size = f"{font.size.pt}pt" if font.size else "14pt"
        look = f"font-family:{family};font-size:{size};font-weight:{weight}"
        content.append(f'<span style="{look}">{html.escape(run.text)}</span>')
    for blip in p.iter(qn("a:blip")):
        blob = doc.part.related_parts[blip.get(qn("r:embed"))].blob
        content.append(
            f"<img src='data:image/png;base64,{base64.b64encode(blob).decode()}' style='width:14cm'>"
        )
    return f'<p style="{";".join(css)}">{"".join(content)}</p>'


def test_director_filters_the_dashboard_and_downloads(
    year, new_page, live_server: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    page = new_page("director")
    page.get_by_role("link", name="统计分析").click()
    expect(page.get_by_role("heading", name="统计分析", exact=False)).to_be_visible()
    page.get_by_label("开始日期").fill("2024-01-01")
    page.get_by_label("结束日期").fill("2024-12-31")
    page.get_by_role("button", name="统计").click()
    expect(page.locator('[data-key="penalty_cases"] .value')).to_have_text("16件")
    expect(page.locator('[data-key="legal_review_cases"] .value')).to_have_text("3件")
    violations = page.get_by_role("region", name="违法类型（一案可有多种）")
    expect(violations.get_by_role("img")).to_be_visible()
    expect(violations.get_by_role("row").filter(has_text="超标准收费")).to_contain_text("4")
    screenshot(page, "statistics")

    with page.expect_download() as download:
        page.get_by_role("link", name="导出 Excel").click()
    path = tmp_path / "export.xlsx"
    download.value.save_as(path)
    summary = {
        r[0]: r[1] for r in load_workbook(path, read_only=True)["主要数据"].iter_rows(values_only=True)
    }
    assert summary["办理行政处罚案件"] == 16

    reports = page.get_by_role("region", name="报告下载")
    reports.locator("form").first.get_by_role("combobox").first.select_option("2024")
    with page.expect_download() as download:
        reports.get_by_role("button", name="下载年度报告").click()
    assert download.value.suggested_filename == "渝北区医疗保障局2024年度行政执法总体情况报告.docx"
    report = tmp_path / "annual.docx"
    download.value.save_as(report)

    sheet = new_page()
    sheet.set_viewport_size(A4)
    sheet.set_content(docx_page_html(report.read_bytes()))
    expect(sheet.get_by_text("渝北区医疗保障局2024年度行政执法总体情况报告")).to_be_visible()
    expect(sheet.get_by_text("共办理行政处罚案件16件", exact=False)).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    sheet.screenshot(path=str(SCREENSHOTS / "annual_report.png"), clip={"x": 0, "y": 0, **A4})
