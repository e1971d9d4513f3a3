"""Roles: the one place that maps BPMN lane names to role codes and role codes to Chinese names."""

from __future__ import annotations

ROLE_NAMES: dict[str, str] = {
    "officer": "办案人员",
    "legal_reviewer": "法制审核员",
    "legal_counsel": "法律顾问",
    "section_chief": "科室负责人",
    "deputy_director": "分管领导",
    "director": "局长",
    "discussion_member": "集体讨论成员",
    "hearing_officer": "听证主持人",
    "supervisor": "督办",
    "process_admin": "流程管理员",
    "admin": "系统管理员",
}

# A lane may be named by its Chinese role name (as a process owner draws it) or by the code.
_LANE_ALIASES: dict[str, str] = {name: code for code, name in ROLE_NAMES.items()}
_LANE_ALIASES.update({"负责人": "section_chief", "主要负责人": "director", "法制审核": "legal_reviewer"})


def role_for_lane(lane: str | None) -> str | None:
    """The role code a lane stands for, or None when the lane is unknown or absent."""
    if not lane:
        return None
    lane = lane.strip()
    if lane in ROLE_NAMES:
        return lane
    return _LANE_ALIASES.get(lane)


def role_name(code: str) -> str:
    """The Chinese name of a role code (the code itself when unknown)."""
    return ROLE_NAMES.get(code, code)


def split_list(value: str | None) -> list[str]:
    """Camunda's comma-separated attribute lists (candidateGroups, candidateUsers)."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]
