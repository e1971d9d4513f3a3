"""The expression sandbox: what uploaded BPMN/DMN may and may not do, alone and inside a real workflow."""

from __future__ import annotations

import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.util.task import TaskState

from engine.errors import SandboxError
from engine.workflow.sandbox import (
    SandboxCompileError,
    SandboxEnvironment,
    SandboxForbiddenError,
    SandboxLimitError,
    SandboxTimeoutError,
    check_source,
    make_script_engine,
)

TIME_LIMIT = 0.3


@pytest.fixture
def env() -> SandboxEnvironment:
    return SandboxEnvironment(helpers={"double": lambda x: x * 2}, time_limit=TIME_LIMIT)


def timed(action: Callable[[], Any]) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        action()
    except Exception as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "error", "fragment"),
    [
        ("__import__('os').system('id')", SandboxCompileError, "__import__"),
        ("open('/etc/passwd')", SandboxForbiddenError, "open"),
        ("eval('1')", SandboxCompileError, "Eval"),
        ("exec('x=1')", SandboxCompileError, "Exec"),
        ("getattr(x, 'y')", SandboxForbiddenError, "getattr"),
        ("().__class__.__bases__", SandboxCompileError, "__class__"),
        ("x.__dict__", SandboxCompileError, "__dict__"),
        ("'{0.__class__}'.format(1)", SandboxForbiddenError, "format"),
        ("'{x}'.format_map({'x': 1})", SandboxForbiddenError, "format_map"),
        ("type(1)", SandboxForbiddenError, "type"),
        ("globals()", SandboxForbiddenError, "globals"),
        ("setattr(x, 'a', 1)", SandboxForbiddenError, "setattr"),
        ("(lambda: 1).__code__", SandboxCompileError, "__code__"),
        ("[g.gi_frame for g in [x]]", SandboxCompileError, "gi_frame"),
        ("x ?= 1", SandboxCompileError, "SyntaxError"),
    ],
)
def test_expression_refused(
    env: SandboxEnvironment, expression: str, error: type[SandboxError], fragment: str
) -> None:
    with pytest.raises(error) as caught:
        env.evaluate(expression, {"x": {}})
    assert fragment in str(caught.value)
    assert isinstance(caught.value, SandboxError) and caught.value.detail


def test_forbidden_builtin_says_forbidden_in_both_languages(env: SandboxEnvironment) -> None:
    with pytest.raises(SandboxForbiddenError) as caught:
        env.evaluate("open('/etc/passwd').read()", {})
    assert "不允许使用 open" in caught.value.detail and "'open' is forbidden" in caught.value.detail


def test_unknown_name_and_runtime_errors_propagate_as_they_are(env: SandboxEnvironment) -> None:
    with pytest.raises(NameError):
        env.evaluate("no_such_field > 1", {})
    with pytest.raises(ZeroDivisionError):
        env.evaluate("1 / zero", {"zero": 0})
    with pytest.raises(TypeError):
        env.evaluate("'a' + 1", {})


def test_task_data_may_use_a_forbidden_builtin_name(env: SandboxEnvironment) -> None:
    assert env.evaluate("type == '投诉'", {"type": "投诉"}) is True


@pytest.mark.parametrize(
    "script",
    [
        "import os",
        "from os import system",
        "try:\n    x = 1\nexcept Exception:\n    pass",
        "with x:\n    pass",
        "class A:\n    pass",
        "nonlocal x",
        "_hidden = 1",
    ],
)
def test_script_refused_at_compile_time(env: SandboxEnvironment, script: str) -> None:
    with pytest.raises(SandboxCompileError):
        env.execute(script, {})


def test_raising_base_exceptions_is_impossible(env: SandboxEnvironment) -> None:
    for name in ("SystemExit", "KeyboardInterrupt", "BaseException", "GeneratorExit"):
        with pytest.raises(NameError):
            env.execute(f"raise {name}", {})


