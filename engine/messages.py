"""BPMN messages from outside: a reply from the police, an officer's request to suspend a case.
An instance's waiting catch events and its event subprocesses' message starts are projected into
`message_waits`; a message is delivered to exactly one instance, found by id or correlation key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import instances
from engine.errors import InputError, NotFoundError
from engine.models import InstanceStatus, MessageWait, ProcessInstance
from engine.users import Actor
from engine.workflow import runtime


def find_waiting(session: Session, name: str, correlation_key: str) -> MessageWait:
    """The one instance waiting for message `name` with `correlation_key`; raises NotFoundError."""
    rows = session.scalars(
        select(MessageWait).where(MessageWait.name == name, MessageWait.correlation_key == correlation_key)
    ).all()
    if not rows:
        raise NotFoundError(f"没有流程在等待消息「{name}」（关联号 {correlation_key}）")
    if len({r.instance_id for r in rows}) > 1:
        raise InputError(f"关联号 {correlation_key} 对应多个流程实例，无法投递")
    return rows[0]


def accepted(session: Session, instance_id: int) -> list[MessageWait]:
    """Messages the instance takes now: waiting catch events and event-subprocess starts."""
    return list(
        session.scalars(
            select(MessageWait).where(MessageWait.instance_id == instance_id).order_by(MessageWait.id)
        )
    )


def deliver(
    session: Session,
    name: str,
    *,
    actor: Actor,
    payload: Mapping[str, Any],
    instance_id: int | None = None,
    correlation_key: str | None = None,
) -> ProcessInstance:
    """Deliver message `name` with `payload` and run the instance on, in the caller's transaction.
    Raises NotFoundError when no such instance takes the message, WorkflowScriptError."""
    if instance_id is None:
        if correlation_key is None:
            raise InputError("投递消息需要流程实例编号或关联号")
        instance_id = find_waiting(session, name, correlation_key).instance_id
    instance = instances.get(session, instance_id)
    if instance.status != InstanceStatus.RUNNING:
        raise NotFoundError(f"流程实例 {instance_id} 已结束，不再接收消息")
    waits = {w.name for w in accepted(session, instance_id)}
    if name not in waits:
        raise NotFoundError(f"流程实例 {instance_id} 当前不接收消息「{name}」")
    loaded = instances.load(session, instance, actor)
    runtime.send_message(loaded.workflow, name, dict(payload))
    instances.save(
        session,
        loaded,
        actor=actor,
        action="message.deliver",
        detail={"message": name, "correlation_key": correlation_key, "payload": _jsonable(payload)},
    )
    return instance


def _jsonable(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: (v if isinstance(v, str | int | float | bool | type(None) | list | dict) else str(v))
        for k, v in payload.items()
    }
