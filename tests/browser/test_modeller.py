"""A process owner in a real browser: upload a Camunda Modeler 7 file, change a timer and a user task's
candidate group and deadline in the embedded modeller's properties panel, validate (a problem shows on
the element), compare, deploy, and a new case runs on the new version; then a waiting instance is
migrated to the new version and continues."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from engine import instances, registry
from engine.clock import BEIJING, clock
from engine.db import unit_of_work
from engine.models import Definition, ProcessInstance, Task, TaskState
from engine.users import actor_for
from tests.browser.conftest import screenshot

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "modeler"
BUNDLE = ROOT / "webui" / "static" / "build" / "modeller.js"


@pytest.fixture(scope="module", autouse=True)
def modeller_bundle() -> None:
    """`make test` builds the bundle; build it here too when run alone (esbuild from npm ci)."""
    sources = list((ROOT / "webui" / "static" / "modeller").iterdir())
    if BUNDLE.exists() and BUNDLE.stat().st_mtime >= max(p.stat().st_mtime for p in sources):
        return
    subprocess.run(["node", str(ROOT / "webui/static/modeller/build.mjs")], check=True, cwd=ROOT)


def start_case(sf, key: str = "clue_triage") -> int:  # type: ignore[no-untyped-def]
    with unit_of_work(sf) as s:
        variables = {"complainant": "张三", "clue_summary": "串换药品", "amount": 200000}
        return instances.start(s, key, actor=actor_for(s, "officer1"), variables=variables).id


def open_task(sf, instance_id: int) -> Task:  # type: ignore[no-untyped-def]
    with sf() as s:
        return s.scalars(
            select(Task).where(Task.instance_id == instance_id, Task.state == TaskState.OPEN)
        ).one()


def group(page, title: str):  # type: ignore[no-untyped-def]
    """Open a properties-panel group (they start collapsed) and return it."""
    header = page.locator(".bio-properties-panel-group-header").filter(has_text=title).first
    if "open" not in (header.get_attribute("class") or ""):
        header.click()
    return page.locator(".bio-properties-panel-group").filter(has=header)


def test_edit_timer_and_candidate_group_then_deploy_and_run(seeded, new_page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    clock.set(datetime(2025, 3, 3, 10, tzinfo=BEIJING))
    page = new_page("modeler")
    page.get_by_role("link", name="流程管理").click()
    page.get_by_label(re.compile("BPMN / DMN 文件")).set_input_files(
        [str(FIXTURES / "clue_triage.bpmn"), str(FIXTURES / "triage_level.dmn")]
    )
    page.get_by_role("button", name="上传并部署").click()
    expect(page.get_by_text(re.compile("已部署：.*投诉举报线索分办 第 1 版"))).to_be_visible()

    page.get_by_role("row").filter(has_text="投诉举报线索分办").get_by_role(
        "link", name="在建模器中编辑"
    ).click()
    expect(page.locator("#modeller[data-ready='1']")).to_be_attached()

    # the user task: candidate group and deadline, through the properties panel
    page.locator("g.djs-element[data-element-id='register_clue']").click()
    assignment = group(page, "办理人设置")
    assignment.get_by_label("候选组（角色代码）").fill("nobody")
    assignment.get_by_label("到期时间（dueDate）").fill("P10D")
    page.get_by_role("button", name="校验").click()
    expect(page.locator(".problem-badge[data-element='register_clue']")).to_be_visible()
    expect(page.get_by_text(re.compile("候选组「nobody」不是已知角色代码"))).to_be_visible()
    assignment.get_by_label("候选组（角色代码）").fill("section_chief")

    # the boundary timer: 5 days -> 10 days
    page.locator("g.djs-element[data-element-id='Timer_register_overdue']").click()
    timer = group(page, "定时器")
    expect(timer.get_by_label("值")).to_have_value("P5D")
    timer.get_by_label("值").fill("P10D")

    page.get_by_role("button", name="校验").click()
    expect(page.get_by_role("status").filter(has_text="校验通过")).to_be_visible()
    expect(page.locator(".problem-badge")).to_have_count(0)
    page.locator("g.djs-element[data-element-id='register_clue']").click()
    group(page, "办理人设置")
    screenshot(page, "modeller")

    page.get_by_role("button", name="与已部署版本比较").click()
    diff = page.locator(".diff-list")
    expect(diff).to_contain_text("camunda:candidateGroups：officer → section_chief")
    expect(diff).to_contain_text("timerEventDefinition/timeDuration：P5D → P10D")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="部署", exact=True).click()
    expect(page.get_by_text("已部署：投诉举报线索分办 第 2 版").first).to_be_visible()

    instance_id = start_case(seeded)
    task = open_task(seeded, instance_id)
    with seeded() as s:
        instance = s.get(ProcessInstance, instance_id)
        assert s.get(Definition, instance.definition_id).version == 2
        assert instance.next_timer_at == task.created_at + timedelta(days=10)
    assert task.due_at == task.created_at + timedelta(days=10)

    # the decision table opens in the dmn-js modeller too
    page.goto(f"{live_server}/processes/modeller?file=triage_level.dmn")
    expect(page.locator("#modeller[data-ready='1']")).to_be_attached()
    expect(page.get_by_role("button", name="决策表：线索等级")).to_be_visible()
    expect(page.locator(".tjs-table")).to_contain_text("10万元以上为重点线索")

    chief = new_page("chief")
    row = chief.get_by_role("row").filter(has_text="登记核实线索")
    expect(row).to_contain_text("待认领（科室负责人）")
    expect(row).to_contain_text(task.due_at.astimezone(BEIJING).strftime("%Y-%m-%d"))


def test_migrate_a_waiting_instance_and_it_continues(seeded, new_page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    clock.set(datetime(2025, 3, 3, 10, tzinfo=BEIJING))
    bpmn = (FIXTURES / "clue_triage.bpmn").read_bytes()
    with unit_of_work(seeded) as s:
        uploads = [
            registry.Upload("clue_triage.bpmn", bpmn),
            registry.Upload("triage_level.dmn", (FIXTURES / "triage_level.dmn").read_bytes()),
        ]
        registry.deploy(s, uploads, actor="modeler")
    instance_id = start_case(seeded)
    v2 = bpmn.replace(b'camunda:candidateGroups="officer"', b'camunda:candidateGroups="section_chief"')
    with unit_of_work(seeded) as s:
        registry.deploy(s, [registry.Upload("clue_triage.bpmn", v2)], actor="modeler")

    page = new_page("modeler")
    page.goto(f"{live_server}/processes/clue_triage")
    version_1 = page.locator("section.version").filter(has_text="第 1 版")
    version_1.get_by_label(f"选择实例 {instance_id}").check()
    version_1.get_by_role("button", name="预演迁移").click()
    plan = page.get_by_role("row").filter(has_text=f"#{instance_id}")
    expect(plan).to_contain_text("可以迁移")
    expect(plan).to_contain_text("登记核实线索")
    page.get_by_role("button", name=re.compile("确认迁移")).click()
    expect(page.get_by_text("已迁移 1 个实例")).to_be_visible()

    page.goto(f"{live_server}/processes/clue_triage")
    expect(page.get_by_role("button", name="撤销迁移")).to_be_visible()
    expect(page.locator("section.version").filter(has_text="第 2 版").first).to_contain_text(
        f"#{instance_id}"
    )
    screenshot(page, "migration")
    page.get_by_role("link", name="← 流程管理").click()
    expect(page.get_by_role("row").filter(has_text="投诉举报线索分办").first).to_contain_text(
        "第 2 版（最新）"
    )
    screenshot(page, "versions")

    page.goto(f"{live_server}/processes/clue_triage/2/heatmap")
    expect(page.locator(".heat-badge")).to_have_text("1")
    screenshot(page, "heatmap")

    chief = new_page("chief")
    chief.get_by_role("row").filter(has_text="登记核实线索").get_by_role("button", name="认领").click()
    chief.get_by_label("核实情况").fill("电话回访举报人，情况属实")
    chief.get_by_label("线索来源").select_option(label="举报电话")
    chief.get_by_role("button", name="提交").click()
    expect(chief.get_by_text("「登记核实线索」已办理")).to_be_visible()
    chief.goto(live_server + "/")
    expect(chief.get_by_role("link", name="科室负责人审批")).to_be_visible()
    with seeded() as s:
        assert s.get(ProcessInstance, instance_id).status == "running"