# --- time limit -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "script",
    [
        "while True: pass",  # Python 3.11 emits no line event for this loop
        "while True:\n    pass",
        "def spin():\n    while 1: ...\nspin()",
        "def gen():\n    while True:\n        yield 1\nitems = list(gen())",
        "f = lambda n: n and f(n - 1) + f(n - 1)\nx = f(60)",
    ],
)
def test_endless_script_stops_at_the_time_limit(env: SandboxEnvironment, script: str) -> None:
    error, elapsed = timed(lambda: env.execute(script, {}))
    assert isinstance(error, SandboxTimeoutError), error
    assert "执行超时" in error.detail and "timed out" in error.detail
    assert TIME_LIMIT <= elapsed < TIME_LIMIT + 1.0


def test_endless_expression_stops_at_the_time_limit(env: SandboxEnvironment) -> None:
    error, elapsed = timed(lambda: env.evaluate("[0 for a in range(10**6) for b in range(10**6)]", {}))
    assert isinstance(error, SandboxTimeoutError)
    assert "表达式执行超时" in error.detail
    assert elapsed < TIME_LIMIT + 1.0


def test_previous_trace_function_is_restored(env: SandboxEnvironment) -> None:
    def outer_tracer(frame: types.FrameType, event: str, arg: object) -> None:
        return None

    previous = sys.gettrace()
    sys.settrace(outer_tracer)
    try:
        env.evaluate("1 + 1", {})
        with pytest.raises(SandboxTimeoutError):
            env.execute("while True: pass", {})
        assert sys.gettrace() is outer_tracer
    finally:
        sys.settrace(previous)


# --- size guard -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "'a' * 10**10",
        "10**10 * [0]",
        "2 ** 10**10",
        "pow(2, 10**10)",
        "1 << 10**10",
        "list(range(10**10))",
        "range(10**7)",
        "'x'.ljust(10**10)",
        "'x'.zfill(10**10)",
        "','.join(['a' * 10**5] * 100)",
        "('a' * 10**5).replace('a', 'bbbbbbbbbbbbbbb')",
        "(1).to_bytes(10**10, 'big')",
        "f'{1:>{10**10}}'",
        "'%10000000000d' % 1",
        "str(['a' * 10**6] * 10**6)",
        "round(5, -10**8)",
        "sum([[1]] * 10**6, [])",
    ],
)
def test_huge_results_refused_quickly(env: SandboxEnvironment, expression: str) -> None:
    error, elapsed = timed(lambda: env.evaluate(expression, {}))
    assert isinstance(error, SandboxLimitError | SandboxForbiddenError), error
    assert not isinstance(error, SandboxTimeoutError)
    assert elapsed < 0.5


def test_doubling_in_a_loop_is_stopped(env: SandboxEnvironment) -> None:
    for script in (
        "s = 'ab'\nfor i in range(40):\n    s = s + s",
        "s = [1]\nfor i in range(40):\n    s += s",
        "s = [1]\nfor i in range(40):\n    s = [*s, *s]",
        "s = 'ab'\nfor i in range(40):\n    s = f'{s}{s}'",
    ):
        with pytest.raises(SandboxLimitError):
            env.execute(script, {})


# --- ordinary expressions ---------------------------------------------------------------------

