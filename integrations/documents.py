"""Official documents (文书) as .docx files: a Jinja text template per kind (integrations/doc_templates/),
written in a small line markup that says how each paragraph is laid out, turned by python-docx into
an A4 document in the style of GB/T 9704 (党政机关公文格式): 仿宋 三号 body on a 28-point grid,
宋体 二号 bold titles, page numbers "— 1 —".

Markup, one paragraph per line (the marker and one space start the line; blank lines are ignored):

    # 文字        title line, centred, 二号 bold (the issuing bureau, then the document's name)
    ^ 文字        centred line (the 文号 line)
    > 文字        right-aligned line (seal, signature and date)
    < 文字        flush-left line, no indent (the addressee: "某某大药房：")
    * 文字        heading in 黑体 with the body indent ("一、违法事实")
    | a | b |     a table row; consecutive rows make one table. A cell starting with * is a label
                  (bold, centred, narrow column); a row with fewer cells than the table spans its last
                  cell over the rest. In a cell, \\n starts a new line and a line starting with "> "
                  is right-aligned.
    ~             an empty line
    anything else a body paragraph, justified, first line indented by two characters

Values from `{{ ... }}` never act as markup: each one is fenced with control characters before the
lines are parsed, so a party called "# 某某" stays text. A value with line breaks becomes several
paragraphs (or lines in a cell) in the style of the line it sits in.

Filters: `yuan` (12345.67 → 12345.67元), `capital` (→ 壹万贰仟叁佰肆拾伍元陆角柒分), `cn_date`
(2026-11-23 → 二〇二六年十一月二十三日), `cn_num` (15 → 十五), `blank` (the value, or a line to fill in).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from docx import Document as new_docx
from docx.enum.section import WD_SECTION
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from docx.table import _Cell
from docx.text.paragraph import Paragraph
from jinja2 import FileSystemLoader, Undefined
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

TEMPLATE_DIR = Path(__file__).resolve().parent / "doc_templates"

TEMPLATES: dict[str, str] = {
    "立案审批表": "filing_approval.j2",
    "行政处罚事先告知书": "prior_notice.j2",
    "听证告知书": "hearing_notice.j2",
    "法制审核意见书": "legal_review_opinion.j2",
    "集体讨论记录": "collective_discussion.j2",
    "行政处罚决定书": "penalty_decision.j2",
    "送达回证": "service_receipt.j2",
    "结案报告": "closing_report.j2",
    "涉嫌犯罪案件移送书": "criminal_referral.j2",
}

# --- Chinese numerals ----------------------------------------------------------------------------

_CAPITAL_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_CAPITAL_UNITS = ("", "拾", "佰", "仟")
_CAPITAL_GROUPS = ("", "万", "亿")
_CAPITAL_LIMIT = Decimal("1000000000000")  # 万亿: beyond Numeric(14, 2), so never a real amount
_SMALL_DIGITS = "〇一二三四五六七八九"


def rmb_capital(amount: Decimal | int | str) -> str:
    """An amount in 元 as the 大写金额 of a bill or decision (中国人民银行《支付结算办法》rules):
    12345.67 → 壹万贰仟叁佰肆拾伍元陆角柒分, 100 → 壹佰元整, 10010.05 → 壹万零壹拾元零伍分.
    Rounds half-up to the 分. Raises ValueError on a negative amount or one of 万亿 or more."""
    value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if value < 0 or value >= _CAPITAL_LIMIT:
        raise ValueError(f"amount out of range for 大写金额: {amount}")
    cents = int(value * 100)
    yuan, jiao, fen = cents // 100, cents // 10 % 10, cents % 10
    words = _capital_integer(yuan)
    if words:
        words += "元"
    if jiao == 0 and fen == 0:
        return (words or "零元") + "整"
    if jiao:
        words += _CAPITAL_DIGITS[jiao] + "角"
    if fen:
        if yuan and not jiao:
            words += "零"  # 16409.02 → …玖元零贰分: the rules require the 零 when only 角 is zero
        words += _CAPITAL_DIGITS[fen] + "分"
    return words


def _capital_integer(n: int) -> str:
    """壹万零壹拾 for 10010: one 零 stands for any run of zeros between two non-zero digits."""
    if n == 0:
        return ""
    digits = str(n)
    out: list[str] = []
    pending_zero = False
    group_used = False
    for i, ch in enumerate(digits):
        position = len(digits) - 1 - i
        d = int(ch)
        if d == 0:
            pending_zero = True
        else:
            if pending_zero and out:
                out.append("零")
            pending_zero = False
            out.append(_CAPITAL_DIGITS[d] + _CAPITAL_UNITS[position % 4])
            group_used = True
        if position % 4 == 0 and position > 0:
            if group_used:
                # The group's unit absorbs its trailing zeros: 107000 is 壹拾万柒仟, not 壹拾万零柒仟.
                out.append(_CAPITAL_GROUPS[position // 4])
                pending_zero = False
            group_used = False
    return "".join(out)


def chinese_number(n: int) -> str:
    """A count as written in a document: 5 → 五, 15 → 十五, 60 → 六十, 105 → 一百零五."""
    if n < 0:
        raise ValueError("negative count")
    if n < 10:
        return "零一二三四五六七八九"[n]
    if n < 20:
        return "十" + ("" if n == 10 else chinese_number(n % 10))
    if n < 100:
        return chinese_number(n // 10) + "十" + ("" if n % 10 == 0 else chinese_number(n % 10))
    if n < 1000:
        rest = n % 100
        tail = "" if rest == 0 else ("零" + chinese_number(rest) if rest < 10 else _tens(rest))
        return chinese_number(n // 100) + "百" + tail
    return str(n)


def _tens(n: int) -> str:
    """Inside a larger number 15 reads 一十五 (一百一十五), not 十五."""
    return ("一" + chinese_number(n)) if 10 <= n < 20 else chinese_number(n)


def chinese_date(value: date | datetime) -> str:
    """2026-11-23 → 二〇二六年十一月二十三日, as the date under a seal is written."""
    year = "".join(_SMALL_DIGITS[int(c)] for c in str(value.year))
    return f"{year}年{chinese_number(value.month)}月{chinese_number(value.day)}日"


# --- template values ------------------------------------------------------------------------------

OPEN, CLOSE, BREAK = "\x01", "\x02", "\x03"  # fence a value; a line break inside a cell or value
BLANK = "＿＿＿＿＿＿＿＿"
DATE_BLANK = "　　年　　月　　日"


def _fence(value: Any) -> Markup:
    """Every line of a value, fenced, so the line parser never reads it as markup. Markup is what a
    macro call returns: template text whose own values were fenced already, so it passes as is."""
    if isinstance(value, Markup):
        return value
    if value is None or isinstance(value, Undefined):
        return Markup("")
    text = _plain(value)
    text = text.replace(OPEN, "").replace(CLOSE, "").replace(BREAK, "")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return Markup(BREAK.join(OPEN + line + CLOSE for line in lines))


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, Decimal):
        return _figures(value)
    if isinstance(value, datetime | date):
        return chinese_date(value)
    if isinstance(value, list | tuple):
        return "、".join(_plain(v) for v in value)
    return str(value)


def _figures(value: Decimal | int | str) -> str:
    try:
        return str(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    except ArithmeticError:  # not a number: print what was entered rather than fail the document
        return str(value)


def _cn_num(value: Any) -> str:
    try:
        return chinese_number(int(value))
    except (TypeError, ValueError):
        return str(value or "")


def _yuan(value: Any, empty: str = BLANK) -> str:
    if value in (None, "") or isinstance(value, Undefined):
        return empty + "元"
    return _figures(value) + "元"


def _capital(value: Any, empty: str = BLANK) -> str:
    if value in (None, "") or isinstance(value, Undefined):
        return empty
    try:
        return rmb_capital(value)
    except (ValueError, ArithmeticError):  # not an amount: leave the line to be filled in by hand
        return empty


def _cn_date(value: Any, empty: str = DATE_BLANK) -> str:
    if not value or isinstance(value, Undefined):
        return empty
    return chinese_date(value)


def _blank(value: Any, empty: str = BLANK) -> Any:
    if value in (None, "", []) or isinstance(value, Undefined):
        return empty
    return value


def _environment(template_dir: Path) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(template_dir)),
        # Autoescape only so that macro output arrives as Markup (and so unfenced): every value is
        # turned into Markup by _fence, so nothing is ever HTML-escaped.
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_fence,
        undefined=Undefined,
    )
    env.filters.update(
        yuan=_yuan,
        capital=_capital,
        cn_date=_cn_date,
        cn_num=_cn_num,
        blank=_blank,
        figures=_figures,
    )
    return env


# --- layout -------------------------------------------------------------------------------------

BODY_FONT, TITLE_FONT, HEADING_FONT, LATIN_FONT = "仿宋", "宋体", "黑体", "Times New Roman"
BODY_SIZE, TITLE_SIZE, TABLE_SIZE, FOOTER_SIZE = Pt(16), Pt(22), Pt(12), Pt(14)
LINE = Pt(28)
INDENT = Pt(32)  # two characters of 三号
LABEL_WIDTH = Cm(3.4)
TEXT_WIDTH = Cm(21.0 - 2.8 - 2.6)


@dataclass
class _Line:
    marker: str
    text: str  # still fenced


_MARKERS = ("#", "^", ">", "<", "*", "|")


def _parse(rendered: str) -> list[_Line]:
    lines: list[_Line] = []
    for raw in rendered.splitlines():
        if not raw.strip():
            continue
        stripped = raw.strip(" \t")
        if stripped == "~":
            lines.append(_Line("~", ""))
        elif stripped.startswith("|"):
            lines.append(_Line("|", stripped))
        elif stripped[:1] in _MARKERS and stripped[1:2] == " ":
            lines.append(_Line(stripped[0], stripped[2:]))
        else:
            lines.append(_Line("", stripped))
    return lines


def _split_cells(row: str) -> list[str]:
    """`| a | b |` → [a, b], splitting only on bars outside fenced values."""
    body = row.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") else body
    cells: list[str] = []
    current: list[str] = []
    fenced = False
    for ch in body:
        if ch == OPEN:
            fenced = True
        elif ch == CLOSE:
            fenced = False
        if ch == "|" and not fenced:
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    cells.append("".join(current).strip())
    return cells


def _pieces(text: str) -> list[str]:
    """Lines of a fenced text: literal "\\n" from the template and line breaks inside values."""
    return _unfenced_literal_breaks(text).split(BREAK)


def _unfenced_literal_breaks(text: str) -> str:
    out: list[str] = []
    fenced = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == OPEN:
            fenced = True
        elif ch == CLOSE:
            fenced = False
        if not fenced and text.startswith("\\n", i):
            out.append(BREAK)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _clean(text: str) -> str:
    return text.replace(OPEN, "").replace(CLOSE, "")


def _set_fonts(element: Any, east_asia: str) -> None:
    r_pr = element.get_or_add_rPr()
    fonts = r_pr.get_or_add_rFonts()
    fonts.set(qn("w:ascii"), LATIN_FONT)
    fonts.set(qn("w:hAnsi"), LATIN_FONT)
    fonts.set(qn("w:eastAsia"), east_asia)


def _run(paragraph: Paragraph, text: str, *, font: str = BODY_FONT, size: Pt = BODY_SIZE,
         bold: bool = False) -> None:  # fmt: skip
    run = paragraph.add_run(text)
    run.font.size = size
    run.font.bold = bold
    _set_fonts(run._element, font)


def _format(paragraph: Paragraph, *, align: Any = None, indent: Any = None, exact: Any = LINE) -> None:
    fmt = paragraph.paragraph_format
    if align is not None:
        paragraph.alignment = align
    fmt.first_line_indent = indent
    fmt.space_before = Pt(0)
    fmt.space_after = Pt(0)
    if exact is None:
        fmt.line_spacing_rule = WD_LINE_SPACING.SINGLE
    else:
        fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        fmt.line_spacing = exact


class _Builder:
    """Lays parsed lines out on an A4 page."""

    def __init__(self, title: str, author: str) -> None:
        self.doc = new_docx()
        self.doc.core_properties.title = title
        self.doc.core_properties.author = author
        self.doc.core_properties.comments = "由医保基金监管执法案件流程系统生成"
        section = self.doc.sections[0]
        section.start_type = WD_SECTION.NEW_PAGE
        section.page_width, section.page_height = Cm(21.0), Cm(29.7)
        section.top_margin, section.bottom_margin = Cm(3.7), Cm(3.5)
        section.left_margin, section.right_margin = Cm(2.8), Cm(2.6)
        section.footer_distance = Cm(2.5)
        normal = self.doc.styles["Normal"]
        normal.font.size = BODY_SIZE
        _set_fonts(normal.element, BODY_FONT)
        self._page_numbers(section)

    def _paragraph(self) -> Paragraph:
        return self.doc.add_paragraph()

    def add(self, line: _Line) -> None:
        if line.marker == "~":
            _format(self._paragraph())
            return
        for piece in _pieces(line.text):
            self._add_piece(line.marker, _clean(piece))

    def _add_piece(self, marker: str, text: str) -> None:
        p = self._paragraph()
        if marker == "#":
            _format(p, align=WD_ALIGN_PARAGRAPH.CENTER, exact=Pt(36))
            _run(p, text, font=TITLE_FONT, size=TITLE_SIZE, bold=True)
        elif marker == "^":
            _format(p, align=WD_ALIGN_PARAGRAPH.CENTER)
            _run(p, text)
        elif marker == ">":
            _format(p, align=WD_ALIGN_PARAGRAPH.RIGHT)
            p.paragraph_format.right_indent = INDENT
            _run(p, text)
        elif marker == "<":
            _format(p, align=WD_ALIGN_PARAGRAPH.JUSTIFY)
            _run(p, text)
        elif marker == "*":
            _format(p, align=WD_ALIGN_PARAGRAPH.JUSTIFY, indent=INDENT)
            _run(p, text, font=HEADING_FONT)
        else:
            _format(p, align=WD_ALIGN_PARAGRAPH.JUSTIFY, indent=INDENT)
            _run(p, text)

    def table(self, rows: list[str]) -> None:
        cells = [_split_cells(r) for r in rows]
        width = max(len(r) for r in cells)
        label_cols = [
            all(r[j].startswith("*") for r in cells if j < len(r) and (len(r) == width or j < len(r) - 1))
            for j in range(width)
        ]
        labels = sum(label_cols)
        text_width = int(TEXT_WIDTH - LABEL_WIDTH * labels) // max(1, width - labels)
        widths = [LABEL_WIDTH if is_label else text_width for is_label in label_cols]
        table = self.doc.add_table(rows=len(cells), cols=width)
        table.style = self.doc.styles["Table Grid"]
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False
        for i, row in enumerate(cells):
            tr_pr = table.rows[i]._tr.get_or_add_trPr()
            tr_pr.append(OxmlElement("w:cantSplit"))  # a signature box never breaks over two pages
            for j, text in enumerate(row):
                cell = table.cell(i, j)
                if j == len(row) - 1 and len(row) < width:
                    cell = cell.merge(table.cell(i, width - 1))
                self._cell(cell, text)
            for j in range(width):
                table.cell(i, j).width = widths[j]
        for j, column in enumerate(table.columns):
            column.width = widths[j]  # the table grid: LibreOffice lays columns out from it, Word from cells
        _format(self._paragraph(), exact=Pt(12))  # Word needs a paragraph between two tables

    def _cell(self, cell: _Cell, text: str) -> None:
        is_label = text.startswith("*")
        if is_label:
            text = text[1:].strip()
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        pieces = _pieces(text)
        for k, piece in enumerate(pieces):
            p = cell.paragraphs[0] if k == 0 else cell.add_paragraph()
            right = piece.startswith("> ")
            body = _clean(piece[2:] if right else piece)
            align = (
                WD_ALIGN_PARAGRAPH.CENTER
                if is_label
                else WD_ALIGN_PARAGRAPH.RIGHT
                if right
                else WD_ALIGN_PARAGRAPH.LEFT
            )
            _format(p, align=align, exact=Pt(20))
            p.paragraph_format.space_before = Pt(2) if k == 0 else Pt(0)
            p.paragraph_format.space_after = Pt(2) if k == len(pieces) - 1 else Pt(0)
            _run(p, body, size=TABLE_SIZE, bold=is_label)

    def _page_numbers(self, section: Any) -> None:
        """A centred "— N —" footer (GB/T 9704 puts it in 四号 半角 digits)."""
        p = section.footer.paragraphs[0]
        _format(p, align=WD_ALIGN_PARAGRAPH.CENTER, exact=None)
        _run(p, "— ", size=FOOTER_SIZE, font=TITLE_FONT)
        run = p.add_run()
        run.font.size = FOOTER_SIZE
        for kind, text in (("begin", None), (None, " PAGE "), ("separate", None), (None, "1"), ("end", None)):
            if kind:
                char = OxmlElement("w:fldChar")
                char.set(qn("w:fldCharType"), kind)
                run._element.append(char)
            elif text == " PAGE ":
                instr = OxmlElement("w:instrText")
                instr.set(qn("xml:space"), "preserve")
                instr.text = text
                run._element.append(instr)
            else:
                shown = OxmlElement("w:t")
                shown.text = text
                run._element.append(shown)
        _run(p, " —", size=FOOTER_SIZE, font=TITLE_FONT)

    def save(self) -> bytes:
        buffer = io.BytesIO()
        self.doc.save(buffer)
        return buffer.getvalue()


class DocxRenderer:
    """engine.documents.Renderer: renders a kind's template into .docx bytes."""

    def __init__(self, template_dir: Path = TEMPLATE_DIR) -> None:
        self.env = _environment(template_dir)

    def render(self, kind: str, context: Mapping[str, Any]) -> bytes:
        """The .docx bytes of `kind` for `context`. Raises KeyError on a kind without a template."""
        template = self.env.get_template(TEMPLATES[kind])
        text = template.render(**context)
        bureau = context.get("bureau") or {}
        builder = _Builder(f"{kind} {context.get('number') or ''}".strip(), str(bureau.get("name", "")))
        table: list[str] = []
        for line in _parse(text):
            if line.marker == "|":
                table.append(line.text)
                continue
            if table:
                builder.table(table)
                table = []
            builder.add(line)
        if table:
            builder.table(table)
        return builder.save()


def text_of(data: bytes) -> str:
    """All the text of a .docx (paragraphs, then table cells), for tests and search."""
    doc = new_docx(io.BytesIO(data))
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


__all__ = ["TEMPLATES", "DocxRenderer", "chinese_date", "chinese_number", "rmb_capital", "text_of"]
