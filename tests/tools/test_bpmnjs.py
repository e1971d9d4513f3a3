"""bpmn-js in headless Chromium: every shipped diagram opens in the modeller without import warnings.

Skipped when node_modules or /usr/bin/chromium is missing (`make node_modules chromium` installs them),
except under CI (CI set), where a missing browser is a failure."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from tools import bpmnjs
from tools.bpmn_layout import layout_bytes

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
SHIPPED = sorted((ROOT / "bpmn").glob("*.bpmn")) + sorted((ROOT / "bpmn").glob("*.dmn"))


@pytest.fixture(scope="module", autouse=True)
def browser() -> None:
    missing = bpmnjs.missing_prerequisites()
    if not missing:
        return
    message = f"bpmn-js in Chromium not available: {'; '.join(missing)}"
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(message)
    pytest.skip(message)


def test_shipped_files_open_in_the_modeller_without_import_warnings() -> None:
    warnings = bpmnjs.import_warnings(SHIPPED)
    assert set(warnings) == {str(p) for p in SHIPPED}
    assert {Path(p).name: w for p, w in warnings.items() if w} == {}


def test_import_warnings_are_reported(tmp_path: Path) -> None:
    laid_out = layout_bytes((FIXTURES / "review_case.bpmn").read_bytes()).decode()
    broken = tmp_path / "broken.bpmn"
    shape = 'bpmnElement="prepare"'
    broken.write_text(laid_out.replace(shape, 'bpmnElement="no_such_task"'), encoding="utf-8")
    no_diagram = FIXTURES / "review_case.bpmn"
    warnings = bpmnjs.import_warnings([broken, no_diagram])
    assert any("no_such_task" in w for w in warnings[str(broken)])
    assert warnings[str(no_diagram)] == ["import failed: no diagram to display"]


def test_render_png_draws_the_whole_diagram(tmp_path: Path) -> None:
    source = tmp_path / "review_case.bpmn"
    source.write_bytes(layout_bytes((FIXTURES / "review_case.bpmn").read_bytes()))
    png = bpmnjs.render_png(source, tmp_path / "out" / "review.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width > 1000 and height > 500  # the pool, not an empty canvas
