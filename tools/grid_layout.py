"""Grid layout of a BPMN process graph: columns by longest path, rows per lane, orthogonal flows.

Pure geometry: `tools/bpmn_layout.py` reads the XML into `Scope`s and writes the result back as DI.
A scope is a process (whose rows are grouped into lane bands) or the body of an expanded subprocess.
All coordinates are integers; a scope is laid out around (0, 0) and shifted into place by its parent.
"""

from __future__ import annotations

from tools.diagram import (
    Box,
    Lane,
    Node,
    Scope,
    all_lanes,
    boundary_offsets,
    lane_depth,
    leaf_lanes,
    text_size,
)
from tools.flow_routes import TRACK, Grid, plan_routes, route
from tools.grid_ranks import bands_of, build_grid
from tools.route_tracks import CHANNEL_TRACK, channel_load

TASK_W, TASK_H = 100, 80
EVENT = 36
GATEWAY = 50
COL_PITCH = 150  # between column centres
COL_GAP = 50  # least space between two columns
ROW_TOP = 30  # space above a row's shapes (gateway labels, corridors)
ROW_BOTTOM = 30  # space below (event labels)
BOUNDARY_ROOM = 40  # extra space below a row whose shapes carry boundary events
CORRIDOR = 12  # from a row's edge to its first corridor track
EMPTY_BAND = 120
BODY_LEFT, BODY_TOP, BODY_RIGHT, BODY_BOTTOM = 40, 10, 40, 10  # inside an expanded subprocess
SUB_GAP = 30  # between stacked event subprocesses
SPAN_GAP = 110  # beside a spanning subprocess: its border, then a channel
SPAN_PAD = 25  # from a spanning subprocess's border to its inner shapes


def layout_pool(scope: Scope) -> None:
    """Lay out a process as a horizontal participant with its lanes; the participant's top-left is (0, 0)."""
    leaves = leaf_lanes(scope.lanes)
    x0 = 30 + 30 * lane_depth(scope.lanes) + 50
    bands = _arrange(scope, [lane.id for lane in leaves] or [None], x0, 0)
    width = max(scope.box.w + 50, 600)
    for lane in leaves:
        top, bottom = bands[lane.id]
        lane.box = Box(0, top, width, bottom - top)
    _frame_lanes(scope.lanes, 30, width)
    height = max(bottom for _, bottom in bands.values())
    scope.box = Box(0, 0, width, height)


def _frame_lanes(lanes: list[Lane], x: int, right: int) -> None:
    for lane in lanes:
        if lane.children:
            _frame_lanes(lane.children, x + 30, right)
            top = min(child.box.y for child in lane.children)
            bottom = max(child.box.bottom for child in lane.children)
            lane.box = Box(x, top, right - x, bottom - top)
        else:
            lane.box = Box(x, lane.box.y, right - x, lane.box.h)


def layout_body(scope: Scope) -> None:
    """Lay out the body of an expanded subprocess; the subprocess box's top-left is (0, 0)."""
    bands = _arrange(scope, [None], BODY_LEFT, BODY_TOP)
    _, bottom = bands[None]
    scope.box = Box(0, 0, max(scope.box.w + BODY_RIGHT, 2 * TASK_W), max(bottom + BODY_BOTTOM, TASK_H + 40))


def shift(scope: Scope, dx: int, dy: int) -> None:
    for node in scope.nodes:
        node.box.x += dx
        node.box.y += dy
        if node.label:
            node.label.x += dx
            node.label.y += dy
        if node.inner:
            shift(node.inner, dx, dy)
    for flow in scope.flows:
        flow.points = [(x + dx, y + dy) for x, y in flow.points]
        if flow.label:
            flow.label.x += dx
            flow.label.y += dy
    for lane in all_lanes(scope.lanes):
        lane.box.x += dx
        lane.box.y += dy
    scope.box.x += dx
    scope.box.y += dy


# ---- the arrangement: columns, rows, geometry, routes ----


