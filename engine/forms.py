"""Forms from camunda:formData: the field list, and conversion + validation of submitted values
with a Chinese message per field. SpiffWorkflow neither converts nor checks; this does, for every
entry point (web, API, CLI)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.errors import FormValidationError

TRUE_WORDS = {"true", "1", "yes", "on", "是", "y"}
FALSE_WORDS = {"false", "0", "no", "off", "否", "n", ""}
MONEY_LIMIT = Decimal("1000000000000")


@dataclass(frozen=True)
class Field:
    id: str
    label: str
    type: str  # string long boolean date enum
    default: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    constraints: Mapping[str, str | None] = field(default_factory=dict)
    options: tuple[tuple[str, str], ...] = ()

    @property
    def widget(self) -> str:
        """What the renderer draws: money, attachment, textarea, display, or the base type."""
        extra = self.properties.get("type") or self.properties.get("widget")
        return extra or self.type

    @property
    def required(self) -> bool:
        return "required" in self.constraints

    @property
    def readonly(self) -> bool:
        return "readonly" in self.constraints or self.widget == "display"


@dataclass(frozen=True)
class Form:
    key: str
    fields: tuple[Field, ...]


def form_of(extensions: Mapping[str, Any]) -> Form:
    """The form a task spec's extensions carry (an empty form when it has none)."""
    raw = extensions.get("form") or {}
    fields = tuple(
        Field(
            id=f["id"],
            label=f.get("label") or f["id"],
            type=f.get("type") or "string",
            default=f.get("default"),
            properties=dict(f.get("properties") or {}),
            constraints=dict(f.get("constraints") or {}),
            options=tuple((o[0], o[1]) for o in f.get("options") or []),
        )
        for f in raw.get("fields", [])
    )
    return Form(key=raw.get("key", ""), fields=fields)


def validate(form: Form, submitted: Mapping[str, Any]) -> dict[str, Any]:
    """Convert and check every editable field; raises FormValidationError listing each bad field.
    Unknown keys are refused too, so a typo never silently drops an officer's input."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    editable = {f.id: f for f in form.fields if not f.readonly}
    for key in submitted:
        if key not in editable and key not in {f.id for f in form.fields}:
            errors[key] = "表单中没有这个字段"
    for f in editable.values():
        raw = submitted.get(f.id, f.default)  # an absent field takes its camunda defaultValue
        if _blank(raw):
            if f.required:
                errors[f.id] = f"请填写「{f.label}」"
            elif f.widget != "attachment":
                values[f.id] = None if f.type != "boolean" else False
            continue
        try:
            values[f.id] = _convert(f, raw)
        except ValueError as exc:
            errors[f.id] = str(exc)
    if errors:
        raise FormValidationError(errors)
    return values


def _blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip() == "") or raw == []


def convert(f: Field, raw: Any) -> Any:
    """One non-blank submitted value converted to the field's type; ValueError with a Chinese message."""
    return _convert(f, raw)


def _convert(f: Field, raw: Any) -> Any:
    widget = f.widget
    if widget == "money":
        return _money(f, raw)
    if f.type == "long":
        return _long(f, raw)
    if f.type == "boolean":
        return _boolean(f, raw)
    if f.type == "date":
        return _date(f, raw)
    if f.type == "enum":
        allowed = {o[0] for o in f.options}
        value = str(raw)
        if value not in allowed:
            raise ValueError(f"「{f.label}」只能从列表中选择")
        return value
    return _string(f, raw)


def _string(f: Field, raw: Any) -> str:
    if not isinstance(raw, str | int | float):
        raise ValueError(f"「{f.label}」应为文字")
    value = str(raw).strip()
    minlength, maxlength = _int_constraint(f, "minlength"), _int_constraint(f, "maxlength")
    if minlength is not None and len(value) < minlength:
        raise ValueError(f"「{f.label}」至少 {minlength} 个字")
    limit = maxlength if maxlength is not None else (5000 if f.widget == "textarea" else 500)
    if len(value) > limit:
        raise ValueError(f"「{f.label}」不能超过 {limit} 个字")
    pattern = f.constraints.get("pattern")
    if pattern and not re.fullmatch(pattern, value):
        raise ValueError(f"「{f.label}」格式不正确")
    return value


def _long(f: Field, raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"「{f.label}」应为整数")
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ValueError(f"「{f.label}」应为整数") from None
    _range(f, Decimal(value))
    return value


def _money(f: Field, raw: Any) -> Decimal:
    text = str(raw).strip().replace(",", "").replace("，", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"「{f.label}」应为金额（元），如 12345.67") from None
    if not value.is_finite():
        raise ValueError(f"「{f.label}」应为金额（元），如 12345.67")
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError(f"「{f.label}」最多保留两位小数")
    if value < 0:
        raise ValueError(f"「{f.label}」不能为负数")
    if value >= MONEY_LIMIT:
        raise ValueError(f"「{f.label}」金额过大")
    _range(f, value)
    return value.quantize(Decimal("0.01"))


def _boolean(f: Field, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"「{f.label}」应为是或否")


def _date(f: Field, raw: Any) -> str:
    try:
        value = date.fromisoformat(str(raw).strip())
    except ValueError:
        raise ValueError(f"「{f.label}」应为日期，格式 YYYY-MM-DD") from None
    for name, op in (("min", "早于"), ("max", "晚于")):
        bound = f.constraints.get(name)
        if bound:
            limit = date.fromisoformat(bound)
            if (name == "min" and value < limit) or (name == "max" and value > limit):
                raise ValueError(f"「{f.label}」不能{op} {bound}")
    return value.isoformat()


def _range(f: Field, value: Decimal) -> None:
    low, high = f.constraints.get("min"), f.constraints.get("max")
    if low is not None and value < Decimal(low):
        raise ValueError(f"「{f.label}」不能小于 {low}")
    if high is not None and value > Decimal(high):
        raise ValueError(f"「{f.label}」不能大于 {high}")


def _int_constraint(f: Field, name: str) -> int | None:
    value = f.constraints.get(name)
    return int(value) if value not in (None, "") else None


def to_json(values: Mapping[str, Any]) -> dict[str, Any]:
    """Submitted values as JSON-safe data for the task projection (Decimals as strings)."""
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in values.items()}
