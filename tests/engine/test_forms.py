"""Form conversion and validation: one Chinese message per bad field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine import forms
from engine.errors import FormValidationError

FORM = forms.form_of(
    {
        "form": {
            "key": "",
            "fields": [
                {
                    "id": "name",
                    "label": "当事人",
                    "type": "string",
                    "constraints": {"required": None, "maxlength": "5"},
                },
                {"id": "count", "label": "次数", "type": "long", "constraints": {"min": "1", "max": "10"}},
                {"id": "fine", "label": "罚款", "type": "string", "properties": {"type": "money"}},
                {"id": "heard", "label": "是否听证", "type": "boolean"},
                {"id": "day", "label": "日期", "type": "date", "constraints": {"min": "2024-01-01"}},
                {
                    "id": "kind",
                    "label": "种类",
                    "type": "enum",
                    "options": [["a", "甲"], ["b", "乙"]],
                    "default": "a",
                },
                {"id": "shown", "label": "只读", "type": "string", "properties": {"type": "display"}},
            ],
        }
    }
)


def test_good_values_are_converted() -> None:
    values = forms.validate(
        FORM, {"name": " 某医院 ", "count": "3", "fine": "1,234.5", "heard": "是", "day": "2024-10-08"}
    )
    assert values == {
        "name": "某医院",
        "count": 3,
        "fine": Decimal("1234.50"),
        "heard": True,
        "day": "2024-10-08",
        "kind": "a",  # absent: its defaultValue
    }
    assert forms.to_json(values)["fine"] == "1234.50"


def test_every_bad_field_is_named() -> None:
    with pytest.raises(FormValidationError) as err:
        forms.validate(
            FORM,
            {
                "name": "",
                "count": "11",
                "fine": "12.345",
                "heard": "maybe",
                "day": "2023-12-31",
                "kind": "c",
                "x": 1,
            },
        )
    assert err.value.errors == {
        "name": "请填写「当事人」",
        "count": "「次数」不能大于 10",
        "fine": "「罚款」最多保留两位小数",
        "heard": "「是否听证」应为是或否",
        "day": "「日期」不能早于 2024-01-01",
        "kind": "「种类」只能从列表中选择",
        "x": "表单中没有这个字段",
    }


@pytest.mark.parametrize("raw", ["abc", "1e400", "-1", "NaN", "1000000000000"])
def test_money_refuses_nonsense(raw: str) -> None:
    with pytest.raises(FormValidationError) as err:
        forms.validate(FORM, {"name": "甲", "fine": raw})
    assert "fine" in err.value.errors


def test_readonly_fields_are_not_taken_from_input() -> None:
    assert "shown" not in forms.validate(FORM, {"name": "甲", "shown": "forged"})


def test_case_functions_are_all_declared() -> None:
    from engine import cases, functions

    ops = cases.CaseOps(None, None, "x")  # type: ignore[arg-type]
    assert set(ops.functions()) == functions.CASE_FUNCTIONS
