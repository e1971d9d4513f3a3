"""Orthogonal routes for sequence flows on a layout grid, and where their labels go.

Vertical segments run at a node's centre line only where the cells they cross are empty; otherwise in
the *channels* between columns. Horizontal segments run along a row's centre line when the cells between
are empty; otherwise in the *corridors* at the top of a row (the gap between two rows). Flows sharing a
corridor or a channel get separate tracks. Loops (back edges) go up into the corridor above both ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from tools.diagram import Box, Flow, Node, Point, boundary_offsets, text_size
from tools.route_tracks import channel_tracks, corridor_tracks, separate_runs, track_offset

TRACK = 10  # between parallel flows in a corridor


@dataclass
class Span:
    """A subprocess drawn across lanes around its inner nodes: its columns and rows."""

    c0: int
    c1: int
    first: int
    last: int
    r_in: int  # the row where flows come in (its start event's)
    r_out: int  # the row where flows leave (its last end event's)


@dataclass
class Grid:
    col: dict[str, int]
    row: dict[str, int]  # global row: the lane bands' rows stacked
    back: set[str]  # flow ids closing a loop
    cells: dict[tuple[int, int], str]  # (row, col) -> node id; boundary events have none
    nrows: int
    span: dict[str, Span] = field(default_factory=dict)  # spanning subprocesses
    owner: dict[str, str] = field(default_factory=dict)  # flow id -> spanning subprocess it runs inside
    lid: dict[str, int] = field(default_factory=dict)  # spanning subprocess -> corridor track of its top edge
    raised: set[str] = field(default_factory=set)  # spanning subprocesses with boundary events on top

    def free(self, rows: Iterable[int], cols: Iterable[int], inside: str | None = None) -> bool:
        """No shape in these cells (a spanning subprocess's own cells are free for the flows inside it)."""
        cols = list(cols)
        return all(self.cells.get((r, c), inside) == inside for r in rows for c in cols)


@dataclass
class Plan:
    kind: str
    rs: int
    cs: int
    rt: int
    ct: int
    gap: int = -1  # corridor (the gap above row `gap`; nrows is below the last row), if used
    track: int = 0
    up: bool = False  # gateway exit on top / loop leaving through the source's top
    own: int = -1  # loops whose way up is blocked: the corridor above the source, to reach a channel
    own_track: int = 0
    down: bool = False  # loops: enter the target from above
    t_track: int = 0  # track in the channel before the target's column
    s_track: int = 0  # loops leaving by the channel before the source's column: track there
    entry: int = 0  # loops dropping onto the target: which of its top ports
    via: int = 0  # detours around a spanning subprocess: the channel they climb in
    v_track: int = 0


def plan_routes(flows: list[Flow], grid: Grid, by_id: dict[str, Node]) -> dict[str, Plan]:
    exits = _gateway_exits(flows, grid, by_id)
    plans = {flow.id: _plan(flow, grid, by_id, exits.get(flow.id, "")) for flow in flows}
    _into_gateways(flows, plans, grid, by_id)
    _avoid_boxes(flows, plans, grid)
    separate_runs(flows, plans)
    # A loop drops onto its target's top only at an x where no flow leaves that top; else it comes in from
    # the left like any other flow.
    events = _edge_events(by_id)
    for flow in flows:
        plan, t = plans[flow.id], by_id[flow.target]
        if plan.kind != "back" or not plan.down:
            continue
        ports = _ports(t, events.get((t.id, True), 0), on_top=True)
        taken = set()
        for out in (f for f in flows if f.source == t.id):
            kind, up = plans[out.id].kind, plans[out.id].up
            if kind in ("back", "self"):
                taken.update(ports[:2])
            elif kind in ("vertical", "side_corridor") and up:
                taken.add(_side_port(t, ports, up=True))
        free = [i for i, x in enumerate(ports) if x not in taken]
        plan.down, plan.entry = bool(free), (free[0] if free else 0)
    corridor_tracks(flows, plans, grid)
    channel_tracks(flows, plans)
    return plans


def _into_gateways(flows: list[Flow], plans: dict[str, Plan], grid: Grid, by_id: dict[str, Node]) -> None:
    """A flow from another row may run along its source's row and drop into a gateway's top (or bottom)
    corner, if that corner sends nothing out."""
    sides: dict[str, set[bool]] = {}  # gateway -> corners in use (True: top)
    for flow in flows:
        plan = plans[flow.id]
        if plan.kind in ("vertical", "side_corridor"):
            sides.setdefault(flow.source, set()).add(plan.up)
        elif plan.kind in ("back", "self"):
            sides.setdefault(flow.source, set()).add(True)
            if plan.down:
                sides.setdefault(flow.target, set()).add(True)
    for flow in flows:
        plan, s, t = plans[flow.id], by_id[flow.source], by_id[flow.target]
        if (
            t.kind != "gateway"
            or s.kind in ("gateway", "boundary")
            or plan.kind not in ("vertical", "side_corridor")
        ):
            continue
        rs, cs, rt, ct = plan.rs, plan.cs, plan.rt, plan.ct
        from_above = rs < rt
        between = range(min(rs, rt) + 1, max(rs, rt))
        inside = grid.owner.get(flow.id)
        if from_above in sides.get(t.id, set()) or not grid.free([rs], range(cs + 1, ct + 1), inside):
            continue
        if grid.free(between, [ct], inside):
            plan.kind, plan.gap, plan.up = "into_gateway", -1, False
            sides.setdefault(t.id, set()).add(from_above)


def _gateway_exits(flows: list[Flow], grid: Grid, by_id: dict[str, Node]) -> dict[str, str]:
    """A gateway's branches leave by different corners: same row right, below bottom, above top.

    If no branch stays in the row, the nearest one takes the right corner."""
    exits: dict[str, str] = {}
    for gateway in (n for n in by_id.values() if n.kind == "gateway"):
        outs = [
            f
            for f in flows
            if f.source == gateway.id and f.id not in grid.back and grid.col[f.target] > grid.col[f.source]
        ]
        rs = grid.row[gateway.id]
        for f in outs:
            rt = grid.row[f.target]
            exits[f.id] = "right" if rt == rs else ("bottom" if rt > rs else "top")
        if outs and not any(exits[f.id] == "right" for f in outs):
            nearest = min(outs, key=lambda f: (abs(grid.row[f.target] - rs), grid.row[f.target] < rs))
            exits[nearest.id] = "right"
    return exits


def _plan(flow: Flow, grid: Grid, by_id: dict[str, Node], exit_: str) -> Plan:
    """How a flow runs. A shape's right side only sends flows along its row (straight on, or a gateway's
    branch through empty cells): other flows leave by its top or bottom, so that a line along a row
    always means "this shape leads to that one". A spanning subprocess is entered and left by its sides
    at its start and end events' rows."""
    s, t = by_id[flow.source], by_id[flow.target]
    span_s, span_t = grid.span.get(s.id), grid.span.get(t.id)
    rs, cs = grid.row[s.id], grid.col[s.id]
    rt, ct = (span_t.r_in, span_t.c0) if span_t else (grid.row[t.id], grid.col[t.id])
    inside = grid.owner.get(flow.id)

    def free(rows: Iterable[int], cols: Iterable[int]) -> bool:
        return grid.free(rows, cols, inside)

    # A spanning subprocess's side reaches across its rows: a flow from (to) one of those rows runs straight.
    if (
        span_t
        and span_t.first <= rs <= span_t.last
        and free([rs], range(cs + 1, ct))
        and flow.id not in grid.back
    ):
        rt = rs
    if span_s and span_s.first <= rt <= span_s.last and free([rt], range(cs + 1, ct)) and ct > cs:
        rs = rt
    plan = Plan("", rs, cs, rt, ct)
    if s.id == t.id:
        plan.kind, plan.gap = "self", rs
        return plan
    if flow.id in grid.back or ct <= cs:
        if s.kind == "boundary":
            plan.kind, plan.up = "side_corridor", s.on_top
            plan.gap = rs if s.on_top else rs + 1
        else:
            if span_s:  # up from its top, clear of what lies inside
                plan.rs = rs = span_s.first
            top = min(rs, rt)
            plan.kind, plan.gap = "back", top
            plan.up = span_s is not None or free(range(top, rs), [cs])
            plan.own = -1 if plan.up else rs
            plan.down = free(range(top, rt), [ct])  # can drop onto the target's top
        return plan
    if rs == rt and exit_ in ("", "right") and s.kind != "boundary" and free([rs], range(cs + 1, ct)):
        plan.kind = "straight"
        return plan
    if exit_ == "right" and rs != rt and free([rs], range(cs + 1, ct + 1)):
        plan.kind = "row_then_channel"
        return plan
    if s.kind == "boundary":
        plan.up = s.on_top
    else:
        plan.up = exit_ == "top" or (exit_ != "bottom" and rt < rs) or (inside is not None and rt == rs)
    if span_s:  # by its top or bottom edge
        plan.rs = rs = span_s.first if plan.up else span_s.last
    toward = rt < rs if plan.up else rt > rs
    crossed = range(rt, rs) if plan.up else range(rs + 1, rt + 1)
    if toward and free(crossed, [cs]) and free([rt], range(cs + 1, ct)):
        plan.kind = "vertical"
    else:
        plan.kind, plan.gap = "side_corridor", (rs if plan.up else rs + 1)
    return plan


def _avoid_boxes(flows: list[Flow], plans: dict[str, Plan], grid: Grid) -> None:
    """A flow outside a spanning subprocess never runs along a corridor through it: loops go over it, other
    flows climb a channel beside it and go over it (a detour)."""
    for _ in range(len(grid.span)):
        moved = False
        for flow in flows:
            plan = plans[flow.id]
            if grid.owner.get(flow.id) or plan.kind not in ("back", "side_corridor"):
                continue
            for span in grid.span.values():
                if not (span.first < plan.gap <= span.last):
                    continue
                if plan.kind == "back":
                    lo = 2 * plan.cs + (1 if plan.up else 0)
                    hi = 2 * plan.ct + (1 if plan.down else 0)
                else:
                    lo, hi = 2 * plan.cs + 1, 2 * plan.ct
                if min(lo, hi) >= 2 * span.c0 + 1 or max(lo, hi) <= 2 * span.c1 + 1:
                    continue  # does not cross it
                moved = True
                if plan.kind == "back":
                    plan.gap = span.first
                    plan.up = plan.up and grid.free(range(span.first, plan.rs), [plan.cs])
                    plan.own = -1 if plan.up else plan.rs
                    plan.down = grid.free(range(span.first, plan.rt), [plan.ct])
                else:
                    plan.kind, plan.own = "detour", span.first
                    plan.via = span.c0 - 1 if plan.cs < span.c0 else span.c1
        if not moved:
            return


def route(
    flows: list[Flow],
    plans: dict[str, Plan],
    by_id: dict[str, Node],
    channels: dict[int, int],
    corridor: Callable[[int, int], int],
    sides: dict[str, dict[int, int]],
) -> None:
    """Set each flow's waypoints and label. channels[c] is the x between column c and c + 1 (c >= -1);
    sides[n][r] is the y where flows meet the side of a spanning subprocess n at row r."""
    events = _edge_events(by_id)
    for flow in flows:
        plan = plans[flow.id]
        y_cor = corridor(plan.gap, plan.track) if plan.gap >= 0 else 0
        y_own = corridor(plan.own, plan.own_track) if plan.own >= 0 else 0
        source, target = by_id[flow.source], by_id[flow.target]
        s, t = source.box, target.box
        if source.id in sides:
            s = replace(s, mid=sides[source.id][plan.rs])
        if target.id in sides:
            t = replace(t, mid=sides[target.id][plan.rt])
        x_side = _side_port(source, _ports(source, events.get((source.id, plan.up), 0), plan.up), plan.up)
        ports = (
            _ports(source, events.get((source.id, True), 0), on_top=True),
            _ports(target, events.get((target.id, True), 0), on_top=True),
            x_side,
        )
        flow.points = _simplify(_points(plan, s, t, channels, (y_cor, y_own), ports))
    for flow in flows:
        flow.label = _flow_label(flow)


def _edge_events(by_id: dict[str, Node]) -> dict[tuple[str, bool], int]:
    """Boundary events per (host, on its top edge?): flows must leave and enter between them."""
    events: dict[tuple[str, bool], int] = {}
    for node in by_id.values():
        if node.kind == "boundary" and node.host:
            events[node.host, node.on_top] = events.get((node.host, node.on_top), 0) + 1
    return events


def _side_port(node: Node, ports: list[int], up: bool) -> int:
    """Where a forward flow leaves by the top or bottom: an activity's top exit sits left of centre and its
    bottom exit right of it, so that flows crossing the gap between two shapes stacked in a column never
    meet; events and gateways use their corner; a spanning subprocess its last column."""
    box = node.box
    if box.w <= 50:
        return box.cx
    if node.spanning:
        return box.right - 12
    off_centre = [x for x in ports if x != box.cx] or ports
    return min(off_centre) if up else max(off_centre)


def _ports(node: Node, events: int, on_top: bool) -> list[int]:
    """x positions on a shape's top or bottom edge clear of the boundary events there, best first."""
    box = node.box
    if node.spanning:  # its name is centred on its top; its boundary events sit under its last columns
        return [box.right - 12, box.x + 12]
    taken = boundary_offsets(node, events, on_top) if events else []
    between = [(a + b) // 2 for a, b in zip(sorted(taken), sorted(taken)[1:], strict=False)]
    ports: list[int] = []
    for offset in (box.w // 2, box.w // 4, 3 * box.w // 4, *between):
        if all(abs(offset - x) >= 24 for x in taken) and box.x + offset not in ports:
            ports.append(box.x + offset)
    return ports or [box.cx]


def _points(
    plan: Plan,
    s: Box,
    t: Box,
    channels: dict[int, int],
    corridors: tuple[int, int],
    ports: tuple[list[int], list[int], int],
) -> list[Point]:
    before_s = channels[plan.cs - 1] + track_offset(plan.s_track)
    before_t = channels[plan.ct - 1] + track_offset(plan.t_track)
    (y_cor, y_own), (s_ports, t_ports, x_side) = corridors, ports
    y_side = s.y if plan.up else s.bottom
    kind = plan.kind
    if kind == "straight":
        return [(s.right, s.cy), (t.x, t.cy)]
    if kind == "into_gateway":
        return [(s.right, s.cy), (t.cx, s.cy), (t.cx, t.y if s.cy < t.cy else t.bottom)]
    if kind == "row_then_channel":
        return [(s.right, s.cy), (before_t, s.cy), (before_t, t.cy), (t.x, t.cy)]
    if kind == "vertical":
        return [(x_side, y_side), (x_side, t.cy), (t.x, t.cy)]
    if kind == "side_corridor":
        return [(x_side, y_side), (x_side, y_cor), (before_t, y_cor), (before_t, t.cy), (t.x, t.cy)]
    if kind == "detour":  # over a spanning subprocess: up a channel beside it, across above it
        x_via = channels[plan.via] + track_offset(plan.v_track)
        return [
            *[(x_side, y_side), (x_side, y_cor), (x_via, y_cor), (x_via, y_own)],
            *[(before_t, y_own), (before_t, t.cy), (t.x, t.cy)],
        ]
    if kind == "self":
        out, back_in = (s_ports[1], s_ports[0]) if len(s_ports) > 1 else (s_ports[0] + 5, s_ports[0] - 5)
        return [(out, s.y), (out, y_cor), (back_in, y_cor), (back_in, s.y)]
    # A loop: up into the corridor above the higher end (if a shape sits above the source: from the left of
    # its top, clear of flows dropping onto it, to the channel on its left), across, down into the target.
    up, aside = s_ports[0], s_ports[1 if len(s_ports) > 1 else 0]
    exit_ = (
        [(up, s.y), (up, y_cor)]
        if plan.up
        else [(aside, s.y), (aside, y_own), (before_s, y_own), (before_s, y_cor)]
    )
    if plan.down:
        return [*exit_, (t_ports[plan.entry], y_cor), (t_ports[plan.entry], t.y)]
    return [*exit_, (before_t, y_cor), (before_t, t.cy), (t.x, t.cy)]


def _simplify(points: list[Point]) -> list[Point]:
    out: list[Point] = []
    for p in points:
        if out and p == out[-1]:
            continue
        if len(out) >= 2 and (out[-2][0] == out[-1][0] == p[0] or out[-2][1] == out[-1][1] == p[1]):
            out[-1] = p
        else:
            out.append(p)
    return out


def _flow_label(flow: Flow) -> Box | None:
    """Above the first horizontal segment long enough for the text: by the source on the first segment,
    by the bend on the last one, by the far end on a corridor (where branches sharing a trunk part); else
    beside the longest vertical segment."""
    if not flow.name or len(flow.points) < 2:
        return None
    w, h = text_size(flow.name)
    pairs = list(zip(flow.points, flow.points[1:], strict=False))
    fitting = [(a, b) for a, b in pairs if a[1] == b[1] and abs(b[0] - a[0]) >= w + 12]
    if fitting:
        a, b = fitting[0]
        if b[0] < a[0]:  # a loop heading back: next to where it turns back, not where it lands
            return Box(a[0] - 6 - w, a[1] - 4 - h, w, h)
        if (a, b) == pairs[0] or (a, b) == pairs[-1]:
            marker = flow.default and (a, b) == pairs[0]  # keep clear of the default-flow marker
            return Box(a[0] + (16 if marker else 6), a[1] - 4 - h, w, h)
        return Box(b[0] - 6 - w, a[1] - 4 - h, w, h)
    vertical = [(a, b) for a, b in pairs if a[0] == b[0]]
    if not vertical:
        (x0, y0), (x1, _) = pairs[0]
        return Box(min(x0, x1) + 6, y0 - 4 - h, w, h)
    a, b = max(vertical, key=lambda ab: abs(ab[1][1] - ab[0][1]))  # by the end it starts from
    return Box(a[0] + 6, a[1] + 6 if b[1] > a[1] else a[1] - 6 - h, w, h)
