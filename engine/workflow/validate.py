"""Deploy-time validation of BPMN and DMN files: a list of problems (file, element id, message),
empty when the files may be deployed."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS

from engine import functions
from engine.roles import ROLE_NAMES, role_for_lane, split_list
from engine.workflow import sandbox
from engine.workflow.parser import YbjgParser, is_iso_literal, parse_xml
from engine.workflow.runtime import SourceFile

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DMN_NAMESPACES = (
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
)
MAX_FILE_BYTES = 2 * 1024 * 1024
_B = f"{{{BPMN_NS}}}"
_C = f"{{{CAMUNDA_MODEL_NS}}}"


@dataclass(frozen=True)
class Problem:
    file: str
    element: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.element or '-'}: {self.message}"


@dataclass
class FileInfo:
    """What a valid file defines."""

    name: str
    kind: str  # "bpmn" or "dmn"
    xml: str
    processes: dict[str, str] = field(default_factory=dict)  # executable process id -> name
    decisions: dict[str, str] = field(default_factory=dict)  # decision id -> name
    calls: dict[str, set[str]] = field(default_factory=dict)  # process id -> called process ids
    decision_refs: dict[str, set[str]] = field(default_factory=dict)  # process id -> decision ids


def read_file(name: str, data: bytes | str) -> tuple[FileInfo | None, list[Problem]]:
    """Parse one file safely and say what it defines; XML and XSD errors become problems."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_FILE_BYTES:
        return None, [Problem(name, "", f"文件过大（{len(raw)} 字节，上限 {MAX_FILE_BYTES}）")]
    try:
        root = parse_xml(raw)
    except ValueError as exc:
        return None, [Problem(name, "", str(exc))]
    except etree.XMLSyntaxError as exc:
        return None, [Problem(name, "", f"XML 格式错误（第 {exc.lineno} 行）：{exc.msg}")]
    namespace = etree.QName(root).namespace
    text = raw.decode("utf-8", errors="replace")
    if namespace == BPMN_NS:
        return _read_bpmn(name, root, text)
    if namespace in DMN_NAMESPACES:
        info = FileInfo(name, "dmn", text)
        for decision in root.iter(f"{{{namespace}}}decision"):
            info.decisions[decision.get("id") or ""] = decision.get("name") or ""
        return info, []
    return None, [Problem(name, "", f"不是 BPMN 2.0 或 DMN 文件（根元素命名空间 {namespace}）")]


def _read_bpmn(name: str, root: etree._Element, text: str) -> tuple[FileInfo | None, list[Problem]]:
    try:
        BpmnValidator().validate(root, name)
    except ValidationException as exc:
        return None, [Problem(name, "", f"不符合 BPMN 2.0 XSD：{_exception_text(exc)}")]
    info = FileInfo(name, "bpmn", text)
    for process in root.iter(f"{_B}process"):
        pid = process.get("id") or ""
        if process.get("isExecutable", "false") != "true":
            continue
        info.processes[pid] = process.get("name") or pid
        info.calls[pid] = {c.get("calledElement") or "" for c in process.iter(f"{_B}callActivity")}
        info.decision_refs[pid] = {
            b.get(f"{_C}decisionRef") or "" for b in process.iter(f"{_B}businessRuleTask")
        }
    return info, []


def validate(new: Sequence[FileInfo], deployed: Iterable[FileInfo]) -> list[Problem]:
    """Problems of `new` files, resolved against the deployed ones (same file names are replaced)."""
    new_names = {f.name for f in new}
    universe = [*new, *(f for f in deployed if f.name not in new_names)]
    problems = _duplicates(universe)
    parser = YbjgParser()
    for f in universe:
        try:
            node = parse_xml(f.xml)
            if f.kind == "dmn":
                parser.add_dmn_xml(node, filename=f.name)
            else:
                parser.add_bpmn_xml(node, filename=f.name)
        except ValidationException as exc:
            problems.append(Problem(f.name, getattr(exc, "id", "") or "", str(exc)))
    if problems:
        return problems
    all_processes = {p for f in universe for p in f.processes}
    all_decisions = {d for f in universe for d in f.decisions}
    for f in new:
        if f.kind == "dmn":
            problems += _lint_dmn(f)
            continue
        for pid in f.processes:
            problems += _check_references(f, pid, all_processes, all_decisions)
            try:
                parser.get_spec(pid)
            except ValidationException as exc:
                problems.append(Problem(f.name, getattr(exc, "id", "") or pid, _exception_text(exc)))
        problems += _lint_bpmn(f)
    return problems


