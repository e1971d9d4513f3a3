"""Reports and exports built from one `engine.statistics.Statistics`, so their figures are by
construction the dashboard's: the 行政执法总体情况报告 (annual), the 月报告 and the 季调度 summary as .docx
(with the charts, and headed placeholders for the officer's narrative), PDF through LibreOffice when
`soffice` is installed, and CSV / XLSX exports of every figure and table."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from docx import Document as new_docx
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from openpyxl import Workbook

from engine.statistics import Scope, Statistics, Table
from integrations.charts import chart_png


@dataclass(frozen=True)
class Kind:
    name: str  # 年度报告 …
    title: str  # with {unit} {period}
    tables: tuple[str, ...]  # the tables shown, in order, each with its chart
    narrative: tuple[str, ...]  # headed sections the officer writes


KINDS: dict[str, Kind] = {
    "annual": Kind(
        "年度报告",
        "{unit}{period}行政执法总体情况报告",
        (
            "per_year",
            "by_violation",
            "by_institution",
            "by_outcome",
            "review",
            "stage_times",
            "referrals",
            "ledger",
        ),
        ("主要做法和成效", "存在的问题", "下一步工作打算"),
    ),
    "quarterly": Kind(
        "季度调度",
        "{unit}{period}医保基金监管执法工作调度情况",
        ("per_month", "by_violation", "by_outcome", "stage_times", "referrals", "ledger"),
        ("本季度重点工作推进情况", "存在的困难和问题", "下季度工作安排"),
    ),
    "monthly": Kind(
        "月报告",
        "{unit}{period}医保基金监管执法工作进展报告",
        ("by_violation", "by_outcome", "stage_times", "ledger"),
        ("本月重点工作", "存在的问题", "下月工作计划"),
    ),
}
PLACEHOLDER = "【此处由承办人员填写】"
BODY_FONT, HEADING_FONT, TITLE_FONT = "仿宋", "黑体", "宋体"


def period_scope(kind: str, year: int, number: int, unit: str) -> Scope:
    """The Scope of a report: the year, quarter `number` or month `number`. Raises ValueError."""
    if kind == "annual":
        return Scope(date(year, 1, 1), date(year, 12, 31), unit)
    if kind == "quarterly":
        if not 1 <= number <= 4:
            raise ValueError("季度应为 1 至 4")
        first = date(year, 3 * number - 2, 1)
        months = 3
    elif kind == "monthly":
        if not 1 <= number <= 12:
            raise ValueError("月份应为 1 至 12")
        first, months = date(year, number, 1), 1
    else:
        raise ValueError(f"unknown report kind {kind}")
    after = date(first.year + (first.month + months - 1) // 12, (first.month + months - 1) % 12 + 1, 1)
    return Scope(first, after - timedelta(days=1), unit)


def period_name(kind: str, scope: Scope) -> str:
    if kind == "annual":
        return f"{scope.start.year}年度"
    if kind == "quarterly":
        return f"{scope.start.year}年第{'一二三四'[(scope.start.month - 1) // 3]}季度"
    return f"{scope.start.year}年{scope.start.month}月"


def report_title(stats: Statistics, kind: str) -> str:
    """e.g. 渝北区医疗保障局2024年度行政执法总体情况报告 (also the download's file name)."""
    return KINDS[kind].title.format(unit=stats.unit_name, period=period_name(kind, stats.scope))


def wan(value: Any) -> str:
    """元 → 万元 with two decimals: 10143800 → 1014.38."""
    return str((Decimal(str(value or 0)) / 10000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def cell_text(value: Any) -> str:
    return "—" if value is None else str(value)


def summary(stats: Statistics, kind: str) -> str:
    """The opening paragraph: the figures of seed 000, in the bureau's own phrasing."""
    v = stats.value
    text = (
        f"{period_name(kind, stats.scope)}，{stats.unit_name}共办理行政处罚案件{v('penalty_cases')}件，"
        f"其中公示{v('published')}件，经法制审核{v('legal_review_cases')}件；"
        f"追回医保基金{wan(v('recovered'))}万元（其中智能监管追回{wan(v('smart_recovered'))}万元），"
        f"罚款{wan(v('fines'))}万元，违约金{wan(v('liquidated_damages'))}万元；"
        f"自查自纠退回医保基金{wan(v('self_inspection_refunds'))}万元。"
    )
    if kind == "annual":
        years = "，".join(f"{year}年{n}件" for year, n in stats.table("per_year").rows)
        text += f"近三年办理行政处罚案件：{years}。"
    return text


def _font(run: Any, name: str, size: float, bold: bool = False) -> None:
    run.font.name = name
    run.font.size = Pt(size)
    run.font.bold = bold
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), name)


def _paragraph(doc: Any, text: str, *, font: str = BODY_FONT, size: float = 14, bold: bool = False,
               align: Any = None, indent: bool = True) -> Any:  # fmt: skip
    p = doc.add_paragraph()
    if align is not None:
        p.alignment = align
    if indent:
        p.paragraph_format.first_line_indent = Pt(size * 2)
    _font(p.add_run(text), font, size, bold)
    return p


def _table(doc: Any, table: Table) -> None:
    grid = doc.add_table(rows=1, cols=len(table.columns))
    grid.style = "Table Grid"
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, name in zip(grid.rows[0].cells, table.columns, strict=True):
        _font(cell.paragraphs[0].add_run(name), HEADING_FONT, 10.5)
    for row in table.rows or (("暂无数据",) + ("",) * (len(table.columns) - 1),):
        cells = grid.add_row().cells
        for cell, value in zip(cells, row, strict=True):
            _font(cell.paragraphs[0].add_run(cell_text(value)), BODY_FONT, 10.5)


def render_docx(stats: Statistics, kind: str, *, generated_on: date) -> bytes:
    """The report of `kind` (annual, quarterly, monthly) as .docx bytes."""
    spec = KINDS[kind]
    doc = new_docx()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.top_margin, section.bottom_margin = Cm(3.7), Cm(3.5)
    section.left_margin, section.right_margin = Cm(2.8), Cm(2.6)
    title = report_title(stats, kind)
    doc.core_properties.title = title
    _paragraph(doc, title, font=TITLE_FONT, size=22, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, indent=False)
    scope = stats.scope
    _paragraph(
        doc,
        f"统计区间：{scope.start.isoformat()} 至 {scope.end.isoformat()}（按线索登记日期）"
        f"  生成日期：{generated_on}",
        size=10.5,
        align=WD_ALIGN_PARAGRAPH.CENTER,
        indent=False,
    )
    _paragraph(doc, "一、总体情况", font=HEADING_FONT, size=16)
    _paragraph(doc, summary(stats, kind))
    figures = Table(
        "figures",
        "主要数据",
        ("指标", "数值", "单位"),
        tuple((f.label, cell_text(f.value), f.unit) for f in stats.figures),
        chart="",
    )
    _table(doc, figures)
    _paragraph(doc, "二、数据分析", font=HEADING_FONT, size=16)
    for number, key in enumerate(spec.tables, start=1):
        table = stats.table(key)
        _paragraph(doc, f"（{_cn(number)}）{table.title}", font="楷体", size=14, bold=True)
        png = chart_png(table, width=6.0, height=3.0)
        if png is not None:
            doc.add_picture(io.BytesIO(png), width=Cm(14))
            doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
        _table(doc, table)
    for number, heading in enumerate(spec.narrative, start=3):
        _paragraph(doc, f"{_cn(number)}、{heading}", font=HEADING_FONT, size=16)
        _paragraph(doc, PLACEHOLDER)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _cn(n: int) -> str:
    return "一二三四五六七八九十"[n - 1] if 1 <= n <= 10 else str(n)


def _soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def pdf_available() -> bool:
    return _soffice() is not None


def docx_to_pdf(data: bytes) -> bytes | None:
    """The .docx converted by LibreOffice (`soffice --headless`), or None when it is not installed."""
    binary = _soffice()
    if binary is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "report.docx"
        source.write_bytes(data)
        subprocess.run(
            [binary, "--headless", "--convert-to", "pdf", "--outdir", tmp, str(source)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return (Path(tmp) / "report.pdf").read_bytes()


def _sections(stats: Statistics) -> list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]:
    """(title, header, rows) of the figures and of every table: what both exports write."""
    scope = stats.scope
    head = [
        ("统计区间", f"{scope.start.isoformat()} 至 {scope.end.isoformat()}", ""),
        ("单位", stats.unit_name, ""),
    ]
    figures = head + [(f.label, f.value, f.unit) for f in stats.figures]
    out = [("主要数据", ("指标", "数值", "单位"), figures)]
    out += [(t.title, t.columns, list(t.rows)) for t in stats.tables]
    return out


def to_csv(stats: Statistics) -> bytes:
    """Every figure and table, one block after another, as UTF-8 CSV with a BOM (Excel reads it)."""
    text = io.StringIO()
    writer = csv.writer(text)
    for title, header, rows in _sections(stats):
        writer.writerow([title])
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
        writer.writerow([])
    return ("\ufeff" + text.getvalue()).encode("utf-8")


def to_xlsx(stats: Statistics) -> bytes:
    """Every figure and table, one sheet each, numbers as numbers."""
    book = Workbook()
    book.remove(book.active)
    for title, header, rows in _sections(stats):
        sheet = book.create_sheet(title=_sheet_name(title, book.sheetnames))
        sheet.append(list(header))
        for row in rows:
            sheet.append([float(v) if isinstance(v, Decimal) else v for v in row])
        for column, name in zip(sheet.columns, header, strict=False):
            sheet.column_dimensions[column[0].column_letter].width = max(12, 2 * len(name) + 4)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_name(title: str, taken: list[str]) -> str:
    name = "".join("_" if c in "[]:*?/\\" else c for c in title.split("（")[0])[:28]
    return name if name not in taken else f"{name}{len(taken)}"
