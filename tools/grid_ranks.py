"""Columns and rows of a layout grid: longest-path layering from the start events (loops found by DFS are
ignored), then rows within each lane band, the main path first.

A subprocess whose inner nodes sit in lanes of the process ("spanning") is flattened: its inner nodes take
cells of the process grid, in their own lanes, in columns of their own (no other node shares them), and
the subprocess is drawn around them.
"""

from __future__ import annotations

from tools.diagram import Flow, Node
from tools.flow_routes import Grid, Span

Edges = dict[str, list[tuple[str, str | None]]]  # node -> [(successor, flow id; None: host -> boundary)]


def bands_of(nodes: list[Node], flows: list[Flow], bands: list[str | None]) -> dict[str, str | None]:
    """Each node's band: its lane; a boundary event's host's; an unassigned node's predecessor's, else the
    first band (the last for an event subprocess)."""
    by_id = {n.id: n for n in nodes}
    known = set(bands)
    band_of = {n.id: n.lane for n in nodes if n.lane in known}
    for _ in range(len(nodes)):
        for flow in flows:
            target = by_id.get(flow.target)
            if target and flow.target not in band_of and flow.source in band_of and not target.triggered:
                band_of[flow.target] = band_of[flow.source]
    for node in nodes:
        band_of.setdefault(node.id, bands[-1] if node.triggered else bands[0])
    for node in nodes:
        if node.kind == "boundary" and node.host in band_of:
            band_of[node.id] = band_of[node.host]
    return band_of


def build_grid(
    main: list[Node],
    flows: list[Flow],
    by_id: dict[str, Node],
    band_of: dict[str, str | None],
    bands: list[str | None],
    spanning: list[Node],
) -> tuple[Grid, dict[str | None, int]]:
    """Columns and rows of the `main` nodes (no boundary events, no event subprocesses; spanning subprocesses
    replaced by their inner nodes); returns the grid and each band's number of rows."""
    members = {s.id: {m.id for m in s.inner.nodes} for s in spanning if s.inner}
    succ, owner = _edges(main, flows, by_id, members)
    order = {n: i for i, n in enumerate(succ)}
    starts = [n.id for n in main if n.kind == "start" and n.id not in _inner(members)]
    has_in = {t for n in succ for t, f in succ[n] if f is not None}
    roots = starts + [n.id for n in main if n.id not in has_in and n.kind != "start"]
    back_pieces = _back_edges(succ, roots + [n.id for n in main])
    back = {piece.split("\x00")[0] for piece in back_pieces}
    fwd = {n: [(t, f) for t, f in succ[n] if f is None or f.split("\x00")[0] not in back] for n in succ}
    col = _columns(fwd, order, members, {n.id for n in by_id.values() if n.kind == "boundary"})

    reach = dict(col)
    for n in sorted(col, key=lambda n: -col[n]):
        reach[n] = max([reach[n], *(reach[t] for t, _ in fwd[n])])
    preorder: dict[str, int] = {}
    parent: dict[str, str] = {}

    def visit(n: str) -> None:  # placement order: the successors that reach furthest first
        preorder[n] = len(preorder)
        key = lambda e: (e[1] is None, -reach[e[0]], band_of[e[0]] != band_of[n], order[e[0]])  # noqa: E731
        for t, _ in sorted(fwd[n], key=key):
            if t not in preorder:
                parent[t] = n
                visit(t)

    for r in roots + [n.id for n in main]:
        if r not in preorder:
            visit(r)
    rows = _rows(main, fwd, col, preorder, parent, roots, band_of, by_id)

    band_rows = {b: 1 + max((rows[n] for n in rows if band_of[n] == b), default=-1) for b in bands}
    spanned: dict[str, list[str | None]] = {}
    for s in spanning:  # every band a spanning subprocess crosses gets at least one row
        idx = [bands.index(band_of[m]) for m in members[s.id] if m in rows] + [bands.index(band_of[s.id])]
        spanned[s.id] = bands[min(idx) : max(idx) + 1]
        for b in spanned[s.id]:
            band_rows[b] = max(band_rows[b], 1)
    offset, nrows = {}, 0
    for b in bands:
        offset[b] = nrows
        nrows += band_rows[b]
    grow = {n: offset[band_of[n]] + r for n, r in rows.items()}
    cells = {(grow[n], col[n]): n for n in rows}
    grid = Grid(col, grow, back, cells, nrows, owner=owner)
    for s in spanning:
        _span(grid, s, members[s.id], spanned[s.id], offset, band_rows, fwd)
    per_edge: dict[tuple[str, bool], int] = {}
    for b in by_id.values():
        if b.kind == "boundary" and (b.host in grow or b.host in grid.span):
            _boundary_cell(grid, b, succ, per_edge)
    return grid, band_rows


