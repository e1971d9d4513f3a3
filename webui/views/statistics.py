"""统计分析: the dashboard (filters, figures, each chart with its numbers beside it), CSV and XLSX
exports of the same figures, and the 年度报告 / 季度调度 / 月报告 downloads — every file audited."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import date
from typing import Any

from flask import Blueprint, render_template, request, send_file
from flask.typing import ResponseReturnValue

from engine import statistics
from engine.clock import to_beijing, utcnow
from engine.errors import InputError
from integrations import charts, reports
from webui.auth import actor, roles_required
from webui.db import get_session, unit_of_work

bp = Blueprint("statistics", __name__, url_prefix="/statistics")

ROLES = ("section_chief", "deputy_director", "director", "supervisor")
MIME = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}
REPORT_NAMES = {"annual": "年度报告", "quarterly": "季度调度", "monthly": "月报告"}


def _today() -> date:
    return to_beijing(utcnow()).date()


def _date(name: str, default: date, errors: dict[str, str]) -> date:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = "日期格式应为 YYYY-MM-DD"
        return default


def _scope(errors: dict[str, str]) -> tuple[statistics.Scope, list[tuple[str, str]]]:
    """The scope the query string asks for (defaults: this year up to today, the user's 区局)."""
    bureau = actor().bureau or ""
    units = statistics.units_of(get_session(), bureau)
    today = _today()
    start = _date("start", date(today.year, 1, 1), errors)
    end = _date("end", today, errors)
    unit = request.args.get("unit", "").strip() or bureau
    if unit not in {code for code, _ in units}:
        errors["unit"] = "请选择本局或本局的科室"
        unit = bureau
    try:
        return statistics.scope_for(start, end, unit), units
    except InputError as exc:
        errors["end"] = str(exc)
        return statistics.Scope(date(today.year, 1, 1), today, bureau), units


def _chart(table: statistics.Table) -> str | None:
    png = charts.chart_png(table)
    return None if png is None else "data:image/png;base64," + base64.b64encode(png).decode()


@bp.get("/")
@roles_required(*ROLES)
def index() -> ResponseReturnValue:
    """The dashboard; bad filters are shown next to their fields and the defaults are used."""
    errors: dict[str, str] = {}
    scope, units = _scope(errors)
    stats = statistics.compute(get_session(), scope)
    today = _today()
    return render_template(
        "statistics.html",
        stats=stats,
        scope=scope,
        units=units,
        errors=errors,
        chart_of=_chart,
        years=list(range(today.year, today.year - 5, -1)),
        today=today,
        pdf=reports.pdf_available(),
        report_names=REPORT_NAMES,
    ), (400 if errors else 200)


def _send(data: bytes, fmt: str, name: str, what: str, scope: statistics.Scope) -> ResponseReturnValue:
    with unit_of_work() as s:
        statistics.record_generation(
            s, actor(), what=what, scope=scope, file_name=name, sha256=hashlib.sha256(data).hexdigest()
        )
    return send_file(io.BytesIO(data), mimetype=MIME[fmt], as_attachment=True, download_name=name)


@bp.get("/export.<fmt>")
@roles_required(*ROLES)
def export(fmt: str) -> ResponseReturnValue:
    """The dashboard's figures and tables as CSV or XLSX."""
    if fmt not in {"csv", "xlsx"}:
        return render_template("error.html", message="导出格式只能是 CSV 或 XLSX"), 404
    errors: dict[str, str] = {}
    scope, _ = _scope(errors)
    if errors:
        return render_template("error.html", message="；".join(errors.values())), 400
    stats = statistics.compute(get_session(), scope)
    data = reports.to_csv(stats) if fmt == "csv" else reports.to_xlsx(stats)
    name = f"统计分析_{stats.unit_name}_{scope.start}_{scope.end}.{fmt}"
    return _send(data, fmt, name, f"export.{fmt}", scope)


@bp.get("/report")
@roles_required(*ROLES)
def report() -> ResponseReturnValue:
    """年度报告 / 季度调度 / 月报告 for a year (and quarter or month) and unit, as .docx or PDF."""
    args: dict[str, Any] = request.args
    kind = args.get("kind", "annual")
    fmt = args.get("format", "docx")
    bureau = actor().bureau or ""
    unit = args.get("unit", "").strip() or bureau
    problems = []
    if kind not in REPORT_NAMES:
        problems.append("报告类型无效")
    if fmt not in {"docx", "pdf"}:
        problems.append("报告格式只能是 docx 或 pdf")
    if unit not in {code for code, _ in statistics.units_of(get_session(), bureau)}:
        problems.append("请选择本局或本局的科室")
    year, number = args.get("year", ""), args.get("number", "1")
    if not (year.isdigit() and 2000 <= int(year) <= 2100 and number.isdigit()):
        problems.append("年度或期数无效")
    if problems:
        return render_template("error.html", message="；".join(problems)), 400
    try:
        scope = reports.period_scope(kind, int(year), int(number), unit)
    except ValueError as exc:
        return render_template("error.html", message=str(exc)), 400
    stats = statistics.compute(get_session(), scope)
    data = reports.render_docx(stats, kind, generated_on=_today())
    if fmt == "pdf":
        pdf = reports.docx_to_pdf(data)
        if pdf is None:
            return render_template(
                "error.html", message="服务器未安装 LibreOffice，无法生成 PDF，请下载 Word 版"
            ), 409
        data = pdf
    name = f"{reports.report_title(stats, kind)}.{fmt}"
    return _send(data, fmt, name, f"report.{kind}", scope)
