"""tools/bpmn_layout.py: every element drawn once, nothing overlapping, valid XML, stable output."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator

from tools import bpmn_layout
from tools.bpmn_layout import layout_bytes
from tools.bpmn_xml import BPMNDI, FLOW_NODES, MODEL, SUBPROCESSES, missing_di, parse

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
SHIPPED = sorted((ROOT / "bpmn").glob("*.bpmn"))
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"

Box = tuple[int, int, int, int]


def strip_di(data: bytes) -> bytes:
    root = parse(data)
    for diagram in root.findall(f"{{{BPMNDI}}}BPMNDiagram"):
        root.remove(diagram)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def without_collaboration(data: bytes) -> bytes:
    root = parse(strip_di(data))
    for collaboration in root.findall(f"{{{MODEL}}}collaboration"):
        root.remove(collaboration)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def shapes(root: etree._Element) -> dict[str, Box]:
    out = {}
    for shape in root.iter(f"{{{BPMNDI}}}BPMNShape"):
        b = shape.find(f"{{{DC}}}Bounds")
        out[shape.get("bpmnElement")] = tuple(int(float(b.get(k))) for k in ("x", "y", "width", "height"))
    return out


def edges(root: etree._Element) -> dict[str, list[tuple[int, int]]]:
    return {
        edge.get("bpmnElement"): [
            (int(float(p.get("x"))), int(float(p.get("y")))) for p in edge.iter(f"{{{DI}}}waypoint")
        ]
        for edge in root.iter(f"{{{BPMNDI}}}BPMNEdge")
    }


def flow_nodes(root: etree._Element) -> list[etree._Element]:
    return [
        el
        for process in root.iter(f"{{{MODEL}}}process")
        for el in process.iter()
        if isinstance(el.tag, str)
        and etree.QName(el).namespace == MODEL
        and etree.QName(el).localname in FLOW_NODES
    ]


def overlap(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def inside(inner: Box, outer: Box) -> bool:
    return (
        outer[0] <= inner[0]
        and outer[1] <= inner[1]
        and inner[0] + inner[2] <= outer[0] + outer[2]
        and (inner[1] + inner[3] <= outer[1] + outer[3])
    )


def segment_hits(a: tuple[int, int], b: tuple[int, int], box: Box) -> bool:
    """Does the axis-parallel segment a-b pass through the box's interior?"""
    x0, x1, y0, y1 = min(a[0], b[0]), max(a[0], b[0]), min(a[1], b[1]), max(a[1], b[1])
    return (
        x0 < box[0] + box[2] - 1
        and box[0] + 1 < x1 + (1 if x0 == x1 else 0)
        and (y0 < box[1] + box[3] - 1 and box[1] + 1 < y1 + (1 if y0 == y1 else 0))
    )


def on_border(point: tuple[int, int], box: Box) -> bool:
    x, y = point
    left, top, right, bottom = box[0], box[1], box[0] + box[2], box[1] + box[3]
    within_x, within_y = left <= x <= right, top <= y <= bottom
    return (within_y and x in (left, right)) or (within_x and y in (top, bottom))


