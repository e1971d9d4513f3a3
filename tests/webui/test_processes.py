"""流程管理 over HTTP: uploads from Camunda Modeler 7 (and malicious files), the modeller's draft /
validate / diff / deploy endpoints, versions, migration with dry run and move back, heat maps."""

from __future__ import annotations

import json
from datetime import timedelta
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from engine import instances
from engine.db import unit_of_work
from engine.models import AuditEvent, Definition, ProcessDraft, ProcessInstance, Task, TaskState
from engine.users import actor_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "modeler"
BPMN = (FIXTURES / "clue_triage.bpmn").read_bytes()
DMN = (FIXTURES / "triage_level.dmn").read_bytes()


def upload(browser, *files: tuple[str, bytes], action: str = "deploy"):  # type: ignore[no-untyped-def]
    """POST the upload form; the body is encoded in memory (a large body in the test client's own
    temporary file would be left open by it)."""
    if not browser.token:
        browser.get("/processes/")
    fields = MultiDict([("csrf_token", browser.token), ("action", action)])
    for name, content in files:
        fields.add("files", FileStorage(BytesIO(content), filename=name))
    boundary, body = encode_multipart(fields)
    response = browser.client.post(
        "/processes/upload", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    return response


def count(sf, model) -> int:  # type: ignore[no-untyped-def]
    with sf() as s:
        return s.scalar(select(func.count()).select_from(model))


def api(browser, path: str, xml: str | None = None):  # type: ignore[no-untyped-def]
    if xml is None:
        return browser.client.get(path)
    return browser.client.post(
        path,
        data=json.dumps({"xml": xml}),
        content_type="application/json",
        headers={"X-CSRF-Token": browser.token},
    )


def start(sf, amount: int = 200000) -> int:  # type: ignore[no-untyped-def]
    with unit_of_work(sf) as s:
        variables = {"complainant": "张三", "clue_summary": "串换药品", "amount": amount}
        return instances.start(s, "clue_triage", actor=actor_for(s, "officer1"), variables=variables).id


@pytest.fixture
def modeler(as_user):  # type: ignore[no-untyped-def]
    return as_user("modeler")


@pytest.fixture
def deployed(seeded, modeler):  # type: ignore[no-untyped-def]
    response = upload(modeler, ("clue_triage.bpmn", BPMN), ("triage_level.dmn", DMN))
    assert response.status_code == 302, response.get_data(as_text=True)
    return seeded


def test_only_process_owners_deploy_and_migrate(seeded, as_user) -> None:
    officer = as_user("officer1")
    page = officer.get("/processes/")
    assert page.status_code == 403 and "您没有权限" in page.get_data(as_text=True)
    supervisor = as_user("supervisor")
    assert supervisor.get("/processes/").status_code == 200  # may look
    assert upload(supervisor, ("clue_triage.bpmn", BPMN)).status_code == 403
    assert (
        supervisor.post("/processes/penalty_case/migrate", {"target": "1", "instance": "1"}).status_code
        == 403
    )
    assert supervisor.get("/processes/modeller?file=penalty_case.bpmn").status_code == 403
    assert count(seeded, Definition) == count(seeded, Definition)  # nothing deployed by them
    with seeded() as s:
        assert s.scalars(select(Definition).where(Definition.key == "clue_triage")).first() is None


def test_upload_camunda_modeler_files_deploys_and_downloads_them_back(deployed, modeler) -> None:
    with deployed() as s:
        rows = {d.key: d for d in s.scalars(select(Definition).where(Definition.deployed_by == "modeler"))}
        assert set(rows) == {"clue_triage", "triage_level"}
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "definition.deploy")).all()
        assert {e.detail["key"] for e in events if e.actor == "modeler"} == {"clue_triage", "triage_level"}
    page = modeler.get("/processes/").get_data(as_text=True)
    assert "投诉举报线索分办" in page and "线索等级" in page and "已部署" in page
    download = modeler.get("/processes/clue_triage/1/download")
    assert download.data == BPMN
    assert download.headers["Content-Disposition"] == "attachment; filename=clue_triage.bpmn"
    # a case starts on it: lanes, formData, the timer and the decision table all work
    instance_id = start(deployed)
    with deployed() as s:
        task = s.scalars(select(Task).where(Task.instance_id == instance_id)).one()
        assert (task.bpmn_id, task.candidate_groups) == ("register_clue", ["officer"])
        assert s.get(ProcessInstance, instance_id).next_timer_at is not None
    versions = modeler.get("/processes/clue_triage").get_data(as_text=True)
    assert f"#{instance_id}" in versions and "登记核实线索" in versions


