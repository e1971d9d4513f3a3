"""Comments on a case (办案意见交流): added with an audit event, listed newest first, never edited."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.clock import utcnow
from engine.errors import InputError, NotFoundError
from engine.models import Case, Comment
from engine.users import Actor

MAX_LENGTH = 2000


def add(session: Session, case_id: int, body: str, *, actor: Actor) -> Comment:
    """Add a comment to the case in the caller's transaction. Raises InputError (empty or too long),
    NotFoundError."""
    text = (body or "").replace("\r\n", "\n").strip()
    if not text:
        raise InputError("请填写意见内容")
    if len(text) > MAX_LENGTH:
        raise InputError(f"意见内容过长（最多 {MAX_LENGTH} 字，当前 {len(text)} 字）")
    if session.get(Case, case_id) is None:
        raise NotFoundError(f"案件 {case_id} 不存在")
    comment = Comment(case_id=case_id, author=actor.username, body=text, created_at=utcnow())
    session.add(comment)
    session.flush()  # the audit event names the comment's id
    audit.record(
        session,
        actor=actor.username,
        client_addr=actor.client_addr,
        action="comment.add",
        object_type="comment",
        object_id=str(comment.id),
        case_id=case_id,
        after=text,
        detail={"length": len(text)},
    )
    return comment


def list_for_case(session: Session, case_id: int, *, limit: int = 500) -> list[Comment]:
    """The case's comments, newest first."""
    query = (
        select(Comment)
        .where(Comment.case_id == case_id)
        .order_by(Comment.created_at.desc(), Comment.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))
