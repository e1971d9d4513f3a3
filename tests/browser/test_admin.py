"""系统管理 › 联席成员单位 in a real browser: the admin adds a member agency, gets a Chinese error next
to the wrong field with the input kept, fixes it, and disables the agency from the list."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import screenshot


def test_admin_adds_and_disables_a_member_agency(new_page) -> None:  # type: ignore[no-untyped-def]
    page = new_page("admin")
    page.get_by_role("navigation").get_by_role("link", name="联席成员单位").click()
    expect(page.get_by_role("heading", name="联席成员单位")).to_be_visible()
    page.get_by_label("单位代码").fill("ybj_city")
    page.get_by_label("名称").fill("市医疗保障局")
    page.get_by_label("职责范围").fill("市级定点医药机构")
    page.get_by_label("定点零售药店").check()
    page.get_by_label("抄告渠道").select_option(label="共享目录（投递文件）")
    page.get_by_label("地址（邮箱、https:// 接口地址或共享目录）").fill("srv/infocopy")
    page.get_by_role("button", name="添加").click()
    expect(page.locator("#destination-err")).to_contain_text("共享目录应为服务器上的绝对路径")
    expect(page.get_by_label("职责范围")).to_have_value("市级定点医药机构")  # nothing lost
    expect(page.get_by_label("定点零售药店")).to_be_checked()
    screenshot(page, "admin_agencies")
    page.get_by_label("地址（邮箱、https:// 接口地址或共享目录）").fill("/srv/infocopy")
    page.get_by_role("button", name="添加").click()
    row = page.get_by_role("row").filter(has_text="ybj_city")
    expect(row).to_contain_text("定点零售药店")
    expect(row).to_contain_text("/srv/infocopy")
    row.get_by_role("button", name="停用").click()
    expect(
        page.get_by_role("row").filter(has_text="ybj_city").get_by_role("button", name="启用")
    ).to_be_visible()
