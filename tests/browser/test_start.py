"""发起 in a real browser: officer1 registers a clue, fixes a field error, and finds 核查线索 waiting."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import screenshot


def test_officer_registers_a_clue(new_page, live_server) -> None:  # type: ignore[no-untyped-def]
    page = new_page("officer1")
    page.get_by_role("navigation").get_by_role("link", name="发起").click()
    page.get_by_role("row").filter(has_text="线索登记").get_by_role("link", name="填写").click()
    expect(page.get_by_role("heading", name="线索登记")).to_be_visible()
    page.get_by_label("线索来源").select_option(label="日常检查")
    page.locator("#party_name").fill("渝北区某某诊所")
    page.get_by_label("线索摘要").fill("日常检查发现挂床住院")
    page.get_by_label("涉案金额（元）").fill("三千")
    page.get_by_role("button", name="提交并启动流程").click()
    expect(page.get_by_role("alert").filter(has_text="金额")).to_be_visible()
    expect(page.get_by_label("线索摘要")).to_have_value("日常检查发现挂床住院")  # nothing lost
    screenshot(page, "start_form_errors")
    page.get_by_label("涉案金额（元）").fill("3000")
    page.get_by_role("button", name="提交并启动流程").click()
    expect(page.get_by_role("heading", name="核查线索")).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name="待办").click()
    row = page.get_by_role("row").filter(has_text="渝北区某某诊所")
    expect(row.filter(has_text="核查线索")).to_be_visible()
