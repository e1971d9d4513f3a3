"""Tracks for routed flows: where two flows would share a line, the later one moves to another route or
to a parallel track in the same corridor (horizontal, between rows) or channel (vertical, between columns)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tools.diagram import Flow

if TYPE_CHECKING:
    from tools.flow_routes import Grid, Plan

CHANNEL_TRACK = 8  # between parallel flows in a channel


def separate_runs(flows: list[Flow], plans: dict[str, Plan]) -> None:
    """Two flows running along the same row or column line (through empty cells) would look like one:
    the later one goes by the corridor next to its source and a channel instead. Runs are measured in
    half cells (row r's centre is 2r + 1); flows sharing a source or a target may share a line."""
    runs: dict[tuple[str, int], list[tuple[int, int, str, str]]] = {}

    def fits(line: tuple[str, int], a: int, b: int, flow: Flow) -> bool:
        lo, hi = min(a, b), max(a, b)
        return not any(
            x < hi and lo < y and src != flow.source and tgt != flow.target
            for x, y, src, tgt in runs.get(line, [])
        )

    def lines(plan: Plan) -> list[tuple[tuple[str, int], int, int]]:
        rs, cs, rt, ct = 2 * plan.rs + 1, 2 * plan.cs + 1, 2 * plan.rt + 1, 2 * plan.ct + 1
        return {
            "straight": [(("row", plan.rs), cs, ct)],
            "vertical": [
                (("col", plan.cs), rs, rt),
                (("row", plan.rt), cs - 1, ct),
            ],  # a port may be off centre
            "into_gateway": [(("row", plan.rs), cs, ct), (("col", plan.ct), rs, rt)],
            "row_then_channel": [(("row", plan.rs), cs, ct - 1)],
            "back": [(("col", plan.cs), 2 * plan.gap, rs)] * plan.up
            + [(("col", plan.ct), 2 * plan.gap, rt)] * plan.down,
        }.get(plan.kind, [])

    fixed = ("straight", "back")
    for flow in sorted(flows, key=lambda f: plans[f.id].kind not in fixed):
        plan = plans[flow.id]
        wanted = lines(plan)
        if plan.kind not in fixed and not all(fits(line, a, b, flow) for line, a, b in wanted):
            if plan.kind in ("into_gateway", "row_then_channel"):
                plan.up = plan.rt < plan.rs
            plan.kind, plan.gap, wanted = "side_corridor", (plan.rs if plan.up else plan.rs + 1), []
        for line, a, b in wanted:
            runs.setdefault(line, []).append((min(a, b), max(a, b), flow.source, flow.target))


def corridor_tracks(flows: list[Flow], plans: dict[str, Plan], grid: Grid) -> None:
    """Flows whose column spans overlap in a corridor get separate tracks. Flows coming down from the row
    above take the upper tracks, those coming up from the row below the lower ones, so that two stubs
    meeting in a gap at the same x never touch. In the corridor along a spanning subprocess's top edge,
    flows passing over it take the tracks above the edge (grid.lid), flows inside it those below."""
    used: dict[int, list[tuple[int, int, int, bool, bool]]] = {}

    def track(gap: int, lo: int, hi: int, from_above: bool, floor: int, inner: bool) -> int:
        overlapping = [(k, above) for a, b, k, above, _ in used.get(gap, []) if a <= hi and lo <= b]
        floor = max(floor, 0 if from_above else 1 + max((k for k, above in overlapping if above), default=-1))
        busy = {k for k, _ in overlapping}
        free = min(k for k in range(floor, floor + len(busy) + 1) if k not in busy)
        used.setdefault(gap, []).append((lo, hi, free, from_above, inner))
        return free

    def parent_tracks(gap: int) -> int:
        return 1 + max((k for _, _, k, _, inner in used.get(gap, []) if not inner), default=-1)

    stubs: list[tuple[Plan, str, int, int, int, bool, str | None]] = []
    for flow in flows:
        plan = plans[flow.id]
        inside = grid.owner.get(flow.id)
        first = grid.span[inside].first if inside else -1
        if plan.gap >= 0:
            plan.gap = min(plan.gap, grid.nrows)
            lo, hi = sorted((plan.cs, plan.via if plan.kind == "detour" else plan.ct))
            stubs.append(
                (plan, "gap", plan.gap, lo, hi, plan.gap > plan.rs, inside if plan.gap == first else None)
            )
        if plan.own >= 0:
            lo, hi = sorted((plan.via, plan.ct)) if plan.kind == "detour" else (plan.cs - 1, plan.cs)
            stubs.append((plan, "own", plan.own, lo, hi, False, inside if plan.own == first else None))
    for plan, which, gap, lo, hi, from_above, under in sorted(
        stubs, key=lambda st: (st[6] is not None, not st[5])
    ):
        floor = 0
        if under is not None:
            grid.lid.setdefault(under, parent_tracks(gap) + (3 if under in grid.raised else 0))
            floor = grid.lid[under] + 3  # under its top edge and its name
        k = track(gap, lo, hi, from_above, floor, under is not None)
        if which == "gap":
            plan.track = k
        else:
            plan.own_track = k
    for name, span in grid.span.items():
        grid.lid.setdefault(name, parent_tracks(span.first) + (3 if name in grid.raised else 0))


def channel_tracks(flows: list[Flow], plans: dict[str, Plan]) -> None:
    """Vertical runs in one channel get separate tracks where their extents overlap (in half rows: row r's
    centre is 2r + 1, the gap above it 2r), unless they share their source or target (a fork or a join)."""
    used: dict[int, list[tuple[int, int, int, str, str]]] = {}
    for flow in flows:
        plan = plans[flow.id]
        runs: list[tuple[str, int, int, int]] = []  # (which, channel, from, to)
        if plan.kind == "row_then_channel":
            runs.append(("t", plan.ct - 1, 2 * plan.rs + 1, 2 * plan.rt + 1))
        elif plan.kind == "side_corridor":
            runs.append(("t", plan.ct - 1, 2 * plan.gap, 2 * plan.rt + 1))
        elif plan.kind == "detour":
            runs.append(("v", plan.via, 2 * plan.gap, 2 * plan.own))
            runs.append(("t", plan.ct - 1, 2 * plan.own, 2 * plan.rt + 1))
        elif plan.kind == "back":
            if plan.own >= 0:
                runs.append(("s", plan.cs - 1, 2 * plan.own, 2 * plan.gap))
            if not plan.down:
                runs.append(("t", plan.ct - 1, 2 * plan.gap, 2 * plan.rt + 1))
        for which, channel, a, b in runs:
            lo, hi = min(a, b), max(a, b)
            here = used.setdefault(channel, [])
            overlapping = [(k, src, tgt) for x, y, k, src, tgt in here if x <= hi and lo <= y]
            mates = {k for k, src, tgt in overlapping if src == flow.source or tgt == flow.target}
            busy = {k for k, src, tgt in overlapping if src != flow.source and tgt != flow.target}
            shared = sorted(mates - busy)
            track = shared[0] if shared else min(k for k in range(len(busy) + 1) if k not in busy)
            here.append((lo, hi, track, flow.source, flow.target))
            if which == "t":
                plan.t_track = track
            elif which == "v":
                plan.v_track = track
            else:
                plan.s_track = track


def channel_load(plans: dict[str, Plan]) -> dict[int, int]:
    """How many tracks each channel needs (channel c lies between columns c and c + 1)."""
    load: dict[int, int] = {}
    for plan in plans.values():
        for channel, track in (
            (plan.ct - 1, plan.t_track),
            (plan.cs - 1, plan.s_track),
            (plan.via, plan.v_track),
        ):
            load[channel] = max(load.get(channel, 1), track + 1)
    return load


def track_offset(track: int) -> int:
    """Tracks alternate around the channel's middle: 0, -8, +8, -16, +16, ..."""
    return (-1 if track % 2 else 1) * CHANNEL_TRACK * ((track + 1) // 2)
