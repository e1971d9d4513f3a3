"""tools/catalogue.py: docs/processes.md is current, and says what a process owner needs to know."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tools import catalogue

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"


def test_committed_catalogue_is_current(tmp_path: Path) -> None:
    """Run `make docs` (python -m tools.catalogue) after changing anything in bpmn/."""
    catalogue.write(tmp_path, ROOT / "bpmn", png=False)
    committed = ROOT / "docs" / "processes.md"
    assert committed.is_file(), "docs/processes.md is missing: run `make docs`"
    assert (tmp_path / "processes.md").read_text(encoding="utf-8") == committed.read_text(encoding="utf-8")


def test_every_picture_the_catalogue_shows_exists() -> None:
    page = (ROOT / "docs" / "processes.md").read_text(encoding="utf-8")
    pictures = re.findall(r"!\[[^\]]*\]\((processes/[^)]+\.png)\)", page)
    assert pictures
    assert [p for p in pictures if not (ROOT / "docs" / p).is_file()] == []


@pytest.fixture
def page(tmp_path: Path) -> str:
    bpmn = tmp_path / "bpmn"
    bpmn.mkdir()
    shutil.copy(FIXTURES / "review_case.bpmn", bpmn)
    shutil.copy(FIXTURES / "review_type.dmn", bpmn)
    first = catalogue.build(bpmn)
    assert catalogue.build(bpmn) == first  # deterministic
    return first


def test_steps_come_in_reading_order_with_roles_due_dates_and_forms(page: str) -> None:
    assert '<a id="review_case"></a>' in page and "## 法制审核 (`review_case`)" in page
    assert "![法制审核](processes/review_case.png)" in page
    assert "| 1 | 送审 (`submitted`) | start event |" in page
    assert (
        "| 2 | 准备送审材料 (`prepare`) | user task | 办案人员 | `clock_due('法制审核')` | form: 1 field |"
        in page
    )
    assert "| `materials` | 送审材料 | string | yes |  |" in page
    assert "| 4.2 | 审查事实证据 (`check_facts`) | user task |" in page  # inside the subprocess
    assert "| 4a | 审核期限届满 (`review_timer`) | timer boundary event (non-interrupting) |" in page
    assert "timeDuration `P5D`" in page


def test_messages_calls_and_decisions_are_linked(page: str) -> None:
    assert "message start event | " in page and "message `withdraw`" in page
    assert "calls `collective_discussion`" in page  # not in the catalogue: no link
    assert "decision [判定审核类型](#review_type)" in page


def test_roles_clocks_branches_and_tables(page: str) -> None:
    assert "| 办案人员 | `officer` |" in page
    assert "| 法制审核 | `clock_due` | 2 |" in page
    assert "| 法制审核 | `stop_clock` | 16.2 |" in page  # in the event subprocess's script
    assert "| 需要集体讨论？ | 集体讨论 “需要” | `needs_discussion` |" in page
    assert "| 需要集体讨论？ | split “不需要” | otherwise (default) |" in page
    assert '<a id="review_type"></a>' in page and "hit policy FIRST" in page
    assert '| 1 | `>= 100000` | `"institution"` | `"major"` | 机构大额 |' in page
