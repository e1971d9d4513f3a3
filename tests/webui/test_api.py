"""The JSON API: token auth, the same rules as the HTML, and schemathesis against the OpenAPI."""

from __future__ import annotations

from datetime import datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from engine.clock import BEIJING, clock
from engine.db import unit_of_work
from engine.users import create_api_token
from tests.processes.driver import Driver

CLUE = {
    "clue_source": "report",
    "party_name": "某某大药房",
    "party_type": "institution",
    "clue_summary": "串换药品",
}


@pytest.fixture
def token(seeded) -> str:  # type: ignore[no-untyped-def]
    with unit_of_work(seeded) as s:
        return create_api_token(s, "officer1")


@pytest.fixture
def case(seeded) -> Driver:  # type: ignore[no-untyped-def]
    clock.set(datetime(2024, 9, 23, 10, tzinfo=BEIJING))
    return Driver.start(seeded, "penalty_case", "officer1", **CLUE)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_required(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert client.get("/api/tasks").status_code == 401
    assert client.get("/api/tasks", headers=auth("ybjg_forged")).status_code == 401


def test_list_read_complete(app, token: str, case: Driver) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    page = client.get("/api/tasks", headers=auth(token)).json
    assert page["total"] == 1 and page["items"][0]["bpmn_id"] == "verify_clue"
    task_id = page["items"][0]["id"]
    detail = client.get(f"/api/tasks/{task_id}", headers=auth(token)).json
    assert [f["id"] for f in detail["form_fields"]] == [
        "verification",
        "suggestion",
        "violation_ended_on",
        "health_harmed",
        "extension_reason",
    ]
    bad = client.post(
        f"/api/tasks/{task_id}/complete", json={"data": {"suggestion": "maybe"}}, headers=auth(token)
    )
    assert bad.status_code == 400
    assert set(bad.json["fields"]) == {"verification", "suggestion"}
    assert case.open_ids() == ["verify_clue"]
    ok = client.post(
        f"/api/tasks/{task_id}/complete",
        json={"data": {"verification": "属实", "suggestion": "file"}},
        headers=auth(token),
    )
    assert ok.status_code == 200 and [t["bpmn_id"] for t in ok.json["next"]] == ["decide_filing"]
    again = client.post(
        f"/api/tasks/{task_id}/complete",
        json={"data": {"verification": "属实", "suggestion": "file"}},
        headers=auth(token),
    )
    assert again.status_code == 409 and again.json["error"] == "该任务已被他人处理，请刷新"
    assert client.get(f"/api/cases/{case.case().id}", headers=auth(token)).json["party_name"] == "某某大药房"


def test_other_bureau_is_refused(app, seeded, case: Driver) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(seeded) as s:
        other = create_api_token(s, "other")
    client = app.test_client()
    assert client.get(f"/api/cases/{case.case().id}", headers=auth(other)).status_code == 403
    assert client.get(f"/api/tasks/{case.task('verify_clue').id}", headers=auth(other)).status_code == 403
    assert client.get("/api/tasks", headers=auth(other)).json["total"] == 0


def test_malformed_bodies(app, token: str, case: Driver) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    task_id = case.task("verify_clue").id
    for body in (b"not json", b"[]", b'{"data": 5}'):
        response = client.post(
            f"/api/tasks/{task_id}/complete",
            data=body,
            headers={**auth(token), "Content-Type": "application/json"},
        )
        assert response.status_code == 400 and "JSON" in response.json["error"]
    assert client.get("/api/tasks/99999999999999999999999", headers=auth(token)).status_code == 404


def test_no_server_error_on_generated_input(app, token: str, case: Driver) -> None:  # type: ignore[no-untyped-def]
    """schemathesis generates inputs for every operation of /api/openapi.json: never a 5xx."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 6

    for operation in operations:

        @given(generated=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(generated) -> None:  # type: ignore[no-untyped-def]
            generated.call_and_validate(headers=auth(token), checks=[not_a_server_error])

        run()