def _inner(members: dict[str, set[str]]) -> set[str]:
    return {m for ids in members.values() for m in ids}


def _edges(
    main: list[Node], flows: list[Flow], by_id: dict[str, Node], members: dict[str, set[str]]
) -> tuple[Edges, dict[str, str]]:
    """The layering graph: flows into (out of) a spanning subprocess lead to its start events (leave its
    last nodes); boundary events hang off their host (off a spanning subprocess's last nodes)."""
    inner = _inner(members)
    ids = [n.id for n in main] + [n.id for n in by_id.values() if n.kind == "boundary" and n.id not in inner]
    ids += [n.id for n in by_id.values() if n.kind == "boundary" and n.id in inner]
    succ: Edges = {n: [] for n in dict.fromkeys(ids)}
    owner = {f.id: s for s, ids_ in members.items() for f in flows if f.source in ids_ and f.target in ids_}
    entries, exits = {}, {}
    for s, ids_ in members.items():
        inner_flows = [f for f in flows if f.id in owner and owner[f.id] == s]
        targets = {f.target for f in inner_flows}
        sources = {f.source for f in inner_flows}
        nodes = [m for m in ids_ if m in succ and by_id[m].kind != "boundary" and not by_id[m].triggered]
        entries[s] = [m for m in nodes if by_id[m].kind == "start"] or [m for m in nodes if m not in targets]
        exits[s] = [m for m in nodes if m not in sources] or nodes
    for flow in flows:
        sources = exits.get(flow.source, [flow.source])
        targets = entries.get(flow.target, [flow.target])
        for k, (a, b) in enumerate((a, b) for a in sources for b in targets):
            if a in succ and b in succ:
                succ[a].append((b, flow.id if k == 0 else f"{flow.id}\x00{k}"))
    for b in (n for n in by_id.values() if n.kind == "boundary" and n.host):
        for host in exits.get(b.host, [b.host]):  # type: ignore[arg-type]
            if host in succ and b.id in succ:
                succ[host].append((b.id, None))
    return succ, owner


def _columns(
    fwd: Edges, order: dict[str, int], members: dict[str, set[str]], boundaries: set[str]
) -> dict[str, int]:
    """Longest path over the forward edges (a boundary event in its host's column). The columns of a
    spanning subprocess are its own: any other node landing there moves to the column after it."""
    least: dict[str, int] = {}
    for _ in range(len(fwd) + 1):
        col = _longest_path(fwd, order, least)
        moved = False
        for ids in members.values():
            mine = [col[m] for m in ids if m in col]
            if not mine:
                continue
            c0, c1 = min(mine), max(mine)
            for n, c in col.items():
                if n not in ids and n not in boundaries and c0 <= c <= c1 and least.get(n, 0) <= c1:
                    least[n], moved = c1 + 1, True
        if not moved:
            return col
    return col


def _longest_path(fwd: Edges, order: dict[str, int], least: dict[str, int]) -> dict[str, int]:
    indeg = {n: 0 for n in fwd}
    for n in fwd:
        for t, _ in fwd[n]:
            indeg[t] += 1
    col = {n: least.get(n, 0) for n in fwd}
    ready = sorted((n for n in fwd if indeg[n] == 0), key=order.__getitem__)
    while ready:
        n = ready.pop(0)
        for t, f in fwd[n]:
            col[t] = max(col[t], col[n] + (0 if f is None else 1))
            indeg[t] -= 1
            if indeg[t] == 0:
                ready.append(t)
    return col


