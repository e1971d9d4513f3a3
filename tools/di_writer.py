"""Writing DI: the BPMNDiagram of laid-out pools as text, spliced into the original file's text so that
everything else stays byte for byte."""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from lxml import etree

from tools import diagram as dg
from tools.bpmn_xml import BPMNDI, DC, DI, MODEL, SUBPROCESSES, children, local


class LayoutError(Exception):
    """The file cannot be laid out without rewriting more than its DI."""


@dataclass
class Pool:
    participant: str | None
    name: str
    scope: dg.Scope | None  # None: a black-box participant (no process)


def ids(root: etree._Element) -> set[str]:
    diagrams = set(root.iter(f"{{{BPMNDI}}}BPMNDiagram"))
    ids = set()
    for el in root.iter():
        if el.get("id") and not any(d in diagrams for d in el.iterancestors()) and el not in diagrams:
            ids.add(el.get("id"))
    return ids


def fresh(wanted: str, taken: set[str]) -> str:
    candidate, n = wanted, 2
    while candidate in taken:
        candidate, n = f"{wanted}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _prefix(root: etree._Element, uri: str) -> str | None:
    """The root's prefix for a namespace ('' for the default namespace), or None if undeclared."""
    found = sorted((p or "") for p, u in root.nsmap.items() if u == uri)
    return found[0] if found else None


def _q(prefix: str, name: str) -> str:
    return f"{prefix}:{name}" if prefix else name


def _indent_unit(root: etree._Element) -> str:
    lead = (root.text or "").rsplit("\n", 1)
    return lead[1] if len(lead) == 2 and lead[1].strip() == "" and lead[1] else "  "


def collaboration_xml(root: etree._Element, collab_id: str, parts: list[tuple[str, etree._Element]]) -> str:
    m, unit = _prefix(root, MODEL) or "", _indent_unit(root)
    lines = [f"<{_q(m, 'collaboration')} id={quoteattr(collab_id)}>"]
    for part_id, process in parts:
        name = process.get("name", process.get("id"))
        lines.append(
            f"{unit * 2}<{_q(m, 'participant')} id={quoteattr(part_id)} name={quoteattr(name)} "
            f"processRef={quoteattr(process.get('id'))} />"
        )
    lines.append(f"{unit}</{_q(m, 'collaboration')}>")
    return "\n".join(lines)


