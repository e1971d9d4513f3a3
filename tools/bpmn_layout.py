"""(Re)compute the diagram interchange (bpmndi) of BPMN files so that they read well in a modeller.

    python -m tools.bpmn_layout FILE...           # rewrite each file's BPMNDiagram in place
    python -m tools.bpmn_layout FILE... --check   # exit 1 naming files whose DI misses an element

Only the DI is rewritten: the rest of the file is kept byte for byte (the new diagram is spliced into the
original text). A process with lanes gets a collaboration with one participant if it has none.

Modules: `bpmn_xml` reads the file into scopes, `grid_ranks` puts nodes into columns and rows,
`grid_layout` turns them into coordinates, `flow_routes` and `route_tracks` route the flows, `di_writer`
writes the diagram back.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lxml import etree

from tools import diagram as dg
from tools import grid_layout as gl
from tools.bpmn_xml import MODEL, children, missing_di, parse, read_lanes, read_scope
from tools.di_writer import LayoutError, Pool, collaboration_xml, di_xml, fresh, ids, splice

POOL_ORIGIN = (160, 80)
POOL_GAP = 40
BLACK_BOX_HEIGHT = 80


def layout_bytes(data: bytes) -> bytes:
    """The file with its BPMNDiagram recomputed; raises LayoutError where splicing is unsafe."""
    text = data.decode("utf-8")
    root = parse(data)
    if root.tag != f"{{{MODEL}}}definitions":
        raise LayoutError("not a BPMN definitions document")
    processes = children(root, "process")
    collaborations = children(root, "collaboration")
    taken = ids(root)
    insert_collaboration = ""
    pools: list[Pool] = []
    if collaborations:
        plane_id = collaborations[0].get("id")
        by_id = {p.get("id"): p for p in processes}
        for part in children(collaborations[0], "participant"):
            process = by_id.get(part.get("processRef"))
            pools.append(
                Pool(part.get("id"), part.get("name", ""), _scope(process) if process is not None else None)
            )
    elif any(children(p, "laneSet") for p in processes) or len(processes) > 1:
        plane_id = fresh("Collaboration_" + processes[0].get("id"), taken)
        parts = []
        for process in processes:
            part_id = fresh("Participant_" + process.get("id"), taken)
            parts.append((part_id, process))
            pools.append(Pool(part_id, process.get("name", process.get("id")), _scope(process)))
        insert_collaboration = collaboration_xml(root, plane_id, parts)
    elif processes:
        plane_id = processes[0].get("id")
        pools.append(Pool(None, "", _scope(processes[0])))
    else:
        raise LayoutError("no process to lay out")

    shapes: dict[str, dg.Box] = {}
    y = POOL_ORIGIN[1]
    for pool in pools:
        if pool.scope is None:
            shapes[pool.participant] = dg.Box(POOL_ORIGIN[0], y, 600, BLACK_BOX_HEIGHT)  # type: ignore[index]
        elif pool.participant is None:
            gl.layout_body(pool.scope)
            gl.shift(pool.scope, POOL_ORIGIN[0] - gl.BODY_LEFT + 20, y)
        else:
            gl.layout_pool(pool.scope)
            gl.shift(pool.scope, POOL_ORIGIN[0], y)
            shapes[pool.participant] = pool.scope.box
        y += (pool.scope.box.h if pool.scope else BLACK_BOX_HEIGHT) + POOL_GAP
    widest = max((b.w for b in shapes.values()), default=0)
    for pool in pools:  # pools share one width, as in Camunda Modeler
        if pool.participant is not None:
            delta = widest - shapes[pool.participant].w
            shapes[pool.participant].w = widest
            for lane in dg.all_lanes(pool.scope.lanes if pool.scope else []):
                lane.box.w += delta

    di = di_xml(root, plane_id, pools, shapes, collaborations, taken)
    return splice(text, root, di, insert_collaboration).encode("utf-8")


def _scope(process: etree._Element) -> dg.Scope:
    lanes, lane_of = read_lanes(process)
    scope = read_scope(process, lane_of)
    scope.lanes = lanes
    return scope


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.bpmn_layout", description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--check", action="store_true", help="only report files whose DI misses elements")
    args = ap.parse_args(argv)
    failed = False
    for path in args.files:
        data = path.read_bytes()
        if args.check:
            problems = missing_di(parse(data))
            for problem in problems:
                print(f"{path}: {problem}")
            failed = failed or bool(problems)
            continue
        try:
            new = layout_bytes(data)
        except LayoutError as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            failed = True
            continue
        if new != data:
            path.write_bytes(new)
        print(f"{path}: {'laid out' if new != data else 'unchanged'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
