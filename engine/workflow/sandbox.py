"""The sandbox every BPMN/DMN expression and script runs in: uploaded process files must never
reach os, files, imports or dunder attributes, nor hang or exhaust the worker.

Layers, outermost first:
- compile time (RestrictedPython plus `_SandboxPolicy`): no imports, no `_names`, no try/with/class,
  and the size-prone operators (`+ * ** << %`, f-string fields, `*unpacking`) become guard calls;
- run time: a whitelist of builtins, guarded attribute access and a size guard on every operator
  and string method that can multiply memory in one C call;
- a time limit through `sys.settrace` (line and call events; every loop body calls `_tick_`).
"""

from __future__ import annotations

import ast
import functools
import logging
import math
import operator
import re
import reprlib
import sys
import threading
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, MappingView
from contextlib import contextmanager
from typing import Any, Literal, NoReturn, TypeVar

from RestrictedPython import compile_restricted_eval, compile_restricted_exec, safe_builtins
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr_raise,
)
from RestrictedPython.transformer import INSPECT_ATTRIBUTES, RestrictingNodeTransformer, copy_locations
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from engine.errors import SandboxError

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_SEQUENCE_LEN = 1_000_000  # elements of a str/bytes/list/tuple built by one operation
MAX_INT_BITS = 100_000  # about 30,000 decimal digits; money and counts need 64
MAX_FORMAT_WIDTH = 10_000  # width/precision in f-string and %-format specs
MAX_ROUND_DIGITS = 400  # round(5, -10**7) computes 10**(10**7) in C
MAX_MODPOW_BITS = 4_096
_CODE_CACHE_SIZE = 1024
_CHECK_EVERY = 256  # trace events between two reads of the clock
# Spiff looks for this file name in tracebacks to report the failing script line.
SANDBOX_FILENAME = "<string>"
_THIS_FILE = __file__

FORBIDDEN_NAMES = frozenset({
    "open", "eval", "exec", "compile", "__import__", "getattr", "setattr", "delattr", "hasattr",
    "globals", "locals", "vars", "dir", "type", "input", "breakpoint", "help", "exit", "quit",
    "memoryview", "object", "super", "classmethod", "staticmethod", "property", "os", "sys",
    "subprocess", "builtins",
})  # fmt: skip


class SandboxCompileError(SandboxError):
    """The source has a syntax error or uses a construct the sandbox refuses; `errors` lists why."""

    message = "流程表达式未通过安全检查"

    def __init__(self, detail: str, errors: Iterable[str] = ()) -> None:
        super().__init__(detail)
        self.errors = list(errors) or [detail]


class SandboxForbiddenError(SandboxError):
    """The code reached for a forbidden name or method at run time."""

    message = "流程表达式使用了被禁止的功能"


class SandboxLimitError(SandboxError):
    """The code would build a result too large for the worker."""

    message = "流程表达式的计算结果过大"


class SandboxTimeoutError(SandboxLimitError):
    """The code ran longer than the time limit."""

    message = "流程表达式执行超时"


# --- compile time -----------------------------------------------------------------------------

_BINOP_GUARDS: dict[type[ast.operator], str] = {
    ast.Add: "_add_",
    ast.Mult: "_mul_",
    ast.Pow: "_pow_",
    ast.LShift: "_lshift_",
    ast.Mod: "_mod_",
}


def _guard_call(name: str, args: list[ast.expr], where: ast.expr) -> ast.Call:
    call = ast.Call(func=ast.Name(name, ast.Load()), args=args, keywords=[])
    copy_locations(call, where)
    return call