DATA = {"amount": 150000, "severity": "重大", "items": [3, 1, 2], "case": {"unit": "区局", "n": 2}}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("amount >= 100000 and severity == '重大'", True),
        ("amount < 100000 or severity != '重大'", False),
        ("[i * 2 for i in items if i > 1]", [6, 4]),
        ("{k: v for k, v in case.items()}", {"unit": "区局", "n": 2}),
        ("sorted(items)", [1, 2, 3]),
        ("min(items) + max(items) + sum(items)", 10),
        ("case['unit']", "区局"),
        ("case.get('missing', '无')", "无"),
        ("'abc'.upper()", "ABC"),
        ("f'{amount:,.2f} 元，{severity!r}'", "150,000.00 元，'重大'"),
        ("'%s-%03d' % ('案', 7)", "案-007"),
        ("len(items) == 3 and all(i > 0 for i in items)", True),
        ("isinstance(severity, str) and isinstance(items, (list, tuple))", True),
        ("str(amount) + '元'", "150000元"),
        ("list(zip(items, reversed(items)))", [(3, 2), (1, 1), (2, 3)]),
        ("round(amount / 7, 2)", 21428.57),
        ("2 ** 10 + (1 << 4) + 10 % 3", 1041),
        ("list(range(3)) * 2", [0, 1, 2, 0, 1, 2]),
        ("double(amount)", 300000),
        ("'  重大 '.strip() in ['重大', '较大']", True),
    ],
)
def test_ordinary_expression(env: SandboxEnvironment, expression: str, expected: object) -> None:
    assert env.evaluate(expression, dict(DATA)) == expected


def test_surrounding_blanks_from_xml_are_ignored(env: SandboxEnvironment) -> None:
    assert env.evaluate("\n    amount > 1\n  ", {"amount": 2}) is True


# --- scripts and task data --------------------------------------------------------------------


def test_script_adds_result_to_task_data_in_place(env: SandboxEnvironment) -> None:
    data = {"a": 1, "b": 2}
    assert env.execute("total = a + b", data) is True
    assert data == {"a": 1, "b": 2, "total": 3}


def test_script_leaks_no_callables_helpers_or_external_names(env: SandboxEnvironment) -> None:
    data: dict[str, Any] = {"items": [1, 2, 3]}
    script = (
        "def triple(x):\n"
        "    return x * 3\n"
        "tripled = [triple(i) for i in items]\n"
        "f = lambda v: v\n"
        "lazy = map(triple, items)\n"
        "keys = {'a': 1}.keys()\n"
        "twice = double(2)\n"
        "seen = from_outside\n"
    )
    env.execute(script, data, external_context={"from_outside": "外部"})
    assert data == {"items": [1, 2, 3], "tripled": [3, 6, 9], "twice": 4, "seen": "外部"}


def test_script_mutations_and_deletions_reach_task_data(env: SandboxEnvironment) -> None:
    data: dict[str, Any] = {"items": [1], "gone": 1, "count": 1, "record": {}}
    env.execute(
        "items.append(2)\ndel gone\ncount += 1\nrecord['k'] = 'v'\nfor i in range(3):\n    count += i", data
    )
    assert data == {"items": [1, 2], "count": 5, "record": {"k": "v"}, "i": 2}


def test_failed_script_leaves_task_data_unchanged(env: SandboxEnvironment) -> None:
    data = {"a": 1}
    with pytest.raises(ZeroDivisionError):
        env.execute("b = 2\nc = a / 0", data)
    assert data == {"a": 1}


def test_task_data_cannot_replace_a_guard(env: SandboxEnvironment) -> None:
    assert env.evaluate("x.upper()", {"x": "a", "_getattr_": getattr, "__builtins__": __builtins__}) == "A"
    with pytest.raises(SandboxForbiddenError):
        env.evaluate("open('/etc/passwd')", {"__builtins__": __builtins__})


def test_name_precedence_builtins_helpers_external_task_data() -> None:
    env = SandboxEnvironment(helpers={"len": lambda x: "helper", "who": "helper"})
    assert env.evaluate("len([1])", {}) == "helper"
    assert env.evaluate("who", {}, external_context={"who": "external"}) == "external"
    assert env.evaluate("who", {"who": "task"}, external_context={"who": "external"}) == "task"


# --- helpers ----------------------------------------------------------------------------------


def test_helpers_are_callable_and_can_be_replaced(env: SandboxEnvironment) -> None:
    assert env.evaluate("double(21)", {}) == 42
    env.set_helpers({"add_workdays": lambda n: f"+{n}d"})
    assert env.evaluate("add_workdays(3)", {}) == "+3d"
    with pytest.raises(NameError):
        env.evaluate("double(1)", {})