def test_legacy_activiti_prefix_is_read_and_stored_as_camunda(seeded, modeler) -> None:
    legacy = (FIXTURES / "clue_triage_activiti.bpmn").read_bytes()
    assert b"http://activiti.org/bpmn" in legacy
    assert (
        upload(modeler, ("clue_triage_activiti.bpmn", legacy), ("triage_level.dmn", DMN)).status_code == 302
    )
    with seeded() as s:
        stored = s.scalars(select(Definition).where(Definition.key == "clue_triage_legacy")).one()
        assert "http://camunda.org/schema/1.0/bpmn" in stored.xml and "activiti.org" not in stored.xml
    with unit_of_work(seeded) as s:
        instance = instances.start(
            s,
            "clue_triage_legacy",
            actor=actor_for(s, "officer1"),
            variables={"clue_summary": "x", "amount": 1},
        )
        task = s.scalars(select(Task).where(Task.instance_id == instance.id)).one()
        assert (task.candidate_groups, task.due_at - task.created_at) == (
            ["officer"],
            timedelta(days=5),
        )


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
<bpmn:process id="p" name="&xxe;" isExecutable="true"/></bpmn:definitions>"""
LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'.encode()
        for i in range(1, 10)
    )
    + b']>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">'
    + b"&lol9;</bpmn:definitions>"
)
FORBIDDEN = BPMN.replace(b"level == '\xe9\x87\x8d\xe7\x82\xb9'", b"__import__('os').system('id')")
HUGE = BPMN.replace(
    b"<bpmn:collaboration", b"<!--" + b"x" * (3 * 1024 * 1024) + b"-->\n  <bpmn:collaboration", 1
)


UNSAFE = [
    ("xxe.bpmn", XXE, "不允许 DOCTYPE/ENTITY"),
    ("laughs.bpmn", LAUGHS, "不允许 DOCTYPE/ENTITY"),
    ("huge.bpmn", HUGE, "文件过大"),
    ("notes.txt", b"hello", "文件名须以 .bpmn 或 .dmn 结尾"),
]
# A draft is never run, so a forbidden expression stops deployment (and validation), not a draft.
CASES = [(*u, action) for u in UNSAFE for action in ("deploy", "draft")]
CASES.append(("clue_triage.bpmn", FORBIDDEN, "Flow_key", "deploy"))


@pytest.mark.parametrize(("name", "content", "message", "action"), CASES)
def test_malicious_uploads_are_refused_and_change_nothing(
    seeded, modeler, name, content, message, action
) -> None:
    definitions, events = count(seeded, Definition), count(seeded, AuditEvent)
    response = upload(modeler, (name, content), ("triage_level.dmn", DMN), action=action)
    text = response.get_data(as_text=True)
    assert response.status_code == 400, text
    assert "文件未被接受，没有保存或部署任何内容" in text and message in text
    assert (count(seeded, Definition), count(seeded, AuditEvent), count(seeded, ProcessDraft)) == (
        definitions,
        events,
        0,
    )


def test_forbidden_expression_is_named_in_chinese(seeded, modeler) -> None:
    text = upload(modeler, ("clue_triage.bpmn", FORBIDDEN), ("triage_level.dmn", DMN)).get_data(as_text=True)
    assert "clue_triage.bpmn（Flow_key）" in text and "__import__" in text


def test_modeller_draft_validate_diff_deploy(deployed, modeler) -> None:
    page = modeler.get("/processes/modeller?file=clue_triage.bpmn")
    assert page.status_code == 200 and "部署后成为第 2 版" in page.get_data(as_text=True)
    source = api(modeler, "/processes/modeller/source.json?file=clue_triage.bpmn").get_json()
    assert source["kind"] == "bpmn" and source["draft"] is None and "camunda:formData" in source["xml"]

    broken = source["xml"].replace('camunda:candidateGroups="officer"', 'camunda:candidateGroups="nobody"')
    assert api(modeler, "/processes/modeller/save?file=clue_triage.bpmn", broken).status_code == 200
    again = api(modeler, "/processes/modeller/source.json?file=clue_triage.bpmn").get_json()
    assert again["draft"] is not None and 'candidateGroups="nobody"' in again["xml"]

    problems = api(modeler, "/processes/modeller/validate?file=clue_triage.bpmn", broken).get_json()[
        "problems"
    ]
    assert [(p["element"], "nobody" in p["message"]) for p in problems] == [("register_clue", True)]
    refused = api(modeler, "/processes/modeller/deploy?file=clue_triage.bpmn", broken)
    assert refused.status_code == 400 and refused.get_json()["problems"][0]["element"] == "register_clue"

    edited = (
        source["xml"]
        .replace('camunda:dueDate="P5D"', 'camunda:dueDate="P10D"')
        .replace(">P5D</bpmn:timeDuration>", ">P7D</bpmn:timeDuration>")
    )
    assert (
        api(modeler, "/processes/modeller/validate?file=clue_triage.bpmn", edited).get_json()["problems"]
        == []
    )
    diff = api(modeler, "/processes/modeller/diff?file=clue_triage.bpmn", edited).get_json()
    assert diff["base"] == "第 1 版"
    changed = {(c["id"], p["key"], p["old"], p["new"]) for c in diff["changes"] for p in c["props"]}
    assert changed == {
        ("register_clue", "camunda:dueDate", "P5D", "P10D"),
        ("Timer_register_overdue", "timerEventDefinition/timeDuration", "P5D", "P7D"),
    }
    deployed_now = api(modeler, "/processes/modeller/deploy?file=clue_triage.bpmn", edited).get_json()
    assert deployed_now["deployed"] == [{"key": "clue_triage", "name": "投诉举报线索分办", "version": 2}]
    assert count(deployed, ProcessDraft) == 0
    assert (
        api(modeler, "/processes/modeller/deploy?file=clue_triage.bpmn", edited).get_json()["deployed"] == []
    )


def test_dmn_opens_in_the_modeller_and_deploys_a_new_version(deployed, modeler) -> None:
    source = api(modeler, "/processes/modeller/source.json?file=triage_level.dmn").get_json()
    assert source["kind"] == "dmn"
    edited = source["xml"].replace("&gt;= 100000", "&gt;= 50000")
    diff = api(modeler, "/processes/modeller/diff?file=triage_level.dmn", edited).get_json()
    assert [(c["id"], c["props"][0]["new"]) for c in diff["changes"]] == [("DecisionRule_0key", ">= 50000")]
    result = api(modeler, "/processes/modeller/deploy?file=triage_level.dmn", edited).get_json()
    assert result["deployed"] == [{"key": "triage_level", "name": "线索等级", "version": 2}]


def test_migrate_with_dry_run_then_move_back(deployed, modeler) -> None:
    instance_id = start(deployed)
    source = api(modeler, "/processes/modeller/source.json?file=clue_triage.bpmn").get_json()["xml"]
    edited = source.replace('camunda:candidateGroups="officer"', 'camunda:candidateGroups="section_chief"')
    api(modeler, "/processes/modeller/deploy?file=clue_triage.bpmn", edited)
    with deployed() as s:
        v1, v2 = s.scalars(
            select(Definition.id).where(Definition.key == "clue_triage").order_by(Definition.version)
        ).all()
    page = modeler.get("/processes/clue_triage").get_data(as_text=True)
    assert "迁移所选实例" in page and f'value="{instance_id}"' in page

    plan = modeler.post(
        "/processes/clue_triage/migrate", {"target": str(v2), "all_of": str(v1), "action": "plan"}
    )
    text = plan.get_data(as_text=True)
    assert (
        plan.status_code == 200
        and "可以迁移" in text
        and "登记核实线索" in text
        and "尚未改变任何实例" in text
    )
    with deployed() as s:
        assert s.get(ProcessInstance, instance_id).definition_id == v1

    done = modeler.post(
        "/processes/clue_triage/migrate", {"target": str(v2), "instance": str(instance_id), "action": "run"}
    )
    assert "已迁移" in done.get_data(as_text=True)
    with deployed() as s:
        assert s.get(ProcessInstance, instance_id).definition_id == v2
        task = s.scalars(
            select(Task).where(Task.instance_id == instance_id, Task.state == TaskState.OPEN)
        ).one()
        assert task.candidate_groups == ["section_chief"]

    page = modeler.get("/processes/clue_triage").get_data(as_text=True)
    assert "撤销迁移" in page and "第 1 版 → 第 2 版" in page
    back = modeler.post(f"/processes/instances/{instance_id}/revert", {"key": "clue_triage"})
    assert back.status_code == 302
    with deployed() as s:
        assert s.get(ProcessInstance, instance_id).definition_id == v1
        actions = s.scalars(
            select(AuditEvent.action).where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.seq)
        ).all()
        assert actions[-2:] == ["instance.migrate", "instance.migrate_back"]


def test_refused_migration_says_why(deployed, modeler) -> None:
    instance_id = start(deployed)
    source = api(modeler, "/processes/modeller/source.json?file=clue_triage.bpmn").get_json()["xml"]
    api(
        modeler,
        "/processes/modeller/deploy?file=clue_triage.bpmn",
        source.replace("register_clue", "record_clue"),
    )
    with deployed() as s:
        v2 = s.scalar(select(Definition.id).where(Definition.key == "clue_triage", Definition.version == 2))
    text = modeler.post(
        "/processes/clue_triage/migrate", {"target": str(v2), "instance": str(instance_id), "action": "plan"}
    ).get_data(as_text=True)
    assert "不能迁移" in text and "当前环节「登记核实线索」（register_clue）在新版本中不存在" in text
    assert "确认迁移" not in text


def test_heatmap_counts_waiting_instances(deployed, modeler) -> None:
    for _ in range(3):
        start(deployed)
    data = modeler.get("/processes/clue_triage/1/heatmap.json").get_json()
    assert data["cells"]["register_clue"]["waiting"] == 3
    page = modeler.get("/processes/clue_triage/1/heatmap").get_data(as_text=True)
    assert "登记核实线索" in page and "当前停留" in page


def test_modeller_errors_are_json_in_chinese(deployed, modeler) -> None:
    response = api(modeler, "/processes/modeller/source.json?file=nothing.bpmn")
    assert response.status_code == 404 and "既没有草稿也未部署" in response.get_json()["error"]
    response = api(modeler, "/processes/modeller/validate?file=../etc/passwd", "<x/>")
    assert response.status_code == 400 and "文件名须以 .bpmn 或 .dmn 结尾" in response.get_json()["error"]
    response = modeler.client.post(
        "/processes/modeller/save?file=clue_triage.bpmn", data="{}", content_type="application/json",
        headers={"X-CSRF-Token": modeler.token},
    )  # fmt: skip
    assert response.status_code == 400 and response.get_json()["error"] == "请求中没有流程文件内容"
    page = modeler.get("/processes/modeller?file=nothing.bpmn")
    assert page.status_code == 404 and "既没有草稿也未部署" in page.get_data(as_text=True)


def test_case_file_draws_the_instance_on_its_migrated_version(seeded, modeler, as_user) -> None:
    from engine import migration, registry
    from tests.engine.helpers import CLUE

    with unit_of_work(seeded) as s:
        instance = instances.start(s, "penalty_case", actor=actor_for(s, "officer1"), variables=CLUE)
        instance_id, case_id = instance.id, instance.case_id
        xml = registry.get_latest(s, "penalty_case").xml.replace('name="核查线索"', 'name="核查线索（新）"')
        v2 = registry.deploy(s, [registry.Upload("penalty_case.bpmn", xml.encode())], actor="modeler")[0]
        v2_id = v2.id
    assert case_id is not None
    officer = as_user("officer1")
    before = officer.client.get(f"/cases/{case_id}/diagram/{instance_id}.json").get_json()
    assert before["version"] == 1 and before["states"]["verify_clue"] == "current"
    with unit_of_work(seeded) as s:
        migration.migrate(s, instance_id, v2_id, actor=actor_for(s, "modeler"))
    after = officer.client.get(f"/cases/{case_id}/diagram/{instance_id}.json").get_json()
    assert after["version"] == 2 and after["states"]["verify_clue"] == "current"
    assert 'name="核查线索（新）"' in after["xml"]
