"""The process catalogue: docs/processes.md and docs/processes/*.png, generated from bpmn/.

    python -m tools.catalogue [--no-png]     # or: make docs

Per process: its diagram (rendered by bpmn-js), roles, steps in reading order (user tasks with their role,
due date and form; scripts; timers; messages; call activities), branches, the legal clocks it uses and
its decision tables. The Markdown is deterministic; tests/tools/test_catalogue.py fails when it is stale.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from lxml import etree

from engine.roles import role_for_lane, role_name, split_list
from tools import bpmnjs
from tools.bpmn_layout import layout_bytes
from tools.bpmn_xml import FLOW_NODES, MODEL, local, missing_di, parse
from tools.dmn_tables import Decision, read_decisions, render_decision
from tools.markdown import cell, code, row
from tools.process_steps import CAMUNDA, Process, Step, camunda, extensions, read_processes

ROOT = Path(__file__).resolve().parent.parent
CLOCK_CALL = re.compile(
    r"\b(start_clock|clock_due|extend_clock|suspend_clock|resume_clock|stop_clock)\(\s*(['\"])(.*?)\2"
)
CLOCK_ORDER = ("start_clock", "clock_due", "extend_clock", "suspend_clock", "resume_clock", "stop_clock")
KINDS = {
    "startEvent": "start event", "endEvent": "end event", "intermediateCatchEvent": "catch event",
    "intermediateThrowEvent": "throw event", "boundaryEvent": "boundary event", "userTask": "user task",
    "scriptTask": "script task", "serviceTask": "service task", "businessRuleTask": "business rule task",
    "callActivity": "call activity", "subProcess": "subprocess", "transaction": "transaction",
    "adHocSubProcess": "ad-hoc subprocess", "sendTask": "send task", "receiveTask": "receive task",
    "manualTask": "manual task", "task": "task",
}  # fmt: skip
TIMER_FIELDS = ("timeDate", "timeDuration", "timeCycle")


# ---- writing ----


def build(bpmn_dir: Path, image_dir: str = "processes") -> str:
    """The whole catalogue as Markdown."""
    processes = [
        p for path in sorted(bpmn_dir.glob("*.bpmn")) for p in read_processes(path, f"bpmn/{path.name}")
    ]
    decisions = [
        d for path in sorted(bpmn_dir.glob("*.dmn")) for d in read_decisions(path, f"bpmn/{path.name}")
    ]
    known = {p.key: p for p in processes}
    by_decision = {d.id: d for d in decisions}
    out = [
        "# Process catalogue",
        "",
        "Generated from `bpmn/` by `python -m tools.catalogue` (`make docs`); do not edit by hand.",
        "`tests/tools/test_catalogue.py` fails when this page is stale.",
        "",
    ]
    out += [f"- [{cell(p.name)}](#{p.key}) `{p.key}` ({p.file})" for p in processes]
    out += [f"- Decision table [{cell(d.name)}](#{d.id}) `{d.id}` ({d.file})" for d in decisions]
    used: set[str] = set()
    for process in processes:
        out += _process(process, known, by_decision, used, image_dir)
    unused = [d for d in decisions if d.id not in used]
    if unused:
        out += ["", "## Decision tables no process calls", ""]
        for decision in unused:
            out += render_decision(decision)
    return "\n".join(out).rstrip() + "\n"


def _process(
    p: Process, known: dict[str, Process], decisions: dict[str, Decision], used: set[str], image_dir: str
) -> list[str]:
    stem = Path(p.file).stem
    out = ["", f'<a id="{p.key}"></a>', "", f"## {p.name} (`{p.key}`)", ""]
    out += [f"File `{p.file}`{'' if p.el.get('isExecutable') == 'true' else ' (not executable)'}.", ""]
    doc = p.el.find(f"{{{MODEL}}}documentation")
    if doc is not None and (doc.text or "").strip():
        out += [f"> {line}" if line else ">" for line in doc.text.strip().splitlines()] + [""]
    out += [f"![{p.name}]({image_dir}/{stem}.png)", ""]
    out += _roles(p)
    out += _steps_table(p, known, decisions)
    out += _forms(p)
    out += _scripts(p)
    out += _branches(p)
    out += _clocks(p)
    called = [
        s.el.get(f"{{{CAMUNDA[0]}}}decisionRef") or "" for s in p.steps if local(s.el) == "businessRuleTask"
    ]
    tables = [decisions[d] for d in dict.fromkeys(called) if d in decisions]
    if tables:
        out += ["### Decision tables", ""]
        for decision in tables:
            if decision.id in used:
                out += [f"See [{cell(decision.name)}](#{decision.id}) above.", ""]
            else:
                out += render_decision(decision)
                used.add(decision.id)
    return out


def _roles(p: Process) -> list[str]:
    rows: dict[str, list[str]] = {}
    for step in p.steps:
        if local(step.el) == "userTask":
            for role in _roles_of(step):
                rows.setdefault(role, []).append(step.number)
    if not rows:
        return []
    out = ["### Roles", "", "| Role | Code | User tasks |", "|---|---|---|"]
    for role, numbers in rows.items():
        out.append(
            f"| {cell(_role_label(role))} | {code(role_for_lane(role) or '')} | {', '.join(numbers)} |"
        )
    return [*out, ""]


def _role_label(role: str) -> str:
    """A lane name or a candidate group, as a Chinese role name where it is known."""
    known = role_for_lane(role)
    return role_name(known) if known else role


def _roles_of(step: Step) -> list[str]:
    """Candidate groups override the lane (DESIGN.md); the same role named both ways counts once."""
    groups = split_list(camunda(step.el, "candidateGroups"))
    return list(dict.fromkeys(role_for_lane(r) or r for r in groups or ([step.lane] if step.lane else [])))


def _steps_table(p: Process, known: dict[str, Process], decisions: dict[str, Decision]) -> list[str]:
    out = ["### Steps", "", "| # | Step | Type | Role | Due / timer | Notes |", "|---|---|---|---|---|---|"]
    for step in p.steps:
        el = step.el
        roles = _roles_of(step) if local(el) == "userTask" else ([step.lane] if step.lane else [])
        role = ", ".join(cell(_role_label(r)) for r in roles)
        if camunda(el, "assignee"):
            role += f" (assignee {code(camunda(el, 'assignee'))})"
        due = code(camunda(el, "dueDate")) if camunda(el, "dueDate") else _timer(el)
        out.append(row(step.number, step.title, _kind(el), role, due, _notes(step, p, known, decisions)))
    return [*out, ""]


def _kind(el: etree._Element) -> str:
    kind = KINDS.get(local(el), local(el))
    definitions = [
        local(d).removesuffix("EventDefinition") for d in el if local(d).endswith("EventDefinition")
    ]
    if definitions:
        kind = f"{' '.join(definitions)} {kind}"
    if local(el) == "boundaryEvent" and el.get("cancelActivity") == "false":
        kind += " (non-interrupting)"
    if local(el) == "startEvent" and el.get("isInterrupting") == "false":
        kind += " (non-interrupting)"
    if el.get("triggeredByEvent") == "true":
        kind = "event subprocess"
    if el.find(f"{{{MODEL}}}multiInstanceLoopCharacteristics") is not None:
        loop = el.find(f"{{{MODEL}}}multiInstanceLoopCharacteristics")
        kind += " (sequential, each" if loop.get("isSequential") == "true" else " (parallel, each"
        kind += f" {code(camunda(loop, 'elementVariable'))} in {code(camunda(loop, 'collection'))})"
    return kind


def _timer(el: etree._Element) -> str:
    parts = []
    for timer in el.findall(f"{{{MODEL}}}timerEventDefinition"):
        for child in timer:
            if local(child) in TIMER_FIELDS:
                parts.append(f"{local(child)} {code(child.text)}")
    return "<br>".join(parts)


def _notes(step: Step, p: Process, known: dict[str, Process], decisions: dict[str, Decision]) -> str:
    el, notes = step.el, []
    if local(el) == "boundaryEvent":
        host = next((s for s in p.steps if s.el.get("id") == el.get("attachedToRef")), None)
        notes.append(f"on {host.number if host else code(el.get('attachedToRef'))}")
    for definition in (d for d in el if local(d).endswith("EventDefinition")):
        ref = definition.get("messageRef") or definition.get("signalRef") or definition.get("errorRef")
        if ref:
            notes.append(
                f"{local(definition).removesuffix('EventDefinition')} {code(p.messages.get(ref, ref))}"
            )
    if el.get("messageRef"):
        notes.append(f"message {code(p.messages.get(el.get('messageRef'), el.get('messageRef')))}")
    fields = extensions(el, "formField")
    if fields:
        notes.append(f"form: {len(fields)} field{'' if len(fields) == 1 else 's'}")
    if camunda(el, "formKey"):
        notes.append(f"form {code(camunda(el, 'formKey'))}")
    if camunda(el, "priority"):
        notes.append(f"priority {cell(camunda(el, 'priority'))}")
    if camunda(el, "followUpDate"):
        notes.append(f"follow up {code(camunda(el, 'followUpDate'))}")
    for prop in extensions(el, "property"):
        if (
            prop.getparent() is not None
            and local(prop.getparent().getparent()) != "formField"
            and prop.get("name")
        ):
            notes.append(f"{cell(prop.get('name'))}: {cell(prop.get('value'))}")
    if local(el) == "scriptTask":
        notes.append("script below")
    if local(el) == "businessRuleTask":
        ref = camunda(el, "decisionRef") or ""
        target = f"[{cell(decisions[ref].name)}](#{ref})" if ref in decisions else code(ref)
        notes.append(
            f"decision {target}"
            + (f" → {code(camunda(el, 'resultVariable'))}" if camunda(el, "resultVariable") else "")
        )
    if local(el) == "callActivity":
        ref = el.get("calledElement") or ""
        notes.append(f"calls [{cell(known[ref].name)}](#{ref})" if ref in known else f"calls {code(ref)}")
    return "; ".join(notes)


def _forms(p: Process) -> list[str]:
    out = []
    for step in p.steps:
        fields = extensions(step.el, "formField")
        if not fields:
            continue
        out += [f"#### {step.number}. {step.title}", ""]
        doc = step.el.find(f"{{{MODEL}}}documentation")
        if doc is not None and (doc.text or "").strip():
            out += [f"> {cell(doc.text)}", ""]
        out += ["| Field | Label | Type | Required | Details |", "|---|---|---|---|---|"]
        for f in fields:
            constraints = {c.get("name"): c.get("config") for c in f.iter() if local(c) == "constraint"}
            details = [f"{name}={cell(value)}" for name, value in constraints.items() if name != "required"]
            details += [f"{cell(v.get('id'))}={cell(v.get('name'))}" for v in f.iter() if local(v) == "value"]
            details += [
                f"{cell(pr.get('id') or pr.get('name'))}={cell(pr.get('value'))}"
                for pr in f.iter()
                if local(pr) == "property"
            ]
            if f.get("defaultValue"):
                details.append(f"default {code(f.get('defaultValue'))}")
            required = "yes" if "required" in constraints else ""
            out.append(
                row(
                    f"`{f.get('id')}`",
                    cell(f.get("label")),
                    cell(f.get("type")),
                    required,
                    ", ".join(details),
                )
            )
        out.append("")
    return ["### Forms", "", *out] if out else []


def _scripts(p: Process) -> list[str]:
    out = []
    for step in p.steps:
        script = step.el.find(f"{{{MODEL}}}script")
        if local(step.el) == "scriptTask" and script is not None:
            out += [
                f"#### {step.number}. {step.title}",
                "",
                "```python",
                (script.text or "").strip(),
                "```",
                "",
            ]
    return ["### Scripts", "", *out] if out else []


def _branches(p: Process) -> list[str]:
    names = {
        n.get("id"): n.get("name") or n.get("id")
        for n in p.el.iter()
        if isinstance(n.tag, str) and local(n) in FLOW_NODES
    }
    rows = []
    for flow in p.el.iter(f"{{{MODEL}}}sequenceFlow"):
        source = flow.getparent().find(f"*[@id='{flow.get('sourceRef')}']")
        condition = flow.find(f"{{{MODEL}}}conditionExpression")
        is_default = source is not None and source.get("default") == flow.get("id")
        if condition is None and not is_default:
            continue
        when = "otherwise (default)" if is_default else code(condition.text)
        label = f" “{cell(flow.get('name'))}”" if flow.get("name") else ""
        rows.append(
            row(cell(names.get(flow.get("sourceRef"))), cell(names.get(flow.get("targetRef"))) + label, when)
        )
    if not rows:
        return []
    return ["### Branches", "", "| From | To | When |", "|---|---|---|", *rows, ""]


def _clocks(p: Process) -> list[str]:
    """Calls of the legal-clock functions in scripts, conditions, timers and due dates."""
    where: dict[tuple[str, str], list[str]] = {}
    numbers = {s.el.get("id"): s.number for s in p.steps}
    for el in p.el.iter():
        if not isinstance(el.tag, str):
            continue
        texts = [camunda(el, "dueDate"), camunda(el, "followUpDate")]
        if local(el) in ("script", "conditionExpression", *TIMER_FIELDS):
            texts.append(el.text)
        for text in filter(None, texts):
            for function, _, clock in CLOCK_CALL.findall(text):
                owner = next(
                    (
                        a
                        for a in [el, *el.iterancestors()]
                        if a.get("id") in numbers or local(a) == "sequenceFlow"
                    ),
                    None,
                )
                if owner is not None and local(owner) == "sequenceFlow":
                    place = f"flow {code(owner.get('id'))}"
                else:
                    place = numbers.get(owner.get("id"), "") if owner is not None else ""
                spots = where.setdefault((clock, function), [])
                if place not in spots:
                    spots.append(place)
    if not where:
        return []
    out = ["### Legal clocks", "", "| Clock | Function | Steps |", "|---|---|---|"]
    for clock, function in sorted(where, key=lambda k: (k[0], CLOCK_ORDER.index(k[1]))):
        out.append(f"| {cell(clock)} | `{function}` | {', '.join(where[clock, function])} |")
    return [*out, ""]


def write(docs: Path, bpmn_dir: Path, png: bool = True) -> list[Path]:
    """Write docs/processes.md (and the PNGs); returns the files written."""
    docs.mkdir(parents=True, exist_ok=True)
    page = docs / "processes.md"
    page.write_text(build(bpmn_dir), encoding="utf-8")
    written = [page]
    if png:
        images = docs / "processes"
        sources = sorted(bpmn_dir.glob("*.bpmn"))
        for stale in images.glob("*.png") if images.is_dir() else []:
            if stale.stem not in {s.stem for s in sources}:
                stale.unlink()
        with tempfile.TemporaryDirectory() as tmp:
            drawable = [_drawable(source, Path(tmp)) for source in sources]
            written += bpmnjs.render_pngs(drawable, images).values()
    return written


def _drawable(source: Path, tmp: Path) -> Path:
    """The file itself, or a laid-out copy when its diagram misses elements (a process owner's draft)."""
    data = source.read_bytes()
    if not missing_di(parse(data)):
        return source
    print(f"{source.name}: incomplete diagram, rendering a laid-out copy", file=sys.stderr)
    copy = tmp / source.name
    copy.write_bytes(layout_bytes(data))
    return copy


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.catalogue", description=__doc__.split("\n")[0])
    ap.add_argument("--no-png", action="store_true", help="only the Markdown (no browser needed)")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs")
    ap.add_argument("--bpmn", type=Path, default=ROOT / "bpmn")
    args = ap.parse_args(argv)
    png = not args.no_png
    if png and bpmnjs.missing_prerequisites():
        print(
            f"not rendering diagrams, missing: {'; '.join(bpmnjs.missing_prerequisites())}", file=sys.stderr
        )
        png = False
    for path in write(args.docs, args.bpmn, png):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
