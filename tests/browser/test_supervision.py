"""超期督办 in a real browser: the supervisor opens the board, filters it, sends a 催办; the officer
signs in and finds it under the bell."""

from __future__ import annotations

from datetime import datetime

from playwright.sync_api import expect

from engine import tasks
from engine.clock import BEIJING, clock
from engine.db import unit_of_work
from engine.users import actor_for
from tests.browser.conftest import screenshot
from tests.processes.driver import Driver
from tests.processes.test_ledger_clearance import register
from tests.processes.test_penalty_case import filed, to_statement_window

CLUE = {"clue_source": "report", "party_type": "institution", "clue_summary": "群众举报串换药品"}


def seed_cases(seeded) -> None:  # type: ignore[no-untyped-def]
    """Cases begun in late September 2024 through the real processes, read on Friday 10-18."""
    clock.set(datetime(2024, 9, 23, 10, tzinfo=BEIJING))
    late = Driver.start(seeded, "penalty_case", "officer1", party_name="渝北区甲大药房", **CLUE)
    with unit_of_work(seeded) as s:
        tasks.claim(s, late.task("verify_clue").id, actor=actor_for(s, "officer1"))
    Driver.start(seeded, "penalty_case", "officer2", party_name="渝北区乙社区卫生服务中心", **CLUE)
    register(seeded)
    register(seeded, institution_name="重庆某某中医院", problem_description="重复收取护理费")
    window = filed(seeded, {**CLUE, "party_name": "渝北区丙医院", "amount_involved": "86000"})
    to_statement_window(window)
    clock.set(datetime(2024, 10, 11, 10, tzinfo=BEIJING))
    Driver.start(seeded, "penalty_case", "officer3", party_name="渝北区丁药店", **CLUE)
    clock.set(datetime(2024, 10, 18, 9, 30, tzinfo=BEIJING))


def test_supervisor_urges_and_the_officer_sees_it(seeded, new_page) -> None:  # type: ignore[no-untyped-def]
    seed_cases(seeded)
    page = new_page("supervisor")
    page.get_by_role("link", name="超期督办").click()
    expect(page.get_by_role("heading", name="超期督办")).to_be_visible()
    page.get_by_label("到期范围").select_option(label="15 个工作日内到期")
    page.get_by_role("button", name="筛选").click()
    board = page.get_by_role("table", name="督办事项")
    expect(board.get_by_role("row").filter(has_text="渝北区甲大药房").first).to_contain_text(
        "已逾期 1 个工作日"
    )
    expect(board).to_contain_text("重庆某某中医院")
    screenshot(page, "supervision_board")

    page.get_by_label("机构").fill("甲大药房")
    page.get_by_role("button", name="筛选").click()
    expect(board).not_to_contain_text("重庆某某中医院")
    row = board.get_by_role("row").filter(has_text="渝北区甲大药房").filter(has_text="任务")
    expect(row).to_contain_text("张办案")
    row.get_by_text("催办", exact=True).click()
    row.get_by_label("催办意见").fill("核查期限已过，请今日内完成核查并报科室负责人")
    row.get_by_role("button", name="发送催办").click()
    expect(page.get_by_role("status")).to_contain_text("已催办：张办案")
    expect(page.get_by_label("机构")).to_have_value("甲大药房")  # back on the filtered board

    officer = new_page("officer1")
    bell = officer.get_by_role("link", name="通知（1 条未读）")
    expect(bell).to_contain_text("1")
    bell.click()
    notes = officer.get_by_role("table", name="通知列表")
    expect(notes).to_contain_text("【催办】")
    expect(notes).to_contain_text("核查期限已过，请今日内完成核查并报科室负责人")
    notes.get_by_role("link", name="【催办】").first.click()
    expect(officer.get_by_role("region", name="催办记录")).to_contain_text("核查期限已过")
    expect(officer.get_by_role("link", name="通知（0 条未读）")).to_be_visible()
