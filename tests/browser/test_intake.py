"""The public 举报 page in a real browser: no sign-in, a Chinese error next to the field that is
wrong, the receipt number and query code after submitting, and the status check with them."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import screenshot


def test_report_submit_and_check_status(browser_instance, live_server) -> None:  # type: ignore[no-untyped-def]
    context = browser_instance.new_context(viewport={"width": 1100, "height": 800}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(live_server + "/report")
    expect(page.get_by_role("heading", name="我要举报")).to_be_visible()
    page.get_by_label("受理机关").select_option(label="渝北区医疗保障局")
    page.get_by_label("被举报机构（或个人）").fill("某某大药房（观音桥店）")
    page.get_by_label("举报事项").select_option("串换药品、耗材、诊疗项目")
    page.get_by_label("问题描述").fill("刷卡买药")
    page.get_by_label("联系电话").fill("138-0000-1234")
    page.get_by_role("button", name="提交举报").click()
    expect(page.locator("#description-err")).to_contain_text("请具体描述问题（至少 10 个字）")
    expect(page.get_by_label("被举报机构（或个人）")).to_have_value("某某大药房（观音桥店）")
    screenshot(page, "intake")

    page.get_by_label("问题描述").fill(
        "2024年9月在该店用医保卡购买保健品，收据上写的是药品名称，店员说可以这样刷。"
    )
    page.get_by_role("button", name="提交举报").click()
    expect(page.get_by_role("heading", name="举报已提交")).to_be_visible()
    number = page.locator("#receipt-number").inner_text()
    code = page.locator("#query-code").inner_text()
    assert number.startswith("YUBEI-JB") and len(code) == 8

    page.get_by_role("link", name="查询办理进度").click()
    page.get_by_label("受理编号").fill(number)
    page.get_by_label("查询码").fill("WRONG123")
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_role("alert")).to_contain_text("受理编号或查询码不正确")
    page.get_by_label("查询码").fill(code.lower())
    page.get_by_role("button", name="查询").click()
    expect(page.locator("#report-status")).to_have_text("已收到，待受理")
    context.close()
