"""Markdown helpers for generated pages: table cells and inline code that cannot break a table."""

from __future__ import annotations


def cell(text: str | None) -> str:
    """Safe inside a Markdown table cell."""
    return (text or "").strip().replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def code(text: str | None) -> str:
    """Inline code inside a table cell (one line)."""
    text = " ".join((text or "").split())
    if not text:
        return ""
    return f"`` {cell(text)} ``" if "`" in text else f"`{cell(text)}`"


def row(*cells: str) -> str:
    """One Markdown table row of already escaped cells."""
    return f"| {' | '.join(cells)} |"
