"""Charts of the statistics tables as PNG, drawn server-side by matplotlib (Agg) with a CJK font found
through matplotlib's font manager (Noto Sans CJK, from the fonts-noto-cjk package). Without one the
chart still renders; Chinese labels then show as boxes."""

from __future__ import annotations

import io
import warnings
from decimal import Decimal
from functools import cache
from typing import Any

from matplotlib import font_manager
from matplotlib.figure import Figure  # no pyplot: a bare Figure saves through the Agg canvas
from matplotlib.ticker import MaxNLocator

from engine.statistics import Table

CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "SimHei")
COLOURS = ("#2f6fb0", "#e08a2e", "#4a9b5b", "#c0504d", "#8064a2", "#4bacc6", "#9b8b3a", "#7f7f7f")


@cache
def cjk_family() -> str | None:
    """The first installed font family that has Chinese glyphs, or None."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FAMILIES if name in installed), None)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return float(value)
    return None


def _label(row: tuple[Any, ...], value_column: int) -> str:
    """The first cell and the other text cells before the charted value, e.g. 公安机关·公安立案."""
    rest = [str(cell) for cell in row[1:value_column] if _number(cell) is None]
    return "·".join([str(row[0]), *rest])


def chart_png(table: Table, *, width: float = 6.4, height: float = 3.6, dpi: int = 110) -> bytes | None:
    """The table's chart as PNG bytes, None when the table has no chart."""
    if not table.chart:
        return None
    points = [(_label(row, table.value_column), _number(row[table.value_column])) for row in table.rows]
    points = [(label, value) for label, value in points if value is not None]
    if table.chart == "pie":
        points = [(label, value) for label, value in points if value]  # no 0 % slices
    if table.chart == "barh":
        height = max(height, 0.22 * len(points) + 1.2)  # one readable row per bar
    family = cjk_family()
    fig = Figure(figsize=(width, height), dpi=dpi)
    ax = fig.subplots()
    font = {"family": family} if family else {}
    ax.set_title(table.title, fontsize=11, **font)
    labels = [label for label, _ in points]
    values = [value for _, value in points]
    if not points or not any(values):
        ax.text(0.5, 0.5, "暂无数据", ha="center", va="center", fontsize=12, color="#888", **font)
        ax.set_axis_off()
    elif table.chart == "pie":
        _, texts, autotexts = ax.pie(
            values, labels=labels, colors=COLOURS, autopct="%1.0f%%", startangle=90, counterclock=False
        )
        for text in (*texts, *autotexts):
            text.set_fontsize(8)
            if family:
                text.set_family(family)
        ax.axis("equal")
    elif table.chart == "barh":
        ax.barh(labels[::-1], values[::-1], color=COLOURS[0])
        ax.set_xlabel(table.columns[table.value_column], fontsize=9, **font)
    elif table.chart == "line":
        ax.plot(labels, values, marker="o", color=COLOURS[0])
        ax.set_ylim(bottom=0)
    else:
        ax.bar(labels, values, color=COLOURS[0])
        ax.set_ylabel(table.columns[table.value_column], fontsize=9, **font)
    if table.chart != "pie" and values and all(float(v).is_integer() for v in values):  # no 2.5 件
        (ax.xaxis if table.chart == "barh" else ax.yaxis).set_major_locator(MaxNLocator(integer=True))
    for label in (*ax.get_xticklabels(), *ax.get_yticklabels()):
        label.set_fontsize(8)
        if family:
            label.set_family(family)
    if table.chart in {"bar", "line"} and len(labels) > 5:
        for label in ax.get_xticklabels():
            label.set_rotation(30)
            label.set_horizontalalignment("right")
    fig.tight_layout()
    out = io.BytesIO()
    with warnings.catch_warnings():
        # Without a CJK font matplotlib warns once per missing glyph; the fallback is documented above.
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        fig.savefig(out, format="png")
    return out.getvalue()