def _arrange(scope: Scope, bands: list[str | None], x0: int, y0: int) -> dict[str | None, tuple[int, int]]:
    """Place scope's nodes and route its flows; returns each band's (top, bottom). Sets scope.box.w."""
    spanning = _spanning(scope, bands)
    nodes: list[Node] = []  # spanning subprocesses give way to their inner nodes
    for node in scope.nodes:
        nodes += node.inner.nodes if node in spanning and node.inner else [node]
    flows = [f for f in scope.flows] + [f for s in spanning if s.inner for f in s.inner.flows]
    by_id = {n.id: n for n in [*nodes, *spanning]}
    flows = [f for f in flows if f.source in by_id and f.target in by_id]
    for node in nodes:
        _size(node, next((s.inner for s in spanning if s.inner and node in s.inner.nodes), scope))
    band_of = bands_of([*nodes, *spanning], flows, bands)
    main = [n for n in nodes if n.kind != "boundary" and not n.triggered]
    grid, band_rows = build_grid(main, flows, by_id, band_of, bands, spanning)
    plans = plan_routes(flows, grid, by_id)

    # Columns: x centres; wide gaps beside a spanning subprocess, for its border and the flows passing it.
    ncols = max((grid.col[n.id] for n in main), default=-1) + 1
    widths = [max((n.box.w for n in main if grid.col[n.id] == c), default=0) for c in range(ncols)]
    pitch = [0] * ncols  # least distance from column c - 1's centre: room for a straight flow's label
    for flow in flows:
        if flow.name and plans[flow.id].kind == "straight" and plans[flow.id].ct == plans[flow.id].cs + 1:
            s, t = by_id[flow.source].box, by_id[flow.target].box
            room = (s.w + t.w) // 2 + text_size(flow.name)[0] + (16 if flow.default else 6) + 8
            pitch[plans[flow.id].ct] = max(pitch[plans[flow.id].ct], room)
    load = channel_load(plans)  # a channel with many tracks widens the gap between its columns
    gaps = [max(COL_GAP, CHANNEL_TRACK * (load.get(c, 1) // 2 * 2 + 3)) for c in range(-1, ncols)]
    for span in grid.span.values():
        gaps[span.c0] = max(gaps[span.c0], SPAN_GAP)
        gaps[span.c1 + 1] = max(gaps[span.c1 + 1], SPAN_GAP)
    centres: list[int] = []
    for c, w in enumerate(widths):
        if c == 0:
            centres.append(x0 + max(0, gaps[0] - COL_GAP) + w // 2)
        else:
            centres.append(centres[-1] + max(COL_PITCH, (widths[c - 1] + w) // 2 + gaps[c], pitch[c]))
    lefts = [centres[c] - widths[c] // 2 for c in range(ncols)]
    rights = [lefts[c] + widths[c] for c in range(ncols)]
    channels = {c: (rights[c] + lefts[c + 1]) // 2 for c in range(ncols - 1)}
    channels[-1] = (lefts[0] if ncols else x0) - gaps[0] // 2
    channels[ncols - 1] = (rights[-1] if ncols else x0) + gaps[-1] // 2

    # Rows: y tops, band extents, event subprocesses at the bottom of their band.
    hosts = {(n.host, n.on_top) for n in nodes if n.kind == "boundary"}
    per_gap = [0] * (grid.nrows + 1)
    for plan in plans.values():
        for gap, track in ((plan.gap, plan.track), (plan.own, plan.own_track)):
            if gap >= 0:
                per_gap[gap] = max(per_gap[gap], track + 1)
    extra_top, extra_bottom = [0] * grid.nrows, [0] * grid.nrows
    for name, span in grid.span.items():
        per_gap[span.first] = max(per_gap[span.first], grid.lid[name] + 1)
        extra_top[span.first] += 20 + (BOUNDARY_ROOM if (name, True) in hosts else 0)  # its name
        extra_bottom[span.last] += BOUNDARY_ROOM if (name, False) in hosts else 0
    row_top, row_mid, row_bottom, extents = [0] * grid.nrows, [0] * grid.nrows, [0] * grid.nrows, {}
    y, g = y0, 0
    triggered = [n for n in nodes if n.triggered]
    for band in bands:
        top = y
        for _ in range(band_rows[band]):
            members = [n for n in main if grid.row[n.id] == g]
            content = max([TASK_H, *(n.box.h for n in members)])
            above = ROW_TOP + TRACK * per_gap[g] + extra_top[g]
            above += BOUNDARY_ROOM if any((n.id, True) in hosts for n in members) else 0
            below = ROW_BOTTOM + extra_bottom[g] + (TRACK * per_gap[g + 1] if g + 1 == grid.nrows else 0)
            below += BOUNDARY_ROOM if any((n.id, False) in hosts for n in members) else 0
            row_top[g] = y
            row_mid[g] = y + above + content // 2
            row_bottom[g] = row_mid[g] + content // 2 + below
            y, g = row_bottom[g], g + 1
        if band_rows[band] == 0:
            y += EMPTY_BAND
        # Event subprocesses: under the last band's rows, where no flow goes; in another lane, after the
        # last column (flows between lanes would cross them anywhere else), the lane growing to hold them.
        subs = [n for n in triggered if band_of[n.id] == band]
        at_right = band != bands[-1]
        if at_right and subs:
            y = max(y, top + SUB_GAP + sum(sub.box.h + SUB_GAP for sub in subs))
        stack = top + SUB_GAP if at_right else y
        for sub in subs:
            x = (rights[-1] if ncols else x0) + SPAN_GAP if at_right else x0
            if sub.inner:
                shift(sub.inner, x - sub.inner.box.x, stack - sub.inner.box.y)
            sub.box.x, sub.box.y = x, stack
            stack += sub.box.h + SUB_GAP
        y = y if at_right else stack
        extents[band] = (top, y)

    def corridor(gap: int, track: int) -> int:
        if gap < grid.nrows:
            return row_top[gap] + CORRIDOR + TRACK * track
        return row_bottom[-1] - CORRIDOR - TRACK * track

    for node in main:
        node.box.x = centres[grid.col[node.id]] - node.box.w // 2
        node.box.y = row_mid[grid.row[node.id]] - node.box.h // 2
        if node.inner:
            shift(node.inner, node.box.x - node.inner.box.x, node.box.y - node.inner.box.y)
    sides = {}
    for s in spanning:
        span = grid.span[s.id]
        bottom = row_bottom[span.last] - 4
        if span.last + 1 == grid.nrows:  # above the corridor along the bottom of the scope
            bottom = corridor(grid.nrows, per_gap[grid.nrows]) - 4
        if (s.id, False) in hosts:  # its boundary events stick out of it: clear of the corridor below
            bottom -= EVENT // 2 + 8
        top = corridor(span.first, grid.lid[s.id])
        s.box = Box(
            lefts[span.c0] - SPAN_PAD, top, rights[span.c1] - lefts[span.c0] + 2 * SPAN_PAD, bottom - top
        )
        if s.inner:
            s.inner.box = Box(s.box.x, s.box.y, s.box.w, s.box.h)
        sides[s.id] = {r: row_mid[r] for r in range(span.first, span.last + 1)}
    for node in [*nodes, *spanning]:
        if node.kind == "boundary" and node.host in grid.span:
            node.box.x, node.box.y = centres[grid.col[node.id]] - EVENT // 2, 0
    _place_boundaries([*nodes, *spanning], by_id, grid)
    route(flows, plans, by_id, channels, corridor, sides)
    ends = {p for f in flows for p in (f.points[0], f.points[-1])}
    leftward = {f.source for f in flows if len(f.points) > 2 and f.points[2][0] < f.points[1][0]}
    for node in [*nodes, *spanning]:
        node.label = _node_label(node, ends, node.id not in leftward)
    right = max([*rights, *(n.box.right for n in triggered), *(s.box.right for s in spanning)], default=x0)
    scope.box.w = right
    return extents


def _spanning(scope: Scope, bands: list[str | None]) -> list[Node]:
    """Subprocesses with inner nodes in other lanes of the process: drawn across those lanes."""
    if bands == [None]:
        return []
    out = []
    for node in scope.nodes:
        inner = node.inner.nodes if node.inner else []
        if node.triggered or any(n.triggered for n in inner):
            continue
        if any(n.lane in bands and n.lane != node.lane for n in inner):
            node.spanning = True
            out.append(node)
    return out


def _size(node: Node, scope: Scope) -> None:
    if node.kind in ("start", "event", "boundary"):
        node.box.w = node.box.h = EVENT
    elif node.kind == "gateway":
        node.box.w = node.box.h = GATEWAY
    elif node.inner is not None:
        layout_body(node.inner)
        node.box.x, node.box.y, node.box.w, node.box.h = 0, 0, node.inner.box.w, node.inner.box.h
    else:
        node.box.w, node.box.h = TASK_W, TASK_H
    attached = sum(1 for n in scope.nodes if n.host == node.id)
    node.box.w = max(node.box.w, 45 * attached + 10)  # room to spread its boundary events


# ---- boundary events and labels ----


def _place_boundaries(nodes: list[Node], by_id: dict[str, Node], grid: Grid) -> None:
    """Boundary events on their host's bottom (or top) edge, spread out; on a spanning subprocess, under
    their own columns (x set by the caller)."""
    for host in nodes:
        attached = [n for n in nodes if n.kind == "boundary" and n.host == host.id]
        for edge in (False, True):
            on_edge = [b for b in attached if b.on_top == edge]
            for b, offset in zip(on_edge, boundary_offsets(host, len(on_edge), edge), strict=True):
                if host.id not in grid.span:
                    b.box.x = host.box.x + offset - EVENT // 2
                b.box.y = (host.box.y if edge else host.box.bottom) - EVENT // 2
    for node in nodes:
        if node.kind == "boundary" and node.host not in by_id:
            node.box.x, node.box.y = 0, 0


def _node_label(node: Node, ends: set[tuple[int, int]], rightward: bool) -> Box | None:
    """Events: below. Gateways: above, or below if a flow uses the top corner, or up to the left if both
    corners are taken. Boundary events: beside the flow leaving them, on the side it does not turn to."""
    if not node.name or node.kind in ("activity", "subprocess"):
        return None
    w, h = text_size(node.name)
    b = node.box
    if node.kind == "gateway":
        if (b.cx, b.y) not in ends:
            return Box(b.cx - w // 2, b.y - 6 - h, w, h)
        if (b.cx, b.bottom) not in ends:
            return Box(b.cx - w // 2, b.bottom + 6, w, h)
        return Box(b.x - 2 - w, b.y - 4 - h, w, h)
    if node.kind == "boundary":
        return Box(b.x - 4 - w if rightward else b.cx + 8, b.y - 2 - h if node.on_top else b.bottom + 2, w, h)
    return Box(b.cx - w // 2, b.bottom + 7, w, h)