def _duplicates(universe: Sequence[FileInfo]) -> list[Problem]:
    seen: dict[str, str] = {}
    problems = []
    for f in universe:
        for key in [*f.processes, *f.decisions]:
            if key in seen and seen[key] != f.name:
                problems.append(Problem(f.name, key, f"标识「{key}」已在文件 {seen[key]} 中定义"))
            seen[key] = f.name
    return problems


def _check_references(f: FileInfo, pid: str, processes: set[str], decisions: set[str]) -> list[Problem]:
    problems = [
        Problem(f.name, pid, f"调用的子流程「{called}」不存在（未部署也不在本次上传中）")
        for called in sorted(f.calls.get(pid, set()))
        if called not in processes
    ]
    problems += [
        Problem(f.name, pid, f"引用的决策表「{ref}」不存在（未部署也不在本次上传中）")
        for ref in sorted(f.decision_refs.get(pid, set()))
        if ref not in decisions
    ]
    return problems


def _exception_text(exc: ValidationException) -> str:
    text = str(exc).split("\n")[0]
    line = getattr(exc, "line_number", None)
    return f"{text}（第 {line} 行）" if line else text


def _lint_bpmn(f: FileInfo) -> list[Problem]:
    root = parse_xml(f.xml)
    fields = frozenset(n.get("id") or "" for n in root.iter(f"{_C}formField"))
    token = _field_names.set(fields)
    try:
        return _lint_processes(f, root)
    finally:
        _field_names.reset(token)


def _lint_processes(f: FileInfo, root: etree._Element) -> list[Problem]:
    problems: list[Problem] = []
    for process in root.iter(f"{_B}process"):
        if process.get("id") not in f.processes:
            continue
        lanes = {
            ref.text.strip(): lane.get("name") or lane.get("id") or ""
            for lane in process.iter(f"{_B}lane")
            for ref in lane.findall(f"{_B}flowNodeRef")
            if ref.text
        }
        for task in process.iter(f"{_B}userTask"):
            problems += _lint_user_task(f.name, task, _lane_of(task, lanes))
        for start in process.iter(f"{_B}startEvent"):
            problems += _check_form_fields(f.name, start)
        problems += _lint_expressions(f.name, process)
    return problems


def _lane_of(element: etree._Element, lanes: dict[str, str]) -> str | None:
    """The lane an element is drawn in, else the lane of its nearest enclosing subprocess (as the
    parser resolves it)."""
    node: etree._Element | None = element
    while node is not None and node.tag != f"{_B}process":
        if (node.get("id") or "") in lanes:
            return lanes[node.get("id") or ""]
        node = node.getparent()
    return None