class _SandboxPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus: no imports, try, with or class; size-prone operators,
    f-string fields and `*unpacking` go through guard functions."""

    def visit_Import(self, node: ast.Import) -> None:
        self.error(node, "不允许 import 语句 / import statements are not allowed")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.error(node, "不允许 import 语句 / import statements are not allowed")

    # try/with could swallow the time-limit exception, and sys.settrace drops the trace
    # function once it has raised: an endless loop after the `except` would run forever.
    def visit_Try(self, node: ast.Try) -> None:
        self.error(node, "不允许 try/except/finally 语句 / try statements are not allowed")

    def visit_TryStar(self, node: ast.AST) -> None:
        self.error(node, "不允许 try/except* 语句 / try statements are not allowed")

    def visit_With(self, node: ast.With) -> None:
        self.error(node, "不允许 with 语句 / with statements are not allowed")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.error(node, "不允许定义类 / class definitions are not allowed")

    # Python 3.11 emits no line event for a loop that jumps to itself (`while True: pass`), so every
    # loop body starts with a call to `_tick_`, whose call event reaches the time-limit tracer.
    def visit_While(self, node: ast.While) -> Any:
        return self._with_tick(super().visit_While(node))

    def visit_For(self, node: ast.For) -> Any:
        return self._with_tick(super().visit_For(node))

    def _with_tick(self, node: ast.While | ast.For) -> ast.While | ast.For:
        tick = ast.Expr(_guard_call("_tick_", [], node))
        copy_locations(tick, node.body[0])
        node.body.insert(0, tick)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        guard = _BINOP_GUARDS.get(type(node.op))
        if guard is None:
            return node
        return _guard_call(guard, [node.left, node.right], node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        node = self.node_contents_visit(node)
        spec: ast.expr = node.format_spec if node.format_spec is not None else ast.Constant("")
        node.value = _guard_call("_format_", [node.value, ast.Constant(node.conversion), spec], node)
        node.conversion = -1
        node.format_spec = None
        return node

    def visit_Starred(self, node: ast.Starred) -> Any:
        node = self.node_contents_visit(node)
        if isinstance(node.ctx, ast.Load):
            node.value = _guard_call("_sized_", [node.value], node.value)
        return node


@functools.lru_cache(maxsize=_CODE_CACHE_SIZE)
def _compile(source: str, mode: Literal["eval", "exec"]) -> types.CodeType:
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(source, filename=SANDBOX_FILENAME, policy=_SandboxPolicy)
    if result.errors or result.code is None:
        errors = list(result.errors) or ["no code produced"]
        raise SandboxCompileError(f"代码未通过沙箱检查 / refused by the sandbox: {'; '.join(errors)}", errors)
    return result.code


def compile_sandboxed(source: str, mode: Literal["eval", "exec"]) -> types.CodeType:
    """Compile under the sandbox rules (cached by source). Raises SandboxCompileError."""
    if not isinstance(source, str):
        raise SandboxCompileError(f"代码必须是字符串 / source must be a string, got {type(source).__name__}")
    # Spiff's default engine used builtin eval(), which ignores surrounding blanks; XML keeps them.
    return _compile(source.strip() if mode == "eval" else source, mode)


# --- run-time guards --------------------------------------------------------------------------

_TEXT = (str, bytes, bytearray)
_SEQUENCES = (str, bytes, bytearray, list, tuple)


def _too_large(what: str) -> NoReturn:
    raise SandboxLimitError(f"结果过大，已拒绝 / result too large, refused: {what}")


def _check_int_bits(bits: float, what: str) -> None:
    if bits > MAX_INT_BITS:
        _too_large(f"{what} 超过 {MAX_INT_BITS} 位整数 / over {MAX_INT_BITS}-bit integer")


def _text_size(value: object) -> int:
    """Estimate len(str(value)) without building it; refuse past MAX_SEQUENCE_LEN."""
    budget = MAX_SEQUENCE_LEN
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _TEXT):
            budget -= len(item) + 3
        elif isinstance(item, dict):
            budget -= 4 * len(item) + 2
            if budget >= 0:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            budget -= 2 * len(item) + 2
            if budget >= 0:
                stack.extend(item)
        else:
            budget -= 32
        if budget < 0:
            _too_large("转换后的文本超过 100 万字符 / text over 1,000,000 characters")
    return MAX_SEQUENCE_LEN - budget


# The operator guards run for every `+` and `*`: no nested Python calls on the common path, because
# each call is one more trip through the time-limit tracer.
def _guarded_add(a: Any, b: Any) -> Any:
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES) and len(a) + len(b) > MAX_SEQUENCE_LEN:
        _too_large("拼接结果超过 100 万个元素 / concatenation over 1,000,000 items")
    return a + b


def _check_mul(a: Any, b: Any) -> None:
    if isinstance(a, int) and isinstance(b, int):
        _check_int_bits(a.bit_length() + b.bit_length(), "乘积 / product")
    elif (isinstance(a, _SEQUENCES) and isinstance(b, int) and len(a) * b > MAX_SEQUENCE_LEN) or (
        isinstance(b, _SEQUENCES) and isinstance(a, int) and len(b) * a > MAX_SEQUENCE_LEN
    ):
        _too_large("重复结果超过 100 万个元素 / repetition over 1,000,000 items")


def _guarded_mul(a: Any, b: Any) -> Any:
    if isinstance(a, float) or isinstance(b, float):
        return a * b
    _check_mul(a, b)
    return a * b


def _guarded_pow(base: Any, exp: Any, mod: Any = None) -> Any:
    ints = isinstance(base, int) and isinstance(exp, int)
    if mod is not None:
        if ints and isinstance(mod, int) and max(exp.bit_length(), mod.bit_length()) > MAX_MODPOW_BITS:
            _too_large("模幂运算的数过大 / modular power operands too large")
        return pow(base, exp, mod)
    if ints and exp > 0 and abs(base) > 1:
        _check_int_bits(math.log2(abs(base)) * exp, "乘方 / power")
    return base**exp


def _guarded_lshift(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0:
        _check_int_bits(a.bit_length() + b, "左移 / left shift")
    return a << b


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_format_spec(spec: str) -> None:
    if any(int(digits) > MAX_FORMAT_WIDTH for digits in re.findall(r"\d+", spec)):
        _too_large(f"格式宽度超过 {MAX_FORMAT_WIDTH} / format width over {MAX_FORMAT_WIDTH}")


def _guarded_mod(a: Any, b: Any) -> Any:
    if isinstance(a, _TEXT):
        text = a if isinstance(a, str) else bytes(a).decode("latin-1")
        specs = list(_PERCENT_SPEC.finditer(text))
        for match in specs:
            for group in match.groups():
                if group == "*":
                    raise SandboxForbiddenError("不允许 %* 动态宽度 / '%*' widths are forbidden")
                if group is not None and int(group) > MAX_FORMAT_WIDTH:
                    _too_large(f"格式宽度超过 {MAX_FORMAT_WIDTH} / format width over {MAX_FORMAT_WIDTH}")
        values = b.values() if isinstance(b, dict) else b if isinstance(b, tuple) else (b,)
        largest = max((_text_size(v) for v in values), default=0)
        if len(a) + len(specs) * largest > MAX_SEQUENCE_LEN:
            _too_large("格式化结果超过 100 万字符 / formatted text over 1,000,000 characters")
    return a % b


def _format_value(value: Any, conversion: int, spec: str) -> str:
    _check_format_spec(spec)
    _text_size(value)
    if conversion == ord("r"):
        value = repr(value)
    elif conversion == ord("s"):
        value = str(value)
    elif conversion == ord("a"):
        value = ascii(value)
    return format(value, spec)


def _sized(value: T) -> T:
    size = len(value) if isinstance(value, list | tuple | set | frozenset | dict | str | bytes) else 0
    if size > MAX_SEQUENCE_LEN:
        _too_large("展开的序列超过 100 万个元素 / unpacked sequence over 1,000,000 items")
    return value


def _guarded_iadd(x: Any, y: Any) -> Any:
    if isinstance(x, list):
        if not isinstance(y, _SEQUENCES):
            y = list(y)  # `lst += generator`: count the items before extending
        _check_extend(x, y)
    elif isinstance(x, _SEQUENCES) and isinstance(y, _SEQUENCES) and len(x) + len(y) > MAX_SEQUENCE_LEN:
        _too_large("拼接结果超过 100 万个元素 / concatenation over 1,000,000 items")
    return operator.iadd(x, y)


def _check_extend(target: Any, items: Any) -> None:
    if len(target) + len(items) > MAX_SEQUENCE_LEN:
        _too_large("列表超过 100 万个元素 / list over 1,000,000 items")


def _guarded_imul(x: Any, y: Any) -> Any:
    _check_mul(x, y)
    return operator.imul(x, y)


_INPLACE_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+=": _guarded_iadd,
    "-=": operator.isub,
    "*=": _guarded_imul,
    "/=": operator.itruediv,
    "%=": _guarded_mod,
    "**=": _guarded_pow,
    "<<=": _guarded_lshift,
    ">>=": operator.irshift,
    "|=": operator.ior,
    "^=": operator.ixor,
    "&=": operator.iand,
    "//=": operator.ifloordiv,
    "@=": operator.imatmul,
}


def _guarded_inplacevar(op: str, x: Any, y: Any) -> Any:
    if op == "+=" and isinstance(x, int | float) and isinstance(y, int | float):
        return x + y  # the counter in every loop: skip one more traced call
    return _INPLACE_OPS[op](x, y)


# String, bytes, list and int methods that can multiply memory in a single C call: each checker
# looks at the receiver and the arguments, and returns the (possibly materialized) arguments.
def _check_width(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    width = args[0] if args else kwargs.get("width", 0)
    if isinstance(width, int) and width > MAX_SEQUENCE_LEN:
        _too_large("填充宽度超过 100 万 / padding width over 1,000,000")
    return args


def _check_expandtabs(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    tabsize = args[0] if args else kwargs.get("tabsize", 8)
    tabs = obj.count("\t" if isinstance(obj, str) else b"\t")
    if isinstance(tabsize, int) and len(obj) + tabs * tabsize > MAX_SEQUENCE_LEN:
        _too_large("展开制表符后超过 100 万字符 / expanded text over 1,000,000 characters")
    return args


def _check_replace(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    if len(args) >= 2 and isinstance(args[0], _TEXT) and isinstance(args[1], _TEXT):
        old, new = args[0], args[1]
        count = args[2] if len(args) > 2 else kwargs.get("count", -1)
        hits = obj.count(old) if old else len(obj) + 1
        if isinstance(count, int) and count >= 0:
            hits = min(hits, count)
        if len(obj) + hits * (len(new) - len(old)) > MAX_SEQUENCE_LEN:
            _too_large("替换结果超过 100 万字符 / replaced text over 1,000,000 characters")
    return args


def _check_translate(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    if isinstance(obj, str) and args and isinstance(args[0], dict):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        if len(obj) * longest > MAX_SEQUENCE_LEN:
            _too_large("转换结果超过 100 万字符 / translated text over 1,000,000 characters")
    return args


def _check_join(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    if not args:
        return args
    items = list(args[0])
    total = sum(len(item) for item in items if isinstance(item, _TEXT)) + len(obj) * max(len(items) - 1, 0)
    if total > MAX_SEQUENCE_LEN:
        _too_large("连接结果超过 100 万字符 / joined text over 1,000,000 characters")
    return (items, *args[1:])


def _check_list_extend(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    if not args:
        return args
    items = list(args[0])
    _check_extend(obj, items)
    return (items, *args[1:])


def _check_to_bytes(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    length = args[0] if args else kwargs.get("length", 1)
    if isinstance(length, int) and length > MAX_SEQUENCE_LEN:
        _too_large("字节长度超过 100 万 / byte length over 1,000,000")
    return args


_Checker = Callable[[Any, tuple[Any, ...], dict[str, Any]], tuple[Any, ...]]
_TEXT_METHOD_CHECKS: dict[str, _Checker] = {
    "ljust": _check_width,
    "rjust": _check_width,
    "center": _check_width,
    "zfill": _check_width,
    "expandtabs": _check_expandtabs,
    "replace": _check_replace,
    "translate": _check_translate,
    "join": _check_join,
}


def _method_checker(obj: object, name: str) -> _Checker | None:
    if isinstance(obj, _TEXT):
        if isinstance(obj, bytearray) and name == "extend":
            return _check_list_extend
        return _TEXT_METHOD_CHECKS.get(name)
    if isinstance(obj, list) and name == "extend":
        return _check_list_extend
    if isinstance(obj, int) and name == "to_bytes":
        return _check_to_bytes
    return None


def _guarded_getattr(obj: object, name: str) -> Any:
    if name.startswith("_") or name in INSPECT_ATTRIBUTES:
        raise SandboxForbiddenError(f"不允许访问属性 .{name} / attribute '.{name}' is forbidden")
    try:
        value = safer_getattr_raise(obj, name)
    except NotImplementedError as exc:  # str.format can read any attribute: '{0.__class__}'
        raise SandboxForbiddenError(
            f"不允许使用 .{name}()，请改用 f-string / '.{name}()' is forbidden, use an f-string"
        ) from exc
    checker = _method_checker(obj, name)
    if checker is None:
        return value

    def checked(*args: Any, **kwargs: Any) -> Any:
        return value(*checker(obj, args, kwargs), **kwargs)

    return checked


def _tick() -> None:
    """Called at the top of every loop body; its call event lets the time limit fire."""


def _guarded_apply(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return func(*args, **kwargs)


class _PrintCollector:
    """`print` in a script: shortened into the debug log; there is no console to print to."""

    def __init__(self, _getattr_: object = None) -> None:
        pass

    def __call__(self) -> str:  # the `printed` variable
        return ""

    def _call_print(self, *objects: object, **kwargs: object) -> None:
        log.debug("sandbox print: %s", " ".join(reprlib.repr(o) for o in objects))


# --- builtins ---------------------------------------------------------------------------------


def _guarded_range(*args: int) -> range:
    result = range(*args)
    try:
        size = len(result)
    except OverflowError:
        size = MAX_SEQUENCE_LEN + 1
    if size > MAX_SEQUENCE_LEN:
        _too_large("range() 超过 100 万项 / range() over 1,000,000 items")
    return result


def _guarded_str(*args: Any, **kwargs: Any) -> str:
    if args or "object" in kwargs:
        _text_size(args[0] if args else kwargs["object"])
    return str(*args, **kwargs)


def _guarded_repr(value: object) -> str:
    _text_size(value)
    return repr(value)


def _guarded_sum(iterable: Iterable[Any], /, start: Any = 0) -> Any:
    # sum(lists, []) copies the growing list at every step, in C, beyond the time limit's reach.
    if isinstance(start, _SEQUENCES):
        raise SandboxForbiddenError("sum() 只能对数值求和 / sum() is for numbers only")
    return sum(iterable, start)


def _guarded_round(number: Any, ndigits: Any = None) -> Any:
    if isinstance(ndigits, int) and ndigits < -MAX_ROUND_DIGITS:
        _too_large(f"round() 位数超过 {MAX_ROUND_DIGITS} / round() ndigits beyond {MAX_ROUND_DIGITS}")
    return round(number) if ndigits is None else round(number, ndigits)


# isinstance(x, str) must still work although `str` is a guard function.
_REAL_TYPES: dict[Any, type] = {_guarded_str: str, _guarded_range: range}


def _real_type(cls: Any) -> Any:
    if isinstance(cls, tuple):
        return tuple(_real_type(c) for c in cls)
    return _REAL_TYPES.get(cls, cls) if callable(cls) else cls


def _guarded_isinstance(obj: object, cls: Any) -> bool:
    return isinstance(obj, _real_type(cls))


def _guarded_issubclass(cls: Any, classinfo: Any) -> bool:
    return issubclass(cls, _real_type(classinfo))


def _build_builtins() -> dict[str, Any]:
    names = dict(safe_builtins)
    # BaseException-only classes would escape `except Exception` in the engine and kill a worker.
    for name in ("__build_class__", "setattr", "delattr", "_getattr_", "BaseException", "SystemExit",
                 "KeyboardInterrupt", "GeneratorExit"):  # fmt: skip
        names.pop(name, None)
    names.update(
        min=min, max=max, sum=_guarded_sum, sorted=sorted, any=any, all=all, enumerate=enumerate,
        list=list, dict=dict, set=set, frozenset=frozenset, tuple=tuple, map=map, filter=filter,
        reversed=reversed, zip=zip, round=_guarded_round, abs=abs, len=len, str=_guarded_str,
        repr=_guarded_repr, int=int, float=float, bool=bool, isinstance=_guarded_isinstance,
        issubclass=_guarded_issubclass, divmod=divmod, range=_guarded_range, pow=_guarded_pow,
    )  # fmt: skip
    return names


SANDBOX_BUILTINS: Mapping[str, Any] = types.MappingProxyType(_build_builtins())

# Put into every namespace last, so task data can never replace a guard.
_GUARDS: dict[str, Any] = {
    "__builtins__": dict(SANDBOX_BUILTINS),
    "_getattr_": _guarded_getattr,
    "_getitem_": default_guarded_getitem,
    "_getiter_": default_guarded_getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
    "_inplacevar_": _guarded_inplacevar,
    "_apply_": _guarded_apply,
    "_print_": _PrintCollector,
    "_add_": _guarded_add,
    "_mul_": _guarded_mul,
    "_pow_": _guarded_pow,
    "_lshift_": _guarded_lshift,
    "_mod_": _guarded_mod,
    "_format_": _format_value,
    "_sized_": _sized,
    "_tick_": _tick,
}


# --- time limit -------------------------------------------------------------------------------


_EXPRESSION = ("表达式", "expression")
_SCRIPT = ("脚本", "script")


def _run_with_time_limit(run: Callable[[], T], time_limit: float, kind: tuple[str, str]) -> T:
    """Run `run()` on this thread, raising SandboxTimeoutError once `time_limit` seconds pass."""
    deadline = time.monotonic() + time_limit
    events = 0
    fired = False

    def timed_out() -> SandboxTimeoutError:
        zh, en = kind
        limit = f"{time_limit:g}"
        return SandboxTimeoutError(f"{zh}执行超时（超过 {limit} 秒）/ {en} timed out after {limit} s")

    def tracer(frame: types.FrameType, event: str, arg: object) -> Any:
        nonlocal events, fired
        events += 1
        if events >= _CHECK_EVERY:
            events = 0
            if time.monotonic() > deadline:
                fired = True
                raise timed_out()
        if event == "call" and frame.f_code.co_filename == _THIS_FILE:
            return None  # our guards are bounded; tracing their lines would triple the cost
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        result = run()
    finally:
        sys.settrace(previous)  # pytest, coverage or a debugger may have had one
    if fired:  # a helper swallowed the timeout: still refuse the result
        raise timed_out()
    return result


# --- the environment --------------------------------------------------------------------------


def _is_plain_data(value: object) -> bool:
    return not (callable(value) or isinstance(value, types.ModuleType | Iterator | MappingView | range))


def _forbidden_name(exc: NameError) -> SandboxForbiddenError | None:
    name = getattr(exc, "name", None)
    if name in FORBIDDEN_NAMES:
        return SandboxForbiddenError(f"不允许使用 {name}（已被沙箱禁用）/ '{name}' is forbidden")
    return None


def _checked_helpers(helpers: Mapping[str, Any] | None) -> dict[str, Any]:
    result = dict(helpers or {})
    for name, value in result.items():
        if not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"sandbox helper name {name!r} must be a public identifier")
        if isinstance(value, types.ModuleType):
            raise ValueError(f"sandbox helper {name!r} is a module; offer functions instead")
    return result


class SandboxEnvironment(BasePythonScriptEngineEnvironment):  # type: ignore[misc]
    """Spiff script environment that compiles with RestrictedPython and runs with guards,
    a size guard and a time limit. Name lookup: builtins < helpers < external_context < task data.

    Helpers are trusted engine functions offered to expressions. `set_helpers` replaces them for
    every thread; `bound_helpers` overlays per-instance helpers for the current thread only, so one
    environment can be shared by worker threads.
    """

    def __init__(self, helpers: Mapping[str, Any] | None = None, time_limit: float = 1.0) -> None:
        super().__init__(_checked_helpers(helpers))
        self.time_limit = time_limit
        self._local = threading.local()

    def set_helpers(self, helpers: Mapping[str, Any]) -> None:
        """Replace the helpers offered to expressions, for all threads. Raises ValueError."""
        self.globals = _checked_helpers(helpers)

    @contextmanager
    def bound_helpers(self, helpers: Mapping[str, Any]) -> Iterator[None]:
        """Offer extra helpers on the current thread while the block runs. Raises ValueError."""
        previous: dict[str, Any] = getattr(self._local, "overlay", {})
        self._local.overlay = {**previous, **_checked_helpers(helpers)}
        try:
            yield
        finally:
            self._local.overlay = previous

    @property
    def helpers(self) -> dict[str, Any]:
        """The helpers visible on the current thread."""
        return {**self.globals, **getattr(self._local, "overlay", {})}

    def _namespace(
        self,
        helpers: Mapping[str, Any],
        context: Mapping[str, Any],
        external_context: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        namespace = dict(helpers)
        namespace.update(external_context or {})
        namespace.update(context)
        namespace.update(_GUARDS)
        return namespace

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: Mapping[str, Any] | None = None
    ) -> Any:
        """Evaluate an expression against task data. Raises SandboxError or the expression's own error."""
        code = compile_sandboxed(expression, "eval")
        namespace = self._namespace(self.helpers, context, external_context)
        try:
            return _run_with_time_limit(lambda: eval(code, namespace), self.time_limit, _EXPRESSION)
        except NameError as exc:
            forbidden = _forbidden_name(exc)
            if forbidden is None:
                raise
            raise forbidden from exc

    def execute(
        self, script: str, context: dict[str, Any], external_context: Mapping[str, Any] | None = None
    ) -> bool:
        """Run a script and write its new plain-data names into `context` in place. Raises SandboxError."""
        code = compile_sandboxed(script, "exec")
        helpers = self.helpers
        external = dict(external_context or {})
        namespace = self._namespace(helpers, context, external)
        before = dict(context)
        try:
            _run_with_time_limit(lambda: exec(code, namespace), self.time_limit, _SCRIPT)
        except NameError as exc:
            forbidden = _forbidden_name(exc)
            if forbidden is None:
                raise
            raise forbidden from exc
        except Exception as exc:
            # Spiff's script error reporter does `str + err.args[0]`: `d[5]` (KeyError(5)) would turn
            # into a TypeError raised from inside Spiff's own handler.
            if exc.args and not isinstance(exc.args[0], str):
                exc.args = (str(exc.args[0]), *exc.args[1:])
            raise
        _write_back(context, before, namespace, helpers, external)
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> Any:
        """Service tasks are not offered to uploaded processes."""
        raise SandboxForbiddenError("不支持服务任务 / service tasks are not supported")


