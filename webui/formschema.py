"""A marshmallow schema built from a task's camunda:formData field list. Conversion rules are the
engine's (engine.forms.convert), so the web, the API and the CLI accept exactly the same input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from engine import forms
from engine.errors import FormValidationError


class EngineField(fields.Field):  # type: ignore[type-arg]
    """A marshmallow field that converts with the engine's rules for one form field."""

    def __init__(self, spec: forms.Field, **kwargs: Any) -> None:
        optional: dict[str, Any] = {} if spec.required else {"load_default": None}
        super().__init__(
            required=spec.required,
            allow_none=not spec.required,
            **optional,
            error_messages={"required": f"请填写「{spec.label}」", "null": f"请填写「{spec.label}」"},
            **kwargs,
        )
        self.spec = spec

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            if self.spec.required:
                raise ValidationError(f"请填写「{self.spec.label}」")
            return None
        try:
            return forms.convert(self.spec, value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


def schema_for(form: forms.Form) -> Schema:
    """A schema of the form's editable fields; unknown keys are ignored (the engine refuses them)."""
    declared = {f.id: EngineField(f) for f in form.fields if not f.readonly and f.widget != "attachment"}
    schema_cls = Schema.from_dict(declared, name="TaskForm")
    return schema_cls(unknown=EXCLUDE)


def load(form: forms.Form, submitted: Mapping[str, Any]) -> dict[str, Any]:
    """Validated values, or forms' FormValidationError with one Chinese message per field."""
    try:
        data: dict[str, Any] = schema_for(form).load(dict(submitted))
    except ValidationError as exc:
        messages = exc.normalized_messages()
        raise FormValidationError({k: _first(v) for k, v in messages.items()}) from None
    return {k: v for k, v in data.items() if v is not None or k in submitted}


def _first(value: Any) -> str:
    if isinstance(value, list) and value:
        return str(value[0])
    return str(value)
