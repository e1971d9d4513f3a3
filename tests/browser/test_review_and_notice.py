"""In a real browser: the 法制审核员 receives and works the review the officer submitted (a form error
on the way), and an officer generates the 行政处罚事先告知书 from the task, downloads it and finds the
文号 the process drew in the .docx."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from engine.clock import clock
from integrations.documents import text_of
from tests.browser.conftest import screenshot
from tests.processes.test_penalty_case import (
    PERSON,
    START,
    consider,
    filed,
    investigate,
    notify,
    propose,
    respond,
    review,
)


def _yes(page, legend: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("group", name=legend).get_by_label("是").check()


def test_legal_reviewer_works_the_review(seeded, new_page) -> None:  # type: ignore[no-untyped-def]
    clock.set(START)
    d = filed(seeded, PERSON)  # an individual fined 12 000 元: 法制审核 is required (≥ 1 万)
    investigate(d, amount="4000")
    review(d)
    propose(d, "12000", "4000", article="a41")
    notify(d)
    respond(d, "waived")
    consider(d, "12000")
    assert d.open_ids() == ["submit_review"]

    officer = new_page("officer1")
    officer.get_by_role("row").filter(has_text="刘某").get_by_role("link", name="填写法制审核送审表").click()
    officer.get_by_label("本案承办人员（用户名，逗号分隔，至少2人）").fill("officer1,officer2")
    officer.get_by_label("送审情形（行政处罚法第58条）").select_option(value="local_threshold")
    officer.get_by_label("主要证据").fill("询问笔录、购药记录、药店监控截图")
    officer.get_by_label("适用依据（法律条款、裁量基准）").fill("《医疗保障基金使用监督管理条例》第四十一条")
    officer.get_by_role("button", name="提交").click()
    expect(officer.get_by_text("「填写法制审核送审表」已办理")).to_be_visible()

    legal = new_page("legal")
    row = legal.get_by_role("row").filter(has_text="受理送审，指定审核人")
    expect(row).to_contain_text("刘某")
    expect(row).to_contain_text("待认领（法制审核员）")
    row.get_by_role("button", name="认领").click()
    expect(legal.get_by_role("heading", name="受理送审，指定审核人")).to_be_visible()
    expect(legal.locator("#investigators_view")).to_have_text("officer1,officer2")
    legal.get_by_label("审核人（用户名，不得是本案承办人员）").fill("legal")
    legal.get_by_role("group", name="是否先征求法律顾问意见").get_by_label("否").check()
    legal.get_by_role("button", name="提交").click()
    expect(legal.get_by_text("「受理送审，指定审核人」已办理")).to_be_visible()

    legal.get_by_role("link", name="法制审核（审核要点、审核意见）").click()
    expect(legal.locator("#review_fine_view")).to_contain_text("12000")
    for legend in (
        "执法主体合法，未超越职权",
        "执法人员具备执法资格",
        "程序合法",
        "事实清楚，证据确凿充分",
        "适用法律准确，裁量适当",
        "执法文书规范、完备",
    ):
        _yes(legal, legend)
    legal.get_by_role("group", name="涉嫌犯罪，需要移送司法机关").get_by_label("否").check()
    legal.get_by_label("审核结论").select_option(label="通过")
    legal.get_by_role("button", name="提交").click()  # the opinion is missing
    expect(legal.get_by_role("alert").filter(has_text="请填写「法制审核意见")).to_be_visible()
    expect(legal.get_by_role("alert").filter(has_text="表单有 1 处需要修改")).to_be_visible()
    expect(legal.get_by_label("审核结论")).to_have_value("passed")  # what was entered is kept
    screenshot(legal, "legal_review_form")
    legal.get_by_label("法制审核意见（申请延期时写明理由）").fill(
        "事实清楚，证据充分，程序合法，裁量适当，同意。"
    )
    legal.get_by_role("button", name="提交").click()
    expect(legal.get_by_text("「法制审核（审核要点、审核意见）」已办理")).to_be_visible()

    assert d.open_ids() == ["decide_penalty"]
    director = new_page("director")
    expect(director.get_by_role("row").filter(has_text="刘某")).to_contain_text("作出行政处罚决定")


def test_officer_generates_and_downloads_the_prior_notice(seeded, new_page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clock.set(START)
    d = filed(seeded)
    investigate(d)
    review(d)
    propose(d, "40000", "12000")
    assert d.open_ids() == ["serve_notice"]
    drawn = d.data()["notice_number"]
    assert drawn == "渝北医保告〔2024〕1号"  # drawn before the notice is served

    page = new_page("officer1")
    page.get_by_role("link", name="送达行政处罚事先告知书").click()
    panel = page.locator("#task-documents")
    expect(panel).to_contain_text("本环节文书")
    panel.get_by_role("listitem").filter(has_text="行政处罚事先告知书").get_by_role(
        "button", name="生成"
    ).click()
    expect(page.get_by_text(f"已生成「行政处罚事先告知书」，文号 {drawn}")).to_be_visible()

    with page.expect_download() as info:
        page.locator("#task-documents").get_by_role("link", name=drawn).click()
    download = info.value
    assert download.suggested_filename == f"{drawn}行政处罚事先告知书.docx"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    text = text_of(saved.read_bytes())
    assert drawn in text and "某某大药房：" in text
    assert "处罚款人民币40000.00元（大写：人民币肆万元整）" in text

    page.get_by_label("送达方式").select_option(label="直接送达")
    page.get_by_role("button", name="提交").click()
    expect(page.get_by_text("「送达行政处罚事先告知书」已办理")).to_be_visible()
    page.get_by_role("link", name="登记陈述申辩和听证申请").click()
    expect(page.locator("#notice_number_view")).to_have_text(drawn)  # the number on the next step
    assert d.data()["notice_number"] == drawn