def _lint_user_task(file: str, task: etree._Element, lane: str | None) -> list[Problem]:
    tid = task.get("id") or ""
    problems = []
    groups = split_list(task.get(f"{_C}candidateGroups"))
    unknown = [g for g in groups if g not in ROLE_NAMES]
    if unknown:
        problems.append(Problem(file, tid, f"候选组「{'、'.join(unknown)}」不是已知角色代码"))
    if not groups:
        if lane is None:
            problems.append(Problem(file, tid, "用户任务没有办理角色：请放入角色泳道或设置 candidateGroups"))
        elif role_for_lane(lane) is None:
            problems.append(Problem(file, tid, f"泳道「{lane}」不是已知角色"))
    has_fields = task.find(f"./{_B}extensionElements/{_C}formData/{_C}formField") is not None
    if not has_fields and not task.get(f"{_C}formKey"):
        problems.append(
            Problem(file, tid, "用户任务没有表单：请用 camunda:formData 定义字段，或设置 formKey")
        )
    for attr in ("dueDate", "followUpDate"):
        value = task.get(f"{_C}{attr}")
        if value:
            problems += _check_time_expression(file, tid, value, attr)
    priority = task.get(f"{_C}priority")
    if priority and not priority.strip().lstrip("-").isdigit():
        problems += [Problem(file, tid, f"priority: {m}") for m in _check(priority, "eval")]
    problems += _check_form_fields(file, task)
    return problems


FIELD_TYPES = {"string", "long", "boolean", "date", "enum"}
EXTRA_TYPES = {"money", "attachment", "textarea", "display"}


def _check_form_fields(file: str, node: etree._Element) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    for field_node in node.iterfind(f"./{_B}extensionElements/{_C}formData/{_C}formField"):
        fid = field_node.get("id") or ""
        where = f"{node.get('id')}.{fid}"
        if not fid.isidentifier() or fid.startswith("_"):
            problems.append(Problem(file, where, f"字段标识「{fid}」必须是字母开头的标识符"))
        if fid in seen:
            problems.append(Problem(file, where, f"字段「{fid}」重复"))
        seen.add(fid)
        ftype = field_node.get("type") or "string"
        if ftype not in FIELD_TYPES:
            problems.append(
                Problem(file, where, f"字段类型「{ftype}」不受支持（可用 {sorted(FIELD_TYPES)}）")
            )
        for prop in field_node.iterfind(f"./{_C}properties/{_C}property"):
            if prop.get("id") == "type" and prop.get("value") not in EXTRA_TYPES:
                problems.append(Problem(file, where, f"扩展类型「{prop.get('value')}」不受支持"))
    return problems


def _lint_expressions(file: str, process: etree._Element) -> list[Problem]:
    problems = []
    for flow in process.iter(f"{_B}sequenceFlow"):
        cond = flow.find(f"{_B}conditionExpression")
        if cond is not None and (cond.text or "").strip():
            problems += [Problem(file, flow.get("id") or "", m) for m in _check(cond.text or "", "eval")]
    for script_task in process.iter(f"{_B}scriptTask"):
        script = script_task.find(f"{_B}script")
        if script is not None and script.text:
            problems += [Problem(file, script_task.get("id") or "", m) for m in _check(script.text, "exec")]
    for tag in ("timeDate", "timeDuration", "timeCycle"):
        for node in process.iter(f"{_B}{tag}"):
            owner = node.getparent().getparent()
            problems += _check_time_expression(file, owner.get("id") or "", node.text or "", tag)
    for tag in ("loopCardinality", "completionCondition"):
        for node in process.iter(f"{_B}{tag}"):
            owner = node.getparent().getparent()
            problems += [Problem(file, owner.get("id") or "", m) for m in _check(node.text or "", "eval")]
    return problems


def _check_time_expression(file: str, element: str, text: str, what: str) -> list[Problem]:
    text = text.strip()
    if not text:
        return [Problem(file, element, f"{what} 为空")]
    if is_iso_literal(text):
        try:
            if text.upper().startswith("R"):
                TimerEventDefinition.parse_iso_recurring_interval(text)
            else:
                TimerEventDefinition.parse_time_or_duration(text)
        except Exception as exc:
            return [Problem(file, element, f"{what}「{text}」不是有效的 ISO 8601 时间：{exc}")]
        return []
    if _LOOKS_ISO.match(text):
        return [
            Problem(
                file,
                element,
                f"{what}「{text}」不是有效的 ISO 8601 时间（如 P5D、PT24H、2026-12-01T09:00:00+08:00）",
            )
        ]
    problems = [Problem(file, element, f"{what}: {m}") for m in _check(text, "eval")]
    if problems:
        return problems
    return [Problem(file, element, f"{what}: {m}") for m in _probe_timer(text)]


