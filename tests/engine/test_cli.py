"""The `ybjg` command line, run in-process on the test database."""

from __future__ import annotations

import json

import pytest

from engine import cli
from engine.clock import BEIJING, clock
from engine.db import unit_of_work
from engine.models import AuditEvent


@pytest.fixture
def run(db_url, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", db_url)

    def _run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run


def test_start_tasks_complete(seeded, run) -> None:
    from datetime import datetime

    clock.set(datetime(2024, 9, 23, 10, 0, tzinfo=BEIJING))
    code, out, _ = run(
        "start", "penalty_case", "--user", "officer1", "--json",
        "--var", "clue_source=report", "--var", "party_name=某医院", "--var", "party_type=institution",
        "--var", "clue_summary=挂床住院",
    )  # fmt: skip
    assert code == 0
    instance_id = json.loads(out)["instance_id"]
    code, out, _ = run("tasks", "--user", "officer1", "--json")
    [task] = json.loads(out)
    assert {
        k: task[k] for k in ("instance_id", "process", "bpmn_id", "role", "assignee", "due_unverified")
    } == {
        "instance_id": instance_id,
        "process": "penalty_case",
        "bpmn_id": "verify_clue",
        "role": "officer",
        "assignee": None,
        "due_unverified": False,
    }
    assert task["due_at"] == "2024-10-17T23:59:59+08:00"
    code, out, _ = run(
        "complete",
        str(task["id"]),
        "--user",
        "officer1",
        "--data",
        '{"verification":"核查","suggestion":"file"}',
    )
    assert code == 0 and "已办理" in out
    code, out, _ = run("tasks", "--role", "section_chief", "--json")
    assert [t["bpmn_id"] for t in json.loads(out)] == ["decide_filing"]


@pytest.mark.parametrize(
    "argv",
    [
        ("complete", "999999", "--user", "officer1", "--data", "{}"),
        ("complete", "1", "--user", "officer1", "--data", "{not json"),
        ("start", "no_such_process"),
        ("start", "penalty_case", "--var", "novalue"),
        ("calendar", "add-workdays", "2024-13-01", "5"),
        ("calendar", "set", "2024-10-01", "maybe"),
        ("tasks", "--user", "ghost"),
        ("frobnicate",),
    ],
)
def test_bad_input_is_one_line_and_exit_2(seeded, run, argv: tuple[str, ...]) -> None:
    code, _, err = run(*argv)
    assert code == 2
    assert "Traceback" not in err and err.strip()


def test_calendar_commands(seeded, run) -> None:
    assert run("calendar", "add-workdays", "2024-09-27", "5")[1].strip() == "2024-10-10"
    assert run("calendar", "add-workdays", "2027-03-01", "3")[1].strip() == "2027-03-04 unverified"
    assert run("calendar", "set", "2027-03-02", "holiday")[0] == 0
    assert run("calendar", "add-workdays", "2027-03-01", "3")[1].strip() == "2027-03-05 unverified"
    assert run("calendar", "confirm-year", "2027")[0] == 0
    assert run("calendar", "add-workdays", "2027-03-01", "3")[1].strip() == "2027-03-05"


def test_audit_verify_names_a_tampered_row(seeded, run, sf) -> None:
    assert run("audit", "verify")[0] == 0
    with unit_of_work(sf) as s:
        event = s.query(AuditEvent).order_by(AuditEvent.seq).first()
        event.actor = "mallory"
        seq = event.seq
    code, out, _ = run("audit", "verify")
    assert code == 1 and f"第 {seq} 条" in out


def test_validate_and_deploy(seeded, run, repo_root, tmp_path) -> None:
    assert run("validate", str(repo_root / "bpmn" / "penalty_case.bpmn"))[0] == 0
    bad = tmp_path / "bad.bpmn"
    bad.write_text("<nope", encoding="utf-8")
    code, out, _ = run("validate", str(bad))
    assert code == 1 and "XML 格式错误" in out
    code, _, err = run("deploy", str(bad))
    assert code == 2 and "bad.bpmn" in err
    code, out, _ = run("deploy", str(repo_root / "bpmn" / "penalty_case.bpmn"))
    assert code == 0 and "没有变化" in out
    code, out, _ = run("processes", "--json")
    assert "penalty_case" in [p["key"] for p in json.loads(out)]
