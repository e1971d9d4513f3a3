"""Decision tables (DMN 1.1 to 1.3) read into plain rows and written as Markdown tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from tools.bpmn_xml import local, parse
from tools.markdown import cell, code


@dataclass
class Decision:
    id: str
    name: str
    file: str
    hit_policy: str
    description: str = ""
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (label, expression)
    outputs: list[tuple[str, str]] = field(default_factory=list)  # (label, variable name)
    rules: list[tuple[list[str], list[str], str]] = field(default_factory=list)  # (inputs, outputs, note)


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str) and local(c) == name]


def _text(el: etree._Element | None) -> str:
    if el is None:
        return ""
    texts = _children(el, "text")
    return (texts[0].text if texts else el.text or "").strip()


def read_decisions(path: Path, rel: str) -> list[Decision]:
    """The decision tables of one DMN file, in document order (namespace-agnostic)."""
    root = parse(path.read_bytes())
    out = []
    for el in _children(root, "decision"):
        tables = _children(el, "decisionTable")
        if not tables:
            continue
        table = tables[0]
        aggregation = f" {table.get('aggregation')}" if table.get("aggregation") else ""
        decision = Decision(
            el.get("id"),
            el.get("name") or el.get("id"),
            rel,
            (table.get("hitPolicy") or "UNIQUE") + aggregation,
            _text(next(iter(_children(el, "description")), None)),
        )
        for i in _children(table, "input"):
            expression = next(iter(_children(i, "inputExpression")), None)
            decision.inputs.append((i.get("label") or "", _text(expression)))
        decision.outputs = [(o.get("label") or "", o.get("name") or "") for o in _children(table, "output")]
        for rule in _children(table, "rule"):
            note = _text(next(iter(_children(rule, "description")), None))
            note = note or "; ".join(_text(a) for a in _children(rule, "annotationEntry"))
            decision.rules.append(
                (
                    [_text(e) for e in _children(rule, "inputEntry")],
                    [_text(e) for e in _children(rule, "outputEntry")],
                    note,
                )
            )
        out.append(decision)
    return out


def render_decision(d: Decision) -> list[str]:
    """A heading with an anchor, the description, and the rules as a Markdown table."""
    out = [f'<a id="{d.id}"></a>', "", f"#### {cell(d.name)} (`{d.id}`)", ""]
    out += [f"File `{d.file}`, hit policy {d.hit_policy}.", ""]
    if d.description:
        out += [f"> {line}" if line.strip() else ">" for line in d.description.splitlines()] + [""]
    head = [f"{cell(label)}<br>{code(expr)}" for label, expr in d.inputs]
    head += [f"→ {cell(label)}<br>{code(name)}" for label, name in d.outputs]
    out += [f"| # | {' | '.join(head)} | Note |", "|---" * (len(head) + 2) + "|"]
    for n, (ins, outs, note) in enumerate(d.rules, start=1):
        values = [code(v) if v and v != "-" else "-" for v in ins] + [code(v) for v in outs]
        out.append(f"| {n} | {' | '.join(values)} | {cell(note)} |")
    return [*out, ""]