def _rows(
    main: list[Node],
    fwd: Edges,
    col: dict[str, int],
    preorder: dict[str, int],
    parent: dict[str, str],
    roots: list[str],
    band_of: dict[str, str | None],
    by_id: dict[str, Node],
) -> dict[str, int]:
    """Rows within each band: the main path first, each node in its row parent's row if free; cells that a
    straight flow crosses stay free. Exception paths (after boundary events) go below everything to their
    right."""
    normal: set[str] = set()
    stack = list(roots)
    while stack:
        n = stack.pop()
        if n not in normal:
            normal.add(n)
            stack.extend(t for t, f in fwd[n] if f is not None)
    preds: dict[str, list[str]] = {n: [] for n in fwd}
    for n in fwd:
        for t, f in fwd[n]:
            if f is not None:
                preds[t].append(n)
    rows: dict[str, int] = {}
    taken: set[tuple[str | None, int, int]] = set()
    crossed: set[tuple[str | None, int, int]] = set()
    last = max(col.values(), default=0)
    for n in sorted((m.id for m in main), key=lambda m: (m not in normal, preorder[m])):
        band, c = band_of[n], col[n]
        p = _row_parent(n, preds[n], parent, rows, band_of, by_id, col)
        via_boundary = p is not None and by_id[p].kind == "boundary"
        if via_boundary:
            p = by_id[p].host  # type: ignore[index]
        same_band = p in rows and band_of[p] == band  # type: ignore[index]
        r = pref = rows[p] + (1 if via_boundary else 0) if same_band else 0  # type: ignore[index]
        while (
            (band, r, c) in taken
            or (band, r, c) in crossed
            or (via_boundary and any((band, r, k) in taken for k in range(c, last + 1)))
        ):
            r += 1
        rows[n] = r
        taken.add((band, r, c))
        if same_band and r == pref and not via_boundary:
            crossed.update((band, r, k) for k in range(col[p] + 1, c))  # type: ignore[index]
    return rows


def _row_parent(
    n: str,
    preds: list[str],
    parent: dict[str, str],
    rows: dict[str, int],
    band_of: dict[str, str | None],
    by_id: dict[str, Node],
    col: dict[str, int],
) -> str | None:
    """The placed predecessor whose row n should continue: same lane first, then n's DFS parent."""

    def host(p: str) -> str:
        return by_id[p].host if by_id[p].kind == "boundary" else p  # type: ignore[return-value]

    placed = [p for p in preds if host(p) in rows]
    if not placed:
        return None
    return min(placed, key=lambda p: (band_of[host(p)] != band_of[n], p != parent.get(n), -col[host(p)], p))


def _span(
    grid: Grid,
    s: Node,
    ids: set[str],
    spanned: list[str | None],
    offset: dict[str | None, int],
    band_rows: dict[str | None, int],
    fwd: Edges,
) -> None:
    """Record where a spanning subprocess lies and fill its cells, so that other flows go around it."""
    inner = [m for m in ids if m in grid.row]
    c0, c1 = min(grid.col[m] for m in inner), max(grid.col[m] for m in inner)
    first, last = offset[spanned[0]], offset[spanned[-1]] + band_rows[spanned[-1]] - 1
    entries = [m for m in inner if not any(m in (t for t, _ in fwd[p]) for p in inner)] or inner
    exits = [m for m in inner if not any(t in ids for t, _ in fwd.get(m, []))] or inner
    r_in = min(grid.row[m] for m in entries if grid.col[m] == min(grid.col[e] for e in entries))
    r_out = min(grid.row[m] for m in exits if grid.col[m] == max(grid.col[e] for e in exits))
    grid.span[s.id] = Span(c0, c1, first, last, r_in, r_out)
    grid.col[s.id], grid.row[s.id] = c1, r_out
    for r in range(first, last + 1):
        for c in range(c0, c1 + 1):
            grid.cells.setdefault((r, c), s.id)


def _boundary_cell(grid: Grid, b: Node, succ: Edges, per_edge: dict[tuple[str, bool], int]) -> None:
    """A boundary event's cell: its host's; on a spanning subprocess, a column of its own from the right.
    It sits on the top edge when everything it leads to lies above."""
    host: str = b.host  # type: ignore[assignment]
    span = grid.span.get(host)
    targets = [grid.row[t] for t, f in succ.get(b.id, []) if t in grid.row]
    b.on_top = bool(targets) and max(targets) < (span.first if span else grid.row[host])
    if span is None:
        grid.row[b.id], grid.col[b.id] = grid.row[host], grid.col[host]
        return
    k = per_edge.get((host, b.on_top), 0)
    per_edge[host, b.on_top] = k + 1
    if b.on_top:
        grid.raised.add(host)
    grid.row[b.id] = span.first if b.on_top else span.last
    grid.col[b.id] = max(span.c0, span.c1 - k)


def _back_edges(succ: Edges, roots: list[str]) -> set[str]:
    """Flows closing a loop: found by an iterative DFS from the start events, in document order."""
    back: set[str] = set()
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            n, it = stack[-1]
            for t, f in it:
                if state.get(t) == 1 and f is not None:
                    back.add(f)
                elif t not in state:
                    state[t] = 1
                    stack.append((t, iter(succ[t])))
                    break
            else:
                state[n] = 2
                stack.pop()
    return back
