"""发起: officers start processes from the browser and the API with the start event's form."""

from __future__ import annotations

from sqlalchemy import select

from engine.db import unit_of_work
from engine.models import AuditEvent, Case, ProcessInstance, Task
from engine.users import create_api_token

CLUE = {
    "clue_source": "inspection",
    "party_name": "某某大药房",
    "party_type": "institution",
    "institution_type": "pharmacy",
    "clue_summary": "日常检查发现串换药品",
    "amount_involved": "12000.50",
}


def test_list_shows_what_the_roles_may_start(as_user) -> None:  # type: ignore[no-untyped-def]
    officer = as_user("officer1").get("/start").get_data(as_text=True)
    assert "线索登记" in officer and "/start/penalty_case" in officer
    assert "/start/legal_review" not in officer and "/start/collective_discussion" not in officer
    assert "/start/ledger_clearance" not in officer  # a 科室负责人 registers problems
    assert "/intake/transfers/new" in officer  # transfers keep their own page (documents)
    chief = as_user("chief").get("/start").get_data(as_text=True)
    assert "/start/ledger_clearance" in chief and "/start/self_inspection" in chief
    assert "没有可以发起的流程" in as_user("legal").get("/start").get_data(as_text=True)


def test_register_a_clue(as_user, seeded) -> None:  # type: ignore[no-untyped-def]
    officer = as_user("officer1")
    page = officer.get("/start/penalty_case").get_data(as_text=True)
    assert "线索来源" in page and "当事人" in page
    done = officer.post("/start/penalty_case", CLUE)
    assert done.status_code == 302 and "/tasks/" in done.location
    task_page = officer.get(done.location).get_data(as_text=True)
    assert "核查线索" in task_page
    with seeded() as s:
        instance = s.scalars(select(ProcessInstance).order_by(ProcessInstance.id.desc())).first()
        assert instance.started_by == "officer1" and instance.unit_code == "yubei"
        case = s.get(Case, instance.case_id)
        assert (case.party_name, case.unit_code, str(case.amount_involved)) == (
            "某某大药房",
            "yubei",
            "12000.50",
        )
        task = s.scalars(select(Task).where(Task.instance_id == instance.id)).one()
        assert task.bpmn_id == "verify_clue"
        actions = set(s.scalars(select(AuditEvent.action).where(AuditEvent.instance_id == instance.id)))
        assert "instance.start" in actions


def test_bad_input_keeps_what_was_typed(as_user, seeded) -> None:  # type: ignore[no-untyped-def]
    with seeded() as s:
        before = s.scalar(select(ProcessInstance.id).order_by(ProcessInstance.id.desc()))
    bad = as_user("officer1").post(
        "/start/penalty_case", {**CLUE, "party_name": "", "amount_involved": "一万", "clue_source": "x"}
    )
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400
    assert "请填写「当事人」" in html and "日常检查发现串换药品" in html and "一万" in html
    assert html.count('class="field-error"') == 3
    with seeded() as s:
        assert s.scalar(select(ProcessInstance.id).order_by(ProcessInstance.id.desc())) == before


def test_refused_without_the_role(as_user) -> None:  # type: ignore[no-untyped-def]
    legal = as_user("legal")
    for response in (legal.get("/start/penalty_case"), legal.post("/start/penalty_case", CLUE)):
        assert response.status_code == 403 and "发起" in response.get_data(as_text=True)
    officer = as_user("officer1")
    called = officer.get("/start/legal_review")
    assert called.status_code == 403 and "不能手工发起" in called.get_data(as_text=True)
    assert officer.get("/start/no_such_process").status_code == 404
    assert officer.get("/start/incoming_transfer").status_code == 302


def test_api_start(app, seeded) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(seeded) as s:
        officer, legal = create_api_token(s, "officer1"), create_api_token(s, "legal")
    client = app.test_client()

    def post(token: str, key: str, body: object):  # type: ignore[no-untyped-def]
        return client.post(
            f"/api/processes/{key}/start", json=body, headers={"Authorization": f"Bearer {token}"}
        )

    ok = post(officer, "penalty_case", {"data": CLUE})
    assert ok.status_code == 201
    body = ok.get_json()
    assert body["case_id"] and [t["bpmn_id"] for t in body["tasks"]] == ["verify_clue"]
    bad = post(officer, "penalty_case", {"data": {**CLUE, "party_name": ""}})
    assert bad.status_code == 400 and bad.get_json()["fields"] == {"party_name": "请填写「当事人」"}
    assert post(officer, "penalty_case", ["not", "an", "object"]).status_code == 400
    assert post(legal, "penalty_case", {"data": CLUE}).status_code == 403
    assert post(officer, "collective_discussion", {"data": {}}).status_code == 403
    assert post(officer, "incoming_transfer", {"data": {}}).status_code == 400
    assert post(officer, "nothing", {"data": {}}).status_code == 404
    assert "/api/processes/{key}/start" in client.get("/api/openapi.json").get_json()["paths"]