def assert_well_laid_out(data: bytes) -> None:
    root = parse(data)
    assert missing_di(root) == []
    box = shapes(root)
    routes = edges(root)
    nodes = flow_nodes(root)
    by_id = {el.get("id"): el for el in nodes}
    ancestors = {
        el.get("id"): {a.get("id") for a in el.iterancestors() if etree.QName(a).localname in SUBPROCESSES}
        for el in nodes
    }
    hosts = {
        el.get("id"): el.get("attachedToRef") for el in nodes if etree.QName(el).localname == "boundaryEvent"
    }

    # Boundary events sit on their host's border; nested nodes inside their subprocess; nothing else overlaps.
    for event, host in hosts.items():
        cx, cy = box[event][0] + box[event][2] // 2, box[event][1] + box[event][3] // 2
        assert on_border((cx, cy), box[host]), f"{event} is not on the border of {host}"
    for el_id, parents in ancestors.items():
        for parent in parents:
            assert inside(box[el_id], box[parent]), f"{el_id} sticks out of {parent}"
    ids = sorted(by_id)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            related = hosts.get(a) == b or hosts.get(b) == a or a in ancestors[b] or b in ancestors[a]
            assert related or not overlap(box[a], box[b]), f"{a} overlaps {b}"

    # Lanes hold their nodes (bpmn-js reassigns a moved node to the lane holding its centre); a subprocess
    # drawn across lanes around its inner nodes at least reaches into its own lane; boundary events follow
    # their host wherever their lane says.
    for lane in root.iter(f"{{{MODEL}}}lane"):
        for ref in lane.iter(f"{{{MODEL}}}flowNodeRef"):
            node, name = box[ref.text.strip()], etree.QName(by_id[ref.text.strip()]).localname
            if name == "boundaryEvent":
                continue
            centre = (node[0] + node[2] // 2, node[1] + node[3] // 2, 0, 0)
            assert inside(centre, box[lane.get("id")]) or (
                name in SUBPROCESSES and overlap(node, box[lane.get("id")])
            )
    for participant in root.iter(f"{{{MODEL}}}participant"):
        for lane in root.iter(f"{{{MODEL}}}lane"):
            assert inside(box[lane.get("id")], box[participant.get("id")])

    # Flows: orthogonal, from the source's border to the target's, through no other shape.
    for flow in root.iter(f"{{{MODEL}}}sequenceFlow"):
        points, source, target = routes[flow.get("id")], flow.get("sourceRef"), flow.get("targetRef")
        assert len(points) >= 2
        assert all(a[0] == b[0] or a[1] == b[1] for a, b in itertools.pairwise(points)), flow.get("id")
        assert on_border(points[0], box[source]), f"{flow.get('id')} does not leave {source}'s border"
        assert on_border(points[-1], box[target]), f"{flow.get('id')} does not reach {target}'s border"
        allowed = {source, target} | ancestors[source] | ancestors[target]
        for other in ids:
            if other in allowed:
                continue
            for a, b in itertools.pairwise(points):
                assert not segment_hits(a, b, box[other]), f"{flow.get('id')} crosses {other}"

    BpmnValidator().validate(etree.fromstring(data))


def cases() -> list[tuple[str, bytes]]:
    out = [("review_case", (FIXTURES / "review_case.bpmn").read_bytes())]
    for path in SHIPPED:
        out.append((f"{path.stem} without DI", strip_di(path.read_bytes())))
        out.append((f"{path.stem} without collaboration", without_collaboration(path.read_bytes())))
    return out


@pytest.mark.parametrize(("name", "data"), cases(), ids=[name for name, _ in cases()])
def test_layout_draws_everything_once_without_overlaps(name: str, data: bytes) -> None:
    assert_well_laid_out(layout_bytes(data))


@pytest.mark.parametrize(("name", "data"), cases(), ids=[name for name, _ in cases()])
def test_layout_is_idempotent(name: str, data: bytes) -> None:
    once = layout_bytes(data)
    assert layout_bytes(once) == once


def test_layout_does_not_depend_on_hash_seeds(tmp_path: Path) -> None:
    outputs = []
    for seed in ("1", "2"):
        path = tmp_path / f"seed{seed}.bpmn"
        path.write_bytes((FIXTURES / "review_case.bpmn").read_bytes())
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-m", "tools.bpmn_layout", str(path)], check=True, cwd=ROOT, env=env)
        outputs.append(path.read_bytes())
    assert outputs[0] == outputs[1]


def test_only_the_diagram_changes() -> None:
    original = (FIXTURES / "review_case.bpmn").read_bytes()
    laid_out = layout_bytes(original).decode()
    block = re.search(r"\n  <bpmndi:BPMNDiagram[\s\S]*</bpmndi:BPMNDiagram>", laid_out)
    collaboration = re.search(r"  <bpmn:collaboration[\s\S]*?</bpmn:collaboration>\n", laid_out)
    assert block and collaboration
    rest = laid_out.replace(block.group(0), "").replace(collaboration.group(0), "")
    declared = ' xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"'
    declared += (
        ' xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI"'
    )
    assert rest.replace(declared, "") == original.decode()


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_relayout_of_a_shipped_file_keeps_everything_but_the_diagram(path: Path) -> None:
    def outside_di(text: str) -> str:
        return re.sub(r"[ \t]*<bpmndi:BPMNDiagram[\s\S]*</bpmndi:BPMNDiagram>[ \t]*\r?\n?", "", text)

    original = path.read_text(encoding="utf-8")
    if "<bpmndi:BPMNDiagram" not in original:
        pytest.skip("no diagram yet")
    assert outside_di(layout_bytes(original.encode()).decode()) == outside_di(original)


def test_lanes_get_a_collaboration_and_a_participant() -> None:
    root = parse(layout_bytes((FIXTURES / "review_case.bpmn").read_bytes()))
    collaboration = root.find(f"{{{MODEL}}}collaboration")
    participant = collaboration.find(f"{{{MODEL}}}participant")
    assert participant.get("processRef") == "review_case"
    assert participant.get("name") == "法制审核"
    plane = root.find(f"{{{BPMNDI}}}BPMNDiagram/{{{BPMNDI}}}BPMNPlane")
    assert plane.get("bpmnElement") == collaboration.get("id")
    pool = shapes(root)[participant.get("id")]
    lanes = [shapes(root)[lane.get("id")] for lane in root.iter(f"{{{MODEL}}}lane")]
    assert all(lane[0] >= pool[0] + 30 for lane in lanes)  # the participant's label band
    horizontal = [
        s.get("isHorizontal")
        for s in root.iter(f"{{{BPMNDI}}}BPMNShape")
        if s.get("bpmnElement").startswith(("Lane_", "Participant_"))
    ]
    assert set(horizontal) == {"true"}


def test_a_process_without_lanes_is_drawn_on_its_own_plane() -> None:
    data = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="s" />
    <bpmn:task id="t" />
    <bpmn:endEvent id="e" />
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t" />
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e" />
  </bpmn:process>
</bpmn:definitions>
"""
    out = layout_bytes(data)
    root = parse(out)
    assert root.find(f"{{{MODEL}}}collaboration") is None
    assert root.find(f".//{{{BPMNDI}}}BPMNPlane").get("bpmnElement") == "p"
    box = shapes(root)
    assert box["s"][1] + 18 == box["t"][1] + 40 == box["e"][1] + 18  # one row, centres aligned
    assert box["s"][0] < box["t"][0] < box["e"][0]
    assert_well_laid_out(out)


def test_event_subprocesses_are_expanded_at_the_bottom() -> None:
    root = parse(layout_bytes((FIXTURES / "review_case.bpmn").read_bytes()))
    box = shapes(root)
    di = {s.get("bpmnElement"): s for s in root.iter(f"{{{BPMNDI}}}BPMNShape")}
    main = [
        el.get("id")
        for el in root.find(f"{{{MODEL}}}process")
        if el.get("id") in box and el.get("triggeredByEvent") != "true"
    ]
    lowest_main = max(box[m][1] + box[m][3] for m in main if not m.startswith(("Lane_", "LaneSet")))
    for sub in ("withdrawn_sub", "reminder_sub"):
        assert di[sub].get("isExpanded") == "true"
        assert box[sub][1] >= lowest_main
    assert box["withdraw_start"][0] < box["record_withdrawal"][0] < box["withdraw_end"][0]


def test_loops_go_back_above_the_nodes() -> None:
    root = parse(layout_bytes((FIXTURES / "review_case.bpmn").read_bytes()))
    box, route = shapes(root), edges(root)["f9"]  # 收到补充材料 -> 判定审核类型, a loop
    assert min(y for _, y in route) < box["wait_materials"][1]
    assert route[-1] == (box["classify"][0] + box["classify"][2] // 2, box["classify"][1])  # onto its top


def test_check_names_files_with_missing_di(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "review_case.bpmn"
    path.write_bytes((FIXTURES / "review_case.bpmn").read_bytes())
    assert bpmn_layout.main([str(path), "--check"]) == 1
    assert f"{path}: userTask prepare: no shapes" in capsys.readouterr().out
    assert bpmn_layout.main([str(path)]) == 0
    assert bpmn_layout.main([str(path), "--check"]) == 0


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_files_have_a_complete_diagram(path: Path) -> None:
    """Run `python -m tools.bpmn_layout bpmn/FILE.bpmn` to (re)draw a file that fails here."""
    assert missing_di(parse(path.read_bytes())) == []


SPANNING = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="p" name="across lanes" isExecutable="true">
    <bpmn:laneSet id="ls">
      <bpmn:lane id="Lane_a" name="A">
        <bpmn:flowNodeRef>s</bpmn:flowNodeRef><bpmn:flowNodeRef>before</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>sub</bpmn:flowNodeRef><bpmn:flowNodeRef>after</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>gw</bpmn:flowNodeRef><bpmn:flowNodeRef>e</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>handler</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="Lane_b" name="B">
        <bpmn:flowNodeRef>in_start</bpmn:flowNodeRef><bpmn:flowNodeRef>in_task</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>urge</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="Lane_c" name="C">
        <bpmn:flowNodeRef>in_check</bpmn:flowNodeRef><bpmn:flowNodeRef>in_end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="s" />
    <bpmn:userTask id="before" name="before" />
    <bpmn:subProcess id="sub" name="spans B and C">
      <bpmn:startEvent id="in_start" />
      <bpmn:userTask id="in_task" name="in B" />
      <bpmn:userTask id="in_check" name="in C" />
      <bpmn:endEvent id="in_end" />
      <bpmn:sequenceFlow id="i1" sourceRef="in_start" targetRef="in_task" />
      <bpmn:sequenceFlow id="i2" sourceRef="in_task" targetRef="in_check" />
      <bpmn:sequenceFlow id="i3" sourceRef="in_check" targetRef="in_task" />
      <bpmn:sequenceFlow id="i4" sourceRef="in_check" targetRef="in_end" />
    </bpmn:subProcess>
    <bpmn:boundaryEvent id="late" cancelActivity="false" attachedToRef="sub">
      <bpmn:timerEventDefinition><bpmn:timeDuration>P5D</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:userTask id="urge" name="urge" />
    <bpmn:userTask id="after" name="after" />
    <bpmn:exclusiveGateway id="gw" default="f6" />
    <bpmn:endEvent id="e" />
    <bpmn:subProcess id="handler" triggeredByEvent="true">
      <bpmn:startEvent id="h_start"><bpmn:messageEventDefinition /></bpmn:startEvent>
      <bpmn:endEvent id="h_end" />
      <bpmn:sequenceFlow id="h1" sourceRef="h_start" targetRef="h_end" />
    </bpmn:subProcess>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="before" />
    <bpmn:sequenceFlow id="f2" sourceRef="before" targetRef="sub" />
    <bpmn:sequenceFlow id="f3" sourceRef="sub" targetRef="after" />
    <bpmn:sequenceFlow id="f4" sourceRef="after" targetRef="gw" />
    <bpmn:sequenceFlow id="f5" name="again" sourceRef="gw" targetRef="before" />
    <bpmn:sequenceFlow id="f6" sourceRef="gw" targetRef="e" />
    <bpmn:sequenceFlow id="f7" sourceRef="late" targetRef="urge" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_subprocess_with_steps_in_several_lanes_is_drawn_across_them() -> None:
    out = layout_bytes(SPANNING)
    assert_well_laid_out(out)  # each inner step inside its own lane, no flow through the subprocess
    box = shapes(parse(out))
    sub, lane_b, lane_c = box["sub"], box["Lane_b"], box["Lane_c"]
    assert sub[1] < lane_b[1] and sub[1] + sub[3] > lane_c[1]  # from lane A into lane C
    loop = edges(parse(out))["f5"]  # gw -> before, back over the subprocess
    assert min(y for _, y in loop) < sub[1]


def test_event_subprocesses_outside_the_last_lane_sit_after_the_last_column() -> None:
    box = shapes(parse(layout_bytes(SPANNING)))
    handler = box["handler"]
    assert handler[0] > max(b[0] + b[2] for k, b in box.items() if k in ("e", "gw", "after", "sub", "urge"))
    assert box["Lane_a"][1] <= handler[1] and handler[1] + handler[3] <= box["Lane_a"][1] + box["Lane_a"][3]
