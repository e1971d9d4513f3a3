"""Every flow node and sequence flow of every shipped BPMN file is visited by some path test."""

from __future__ import annotations

from pathlib import Path

from tests.processes.coverage import VISITS, flow_visited, shipped_elements

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"


def test_every_element_of_every_shipped_file_is_visited() -> None:
    nodes, flows, tags = shipped_elements(BPMN_DIR)
    assert nodes and flows
    missing_nodes = [
        f"{file}: {container}/{node}"
        for file, container, node in nodes
        if (container, node) not in VISITS.nodes
    ]
    missing_flows = [
        f"{f.file}: {f.container}/{f.id} ({f.source} → {f.target})"
        for f in flows
        if not flow_visited(f, VISITS, tags)
    ]
    assert not missing_nodes and not missing_flows, (
        "not visited by any path test (run the whole tests/processes suite):\n"
        + "\n".join(missing_nodes + missing_flows)
    )


def test_every_saved_state_restores_unchanged() -> None:
    """Every instance of every path test, at the end of its test, restores to the very state it
    was saved with (each step of a path test is itself a save and a restore)."""
    assert VISITS.nodes, "run the whole tests/processes suite"
    assert VISITS.unfaithful == set()