_LOOKS_ISO = re.compile(r"^(P[\dT]|R\d*/|\d{4}-\d)")


def _probe_timer(expression: str) -> list[str]:
    """Evaluate a timer expression whose inputs are all constants: it must give an ISO string."""
    tree = ast.parse(expression, mode="eval")
    if any(isinstance(n, ast.Name | ast.Call) for n in ast.walk(tree)):
        return []  # depends on task data or clocks: checked when it runs
    try:
        value = sandbox.SandboxEnvironment().evaluate(expression, {})
    except Exception as exc:
        return [f"定时器表达式无法求值：{exc}"]
    if not isinstance(value, str):
        return [f"定时器表达式必须得到 ISO 8601 字符串，而不是 {type(value).__name__}"]
    try:
        if value.upper().startswith("R"):
            TimerEventDefinition.parse_iso_recurring_interval(value)
        else:
            parsed = TimerEventDefinition.parse_time_or_duration(value)
            if isinstance(parsed, datetime) and parsed.tzinfo is None:
                parsed.replace(tzinfo=UTC)
    except Exception:
        return [f"「{value}」不是有效的 ISO 8601 时间"]
    return []


def _lint_dmn(f: FileInfo) -> list[Problem]:
    root = parse_xml(f.xml)
    ns = etree.QName(root).namespace
    problems = []
    for decision in root.iter(f"{{{ns}}}decision"):
        did = decision.get("id") or ""
        for node in decision.iter(f"{{{ns}}}inputExpression"):
            text = node.findtext(f"{{{ns}}}text") or ""
            problems += [Problem(f.name, did, f"输入表达式: {m}") for m in _check(text, "eval")]
        for rule in decision.iter(f"{{{ns}}}rule"):
            rid = rule.get("id") or did
            for entry in rule.iter(f"{{{ns}}}inputEntry"):
                problems += [
                    Problem(f.name, rid, m) for m in _check_unary(entry.findtext(f"{{{ns}}}text") or "")
                ]
            for entry in rule.iter(f"{{{ns}}}outputEntry"):
                text = (entry.findtext(f"{{{ns}}}text") or "").strip()
                if text:
                    problems += [Problem(f.name, rid, f"输出: {m}") for m in _check(text, "eval")]
    return problems


def _check_unary(text: str) -> list[str]:
    """A DMN input entry is an expression (compared with ==) or an operator and operand (`>= 5`)."""
    text = text.strip()
    if not text or text == "-":
        return []
    for part in text.split(","):
        part = part.strip().replace("?", "dmninputexpr")
        candidate = part
        try:
            ast.parse(candidate, mode="eval")
        except SyntaxError:
            candidate = f"dmninputexpr {part}"
        problems = _check(candidate, "eval")
        if problems:
            return problems
    return []


_field_names: ContextVar[frozenset[str]] = ContextVar("field_names", default=frozenset())


def _check(source: str, mode: str) -> list[str]:
    # Task data may be named like a forbidden builtin (a form field `type`): allowed as data.
    problems = list(sandbox.check_source(source, mode, allowed_names=_field_names.get()))  # type: ignore[arg-type]
    if problems:
        return problems
    tree = ast.parse(source, mode=mode)
    defined = {
        n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.Lambda) and hasattr(n, "name")
    }
    known = functions.NAMES | set(sandbox.SANDBOX_BUILTINS) | defined
    unknown = sorted(
        {
            n.func.id
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id not in known
        }
    )
    return [f"未知函数「{name}」（可用函数见 engine/functions.py）" for name in unknown]


def files_from_sources(sources: Iterable[SourceFile]) -> list[FileInfo]:
    """FileInfo of files already stored (trusted to parse: they were validated at deploy)."""
    out = []
    for s in sources:
        info, _ = read_file(s.name, s.xml)
        if info is not None:
            out.append(info)
    return out