def di_xml(
    root: etree._Element,
    plane_id: str,
    pools: list[Pool],
    shapes: dict[str, dg.Box],
    collaborations: list[etree._Element],
    taken: set[str],
) -> str:
    p_di, p_dc, p_dd = (
        _prefix(root, ns) or default for ns, default in ((BPMNDI, "bpmndi"), (DC, "dc"), (DI, "di"))
    )
    unit = _indent_unit(root)
    tags = {el.get("id"): local(el) for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    out: list[str] = []

    def bounds(box: dg.Box, depth: int, tag: str = "Bounds") -> str:
        return f'{unit * depth}<{p_dc}:{tag} x="{box.x}" y="{box.y}" width="{box.w}" height="{box.h}" />'

    def shape(element: str, box: dg.Box, label: dg.Box | None = None, extra: str = "") -> None:
        out.append(
            f"{unit * 3}<{p_di}:BPMNShape id={quoteattr(fresh(element + '_di', taken))} "
            f"bpmnElement={quoteattr(element)}{extra}>"
        )
        out.append(bounds(box, 4))
        if label is not None:
            out.append(f"{unit * 4}<{p_di}:BPMNLabel>")
            out.append(bounds(label, 5))
            out.append(f"{unit * 4}</{p_di}:BPMNLabel>")
        out.append(f"{unit * 3}</{p_di}:BPMNShape>")

    def edge(element: str, points: list[dg.Point], label: dg.Box | None = None) -> None:
        out.append(
            f"{unit * 3}<{p_di}:BPMNEdge id={quoteattr(fresh(element + '_di', taken))} "
            f"bpmnElement={quoteattr(element)}>"
        )
        out.extend(f'{unit * 4}<{p_dd}:waypoint x="{x}" y="{y}" />' for x, y in points)
        if label is not None:
            out.append(f"{unit * 4}<{p_di}:BPMNLabel>")
            out.append(bounds(label, 5))
            out.append(f"{unit * 4}</{p_di}:BPMNLabel>")
        out.append(f"{unit * 3}</{p_di}:BPMNEdge>")

    def scope_shapes(scope: dg.Scope) -> None:
        for node in scope.nodes:
            kind = tags.get(node.id, "")
            extra = ' isMarkerVisible="true"' if kind == "exclusiveGateway" else ""
            extra += ' isExpanded="true"' if kind in SUBPROCESSES else ""
            shape(node.id, node.box, node.label, extra)
            if node.inner is not None:
                scope_shapes(node.inner)
        for flow in scope.flows:
            if flow.points:
                edge(flow.id, flow.points, flow.label)

    for pool in pools:
        if pool.participant is not None:
            shape(pool.participant, shapes[pool.participant], extra=' isHorizontal="true"')
        if pool.scope is None:
            continue
        for lane in dg.all_lanes(pool.scope.lanes):
            shape(lane.id, lane.box, extra=' isHorizontal="true"')
        scope_shapes(pool.scope)
    boxes = dict(shapes)
    for pool in pools:
        boxes.update(_all_boxes(pool.scope) if pool.scope else {})
    for flow in children(collaborations[0], "messageFlow") if collaborations else []:
        src, tgt = boxes.get(flow.get("sourceRef")), boxes.get(flow.get("targetRef"))
        if src is not None and tgt is not None:
            edge(flow.get("id"), _message_points(src, tgt))

    plane_el = f"{unit * 2}<{p_di}:BPMNPlane id={quoteattr(fresh('BPMNPlane_' + plane_id, taken))} "
    head = [
        f"<{p_di}:BPMNDiagram id={quoteattr(fresh('BPMNDiagram_' + plane_id, taken))}>",
        f"{plane_el}bpmnElement={quoteattr(plane_id)}>",
    ]
    tail = [f"{unit * 2}</{p_di}:BPMNPlane>", f"{unit}</{p_di}:BPMNDiagram>"]
    return "\n".join(head + out + tail)


def _all_boxes(scope: dg.Scope) -> dict[str, dg.Box]:
    boxes = {node.id: node.box for node in scope.nodes}
    for node in scope.nodes:
        if node.inner is not None:
            boxes.update(_all_boxes(node.inner))
    return boxes


def _message_points(src: dg.Box, tgt: dg.Box) -> list[dg.Point]:
    if src.bottom <= tgt.y:
        mid = (src.bottom + tgt.y) // 2
        return [(src.cx, src.bottom), (src.cx, mid), (tgt.cx, mid), (tgt.cx, tgt.y)]
    mid = (tgt.bottom + src.y) // 2
    return [(src.cx, src.y), (src.cx, mid), (tgt.cx, mid), (tgt.cx, tgt.bottom)]


def splice(text: str, root: etree._Element, di: str, collaboration: str) -> str:
    """Replace the old BPMNDiagram elements by `di` (and insert `collaboration`) in the original text."""
    n_old = sum(1 for _ in root.iter(f"{{{BPMNDI}}}BPMNDiagram"))
    di_prefixes = sorted({p for p, u in root.nsmap.items() if u == BPMNDI and p})
    blocks: list[re.Match[str]] = []
    for p in di_prefixes:
        pattern = rf"[ \t]*<{p}:BPMNDiagram\b(?:[^>]*?/>|[\s\S]*?</{p}:BPMNDiagram\s*>)[ \t]*\r?\n?"
        blocks += re.finditer(pattern, text)
    if len(blocks) != n_old:
        raise LayoutError(f"found {len(blocks)} BPMNDiagram blocks in the text, the parser sees {n_old}")
    unit = _indent_unit(root)
    newline = "\r\n" if "\r\n" in text else "\n"
    block = unit + di.replace("\n", newline) + newline
    if blocks:
        blocks.sort(key=lambda m: m.start())
        pieces, pos = [], 0
        for i, match in enumerate(blocks):
            pieces += [text[pos : match.start()], block if i == 0 else ""]
            pos = match.end()
        text = "".join(pieces) + text[pos:]
    else:
        m = _prefix(root, MODEL) or ""
        end = text.rfind(f"</{_q(m, 'definitions')}")
        if end < 0:
            raise LayoutError("no closing definitions tag")
        line_start = text.rfind("\n", 0, end) + 1
        if text[line_start:end].strip():
            text = text[:end] + newline + block + text[end:]
        else:
            text = text[:line_start] + block + text[line_start:]
    missing = [(p, ns) for p, ns in (("bpmndi", BPMNDI), ("dc", DC), ("di", DI)) if _prefix(root, ns) is None]
    if missing or collaboration:
        text = _insert_in_root(text, root, missing, collaboration, newline)
    return text


def _insert_in_root(
    text: str, root: etree._Element, missing: list[tuple[str, str]], collaboration: str, newline: str
) -> str:
    start = re.search(r"<(?![?!])", text)
    assert start is not None
    pos, quote = start.end(), ""
    while pos < len(text) and (quote or text[pos] != ">"):
        if text[pos] in "\"'":
            quote = "" if quote == text[pos] else (quote or text[pos])
        pos += 1
    tag_end = pos - 1 if text[pos - 1] == "/" else pos
    decls = "".join(f' xmlns:{p}="{uri}"' for p, uri in missing)
    text = text[:tag_end] + decls + text[tag_end:]
    if collaboration:
        m = _prefix(root, MODEL) or ""
        first = re.search(rf"<{re.escape(_q(m, 'process'))}[\s>/]", text)
        if first is None:
            raise LayoutError("no process element in the text")
        text = (
            text[: first.start()]
            + collaboration.replace("\n", newline)
            + newline
            + _indent_unit(root)
            + text[first.start() :]
        )
    return text