def test_bound_helpers_are_per_thread(env: SandboxEnvironment) -> None:
    results: dict[str, object] = {}
    ready = threading.Barrier(2)

    def worker(name: str) -> None:
        with env.bound_helpers({"clock_due": lambda: name}):
            ready.wait()
            results[name] = env.evaluate("clock_due()", {})

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("甲", "乙")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"甲": "甲", "乙": "乙"}
    with pytest.raises(NameError):
        env.evaluate("clock_due()", {})


def test_modules_and_private_names_are_refused_as_helpers() -> None:
    with pytest.raises(ValueError):
        SandboxEnvironment(helpers={"os": sys})
    with pytest.raises(ValueError):
        SandboxEnvironment(helpers={"_secret": 1})


# --- deploy-time check ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "mode", "fragment"),
    [
        ("import os", "exec", "import os"),
        ("from subprocess import run", "exec", "import run"),
        ("__import__('os').system('id')", "eval", "__import__"),
        ("open('/etc/passwd')", "eval", "open"),
        ("eval('1')", "eval", "eval"),
        ("exec('x=1')", "eval", "exec"),
        ("compile('1', 'f', 'eval')", "eval", "compile"),
        ("getattr(x, 'y')", "eval", "getattr"),
        ("globals()", "eval", "globals"),
        ("type(1)", "eval", "type"),
        ("os.system('id')", "eval", "os"),
        ("().__class__.__bases__", "eval", ".__class__"),
        ("x.__dict__", "eval", ".__dict__"),
        ("x._private", "eval", "._private"),
        ("'{0.__class__}'.format(1)", "eval", ".format"),
        ("try:\n    pass\nexcept Exception:\n    pass", "exec", "try"),
        ("class A:\n    pass", "exec", "class A"),
        ("def f(_x):\n    return 1", "exec", "_x"),
        ("amount >", "eval", "语法错误"),
        ("x = 1", "eval", "语法错误"),
        ("nonlocal x", "exec", "Nonlocal"),
    ],
)
def test_check_source_finds_forbidden_constructs(source: str, mode: Any, fragment: str) -> None:
    problems = check_source(source, mode)
    assert problems, source
    assert any(fragment in p for p in problems), problems
    assert all(p.startswith(("第 ", "未通过沙箱检查")) for p in problems)


def test_check_source_reports_line_numbers() -> None:
    assert check_source("x = 1\nimport os", "exec") == ["第 2 行：不允许导入模块（import os）"]


@pytest.mark.parametrize(
    ("source", "mode"),
    [
        ("amount >= 100000 and severity == '重大'", "eval"),
        ("[i for i in items if i > 0]", "eval"),
        ("f'{amount:,.2f}'", "eval"),
        ("add_workdays(opened_on, 3)", "eval"),
        ("'P5D'", "eval"),
        ("total = a + b\nfor _ in range(3):\n    total += 1", "exec"),
        ("def helper(v):\n    return v * 2\nresult = helper(3)", "exec"),
    ],
)
def test_check_source_accepts_ordinary_code(source: str, mode: Any) -> None:
    assert check_source(source, mode) == []


def test_check_source_allows_task_data_named_like_a_builtin() -> None:
    assert check_source("type == '投诉'", "eval") != []
    assert check_source("type == '投诉'", "eval", allowed_names={"type"}) == []


