"""An officer's day in a real browser: sign in, claim, a form error, correct it, complete; the
next task reaches the 科室负责人; another bureau's officer gets the 403 page."""

from __future__ import annotations

import re
from datetime import datetime

from playwright.sync_api import expect

from engine.clock import BEIJING, clock
from tests.browser.conftest import screenshot
from tests.processes.driver import Driver

CLUE = {
    "clue_source": "report",
    "party_name": "渝北区某某大药房",
    "party_type": "institution",
    "clue_summary": "群众举报该药房将保健品串换为医保目录内药品结算",
    "amount_involved": "12860.50",
}


def test_officer_completes_a_task_after_fixing_the_form(seeded, new_page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    clock.set(datetime(2024, 9, 23, 10, tzinfo=BEIJING))
    case = Driver.start(seeded, "penalty_case", "officer1", **CLUE)
    Driver.start(seeded, "penalty_case", "officer2", **{**CLUE, "party_name": "渝北区某社区卫生服务中心"})

    page = new_page("officer1")
    expect(page.get_by_role("heading", name="待办任务")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="渝北区某某大药房")
    expect(row).to_contain_text("剩余")
    screenshot(page, "inbox")
    row.get_by_role("button", name="认领").click()
    expect(page.get_by_role("heading", name="核查线索")).to_be_visible()

    page.get_by_label("核查情况").fill("2024年9月24日现场检查，调取进销存记录，串换事实基本属实。")
    page.get_by_role("button", name="提交").click()
    expect(page.get_by_role("alert").filter(has_text="请填写「核查意见」")).to_be_visible()
    expect(page.get_by_label("核查情况")).to_have_value(re.compile("串换事实基本属实"))
    screenshot(page, "task_form_errors")

    page.get_by_label("核查意见").select_option(label="建议立案")
    page.get_by_role("button", name="提交").click()
    expect(page.get_by_text("「核查线索」已办理")).to_be_visible()
    assert case.open_ids() == ["decide_filing"]

    chief = new_page("chief")
    expect(chief.get_by_role("link", name="立案审批")).to_be_visible()
    chief.goto(f"{live_server}/cases/{case.case().id}")
    expect(chief.get_by_role("heading", name=re.compile("案卷"))).to_be_visible()
    expect(chief.get_by_text("核查立案").first).to_be_visible()
    screenshot(chief, "case_file")


def test_another_bureau_gets_the_403_page(seeded, new_page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    clock.set(datetime(2024, 9, 23, 10, tzinfo=BEIJING))
    case = Driver.start(seeded, "penalty_case", "officer1", **CLUE)
    page = new_page("other")
    response = page.goto(f"{live_server}/cases/{case.case().id}")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="您没有权限访问该页面或数据")).to_be_visible()
    expect(page.get_by_text("渝北区某某大药房")).to_have_count(0)