def _write_back(
    context: dict[str, Any],
    before: Mapping[str, Any],
    namespace: Mapping[str, Any],
    helpers: Mapping[str, Any],
    external: Mapping[str, Any],
) -> None:
    """Copy new or changed plain-data names into task data; drop what the script deleted.
    Helpers, external names, guards, callables, modules and iterators never become task data."""
    for name, value in namespace.items():
        if name in _GUARDS:
            continue
        if name in before:
            if value is before[name]:
                continue
            if _is_plain_data(value):
                context[name] = value
            else:
                del context[name]
        elif not (name.startswith("_") or name in helpers or name in external) and _is_plain_data(value):
            context[name] = value
    for name in before:
        if name not in namespace:
            del context[name]


def make_script_engine(
    helpers: Mapping[str, Any] | None = None, time_limit: float = 1.0
) -> PythonScriptEngine:
    """A Spiff script engine whose conditions, scripts, timers and DMN cells all run in the sandbox."""
    return PythonScriptEngine(environment=SandboxEnvironment(helpers, time_limit))


# --- deploy-time check ------------------------------------------------------------------------


def check_source(
    source: str, mode: Literal["eval", "exec"], *, allowed_names: Iterable[str] = ()
) -> list[str]:
    """Static problems in a condition (`eval`) or script (`exec`), as Chinese messages; [] means OK.
    `allowed_names` are task-data fields (e.g. a form field `type`) exempt from the forbidden-name rule."""
    text = source.strip() if mode == "eval" else source
    try:
        tree = ast.parse(text, SANDBOX_FILENAME, mode)
    except SyntaxError as exc:
        return [f"第 {exc.lineno or 1} 行：语法错误（{exc.msg}）"]
    allowed = set(allowed_names)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 1)
        message = _static_problem(node, allowed)
        if message:
            found.append((line, f"第 {line} 行：{message}"))
    if not found:
        try:
            compile_sandboxed(source, mode)
        except SandboxCompileError as exc:
            found += [(0, f"未通过沙箱检查：{error}") for error in exc.errors]
    return list(dict.fromkeys(message for _, message in sorted(found, key=lambda item: item[0])))


