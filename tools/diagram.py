"""The shapes a layout works on: boxes, nodes, flows, lanes and scopes (a process or a subprocess body)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

Point = tuple[int, int]


@dataclass
class Box:
    x: int = 0
    y: int = 0
    w: int = 0
    h: int = 0
    mid: int | None = None  # where flows attach on the sides, if not half way down (spanning subprocesses)

    @property
    def cx(self) -> int:
        return self.x + self.w // 2

    @property
    def cy(self) -> int:
        return self.y + self.h // 2 if self.mid is None else self.mid

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h


@dataclass
class Node:
    id: str
    kind: str  # "start", "event", "boundary", "gateway", "activity", "subprocess"
    name: str = ""
    lane: str | None = None
    host: str | None = None  # boundary events: the activity they are attached to
    on_top: bool = False  # boundary events: on the host's top edge (else the bottom edge)
    inner: Scope | None = None  # expanded subprocesses: their body
    triggered: bool = False  # event subprocess
    spanning: bool = False  # a subprocess drawn across lanes around its inner nodes (see grid_ranks)
    box: Box = field(default_factory=Box)
    label: Box | None = None


@dataclass
class Flow:
    id: str
    source: str
    target: str
    name: str = ""
    default: bool = False  # the source's default flow (bpmn-js marks it near the source)
    points: list[Point] = field(default_factory=list)
    label: Box | None = None


@dataclass
class Lane:
    id: str
    name: str
    children: list[Lane] = field(default_factory=list)
    box: Box = field(default_factory=Box)


@dataclass
class Scope:
    nodes: list[Node]  # document order
    flows: list[Flow]
    lanes: list[Lane] = field(default_factory=list)
    box: Box = field(default_factory=Box)  # the participant, or the subprocess body, after layout


def text_size(text: str, max_width: int = 90) -> tuple[int, int]:
    """Approximate size of an external label as bpmn-js renders it (11px font, wrapped at 90px)."""
    lines, width, widest = 1, 0, 0
    for char in text.strip():
        char_w = 11 if unicodedata.east_asian_width(char) in "WF" else 6
        if width + char_w > max_width:
            lines, width = lines + 1, 0
        width += char_w
        widest = max(widest, width)
    return widest, 14 * lines


def leaf_lanes(lanes: list[Lane]) -> list[Lane]:
    return [leaf for lane in lanes for leaf in (leaf_lanes(lane.children) if lane.children else [lane])]


def all_lanes(lanes: list[Lane]) -> list[Lane]:
    """Every lane, each before its children."""
    return [each for lane in lanes for each in (lane, *all_lanes(lane.children))]


def lane_depth(lanes: list[Lane]) -> int:
    return max((1 + lane_depth(lane.children) for lane in lanes), default=0)


def boundary_offsets(host: Node, count: int, on_top: bool) -> list[int]:
    """Where boundary events sit along an edge of their host (centres, from its left): spread evenly,
    except on an expanded subprocess's top, whose name is centred there."""
    if on_top and host.inner is not None:
        return [host.box.w - 40 - 50 * i for i in range(count)]
    return [host.box.w * (2 * i + 1) // (2 * count) for i in range(count)]