# --- inside a real workflow -------------------------------------------------------------------

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="http://ybjg/test">
  <bpmn:process id="triage" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="sum" scriptFormat="python">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:businessRuleTask id="grade" camunda:decisionRef="grade_table">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:exclusiveGateway id="gw" default="f_small">
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f_big</bpmn:outgoing><bpmn:outgoing>f_small</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sum"/>
    <bpmn:sequenceFlow id="f2" sourceRef="sum" targetRef="grade"/>
    <bpmn:sequenceFlow id="f3" sourceRef="grade" targetRef="gw"/>
    <bpmn:sequenceFlow id="f_big" sourceRef="gw" targetRef="end_big">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_small" sourceRef="gw" targetRef="end_small"/>
    <bpmn:endEvent id="end_big"><bpmn:incoming>f_big</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_small"><bpmn:incoming>f_small</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>"""

DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="dmn" name="D"
    namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="grade_table" name="Grade">
    <decisionTable id="table" hitPolicy="UNIQUE">
      <input id="in1" label="Total">
        <inputExpression id="ie1" typeRef="integer"><text>total</text></inputExpression>
      </input>
      <output id="out1" name="level" typeRef="string"/>
      <rule id="r1">
        <inputEntry id="e1"><text>{cell}</text></inputEntry>
        <outputEntry id="o1"><text>"重大"</text></outputEntry>
      </rule>
      <rule id="r2">
        <inputEntry id="e2"><text>-</text></inputEntry>
        <outputEntry id="o2"><text>"一般"</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>"""


def run_workflow(
    condition: str, *, script: str = "total = a + b", cell: str = ">= threshold()", a: int = 60000
) -> BpmnWorkflow:
    parser = CamundaParser()
    parser.add_bpmn_str(BPMN.format(condition=escape(condition), script=escape(script)).encode())
    parser.add_dmn_str(DMN.format(cell=escape(cell)).encode())
    # `threshold` exists only in the sandbox's helpers: the DMN cell proves DMN goes through it.
    engine = make_script_engine(helpers={"threshold": lambda: 100000}, time_limit=TIME_LIMIT)
    workflow = BpmnWorkflow(parser.get_spec("triage"), script_engine=engine)
    workflow.get_tasks(state=TaskState.READY)[0].data.update({"a": a, "b": 90000})
    workflow.do_engine_steps()
    return workflow


def completed(workflow: BpmnWorkflow) -> list[str]:
    return [t.task_spec.name for t in workflow.get_tasks(state=TaskState.COMPLETED)]


def sandbox_cause(exc: BaseException) -> BaseException | None:
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, SandboxError):
        seen = seen.__cause__ or seen.__context__
    return seen


@pytest.mark.parametrize(("a", "end", "level"), [(60000, "end_big", "重大"), (1, "end_small", "一般")])
def test_script_dmn_and_gateway_run_in_the_sandbox(a: int, end: str, level: str) -> None:
    workflow = run_workflow("level == '重大' and total >= 100000", a=a)
    assert workflow.is_completed()
    assert end in completed(workflow)
    assert workflow.last_task is not None
    assert workflow.last_task.data == {"a": a, "b": 90000, "total": a + 90000, "level": level}


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"condition": "__import__('os').system('id')"}, SandboxCompileError),
        ({"condition": "open('/etc/passwd')"}, SandboxForbiddenError),
        ({"condition": "True", "script": "import os"}, SandboxCompileError),
        ({"condition": "True", "script": "while True: pass"}, SandboxTimeoutError),
        ({"condition": "True", "cell": "__import__('os')"}, SandboxCompileError),
    ],
)
def test_sandbox_refusal_inside_workflow(kwargs: dict[str, str], error: type[SandboxError]) -> None:
    condition = kwargs.pop("condition")
    with pytest.raises(WorkflowTaskException) as caught:
        run_workflow(condition, **kwargs)
    assert caught.value.error_type == error.__name__
    cause = sandbox_cause(caught.value)
    assert isinstance(cause, error)
    assert cause.detail


def test_script_error_with_a_non_text_argument_is_reported_by_spiff() -> None:
    with pytest.raises(WorkflowTaskException) as caught:
        run_workflow("True", script="x = {}[5]")
    assert caught.value.error_type == "KeyError"