def _static_problem(node: ast.AST, allowed: set[str]) -> str | None:
    if isinstance(node, ast.Import | ast.ImportFrom):
        modules = ", ".join(alias.name for alias in node.names)
        return f"不允许导入模块（import {modules}）"
    if isinstance(node, ast.Name):
        if node.id.startswith("_") and node.id != "_":
            return f"不允许使用以下划线开头的名称 {node.id}"
        if isinstance(node.ctx, ast.Load) and node.id in FORBIDDEN_NAMES and node.id not in allowed:
            return f"不允许使用 {node.id}（受限功能）"
    if isinstance(node, ast.Attribute):
        if node.attr.startswith("_") and node.attr != "_":
            return f"不允许访问以下划线开头的属性 .{node.attr}"
        if node.attr in ("format", "format_map"):
            return f"不允许使用 .{node.attr}()，请改用 f-string"
        if node.attr in INSPECT_ATTRIBUTES:
            return f"不允许访问属性 .{node.attr}"
    if isinstance(node, ast.FunctionDef | ast.Lambda | ast.AsyncFunctionDef):
        args = node.args
        names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
        names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.append(node.name)
        bad = [n for n in names if n.startswith("_") and n != "_"]
        if bad:
            return f"不允许使用以下划线开头的名称 {bad[0]}"
    if isinstance(node, ast.Try | ast.TryStar):
        return "不允许使用 try 语句"
    if isinstance(node, ast.With | ast.AsyncWith):
        return "不允许使用 with 语句"
    if isinstance(node, ast.ClassDef):
        return f"不允许定义类（class {node.name}）"
    return None
