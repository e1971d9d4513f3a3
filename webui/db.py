"""One database session per request, closed at teardown; the view's unit of work commits it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app, g
from sqlalchemy.orm import Session, sessionmaker


def session_factory() -> sessionmaker[Session]:
    factory: sessionmaker[Session] = current_app.extensions["ybjg_sessions"]
    return factory


def get_session() -> Session:
    if "db_session" not in g:
        g.db_session = session_factory()()
    session: Session = g.db_session
    return session


def close_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """The request's transaction: commit on success, roll back on any exception."""
    session = get_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
