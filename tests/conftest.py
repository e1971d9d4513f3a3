"""Fixtures: a real database per backend (SQLite always, PostgreSQL when TEST_DATABASE_URL is set),
schema from `alembic upgrade head`, every table emptied after each test, the clock reset."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from engine import migrate
from engine.clock import clock
from engine.db import Base, make_engine, make_session_factory, normalize_url


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get("TEST_DATABASE_URL") else ["sqlite"]


@pytest.fixture(scope="session", params=_backends())
def db_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    else:
        url = normalize_url(os.environ["TEST_DATABASE_URL"])
        reset = make_engine(url)
        with reset.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        reset.dispose()
    migrate.upgrade(url)
    db = make_engine(url)
    yield db
    db.dispose()


@pytest.fixture
def backend(db_engine: Engine) -> str:
    return db_engine.dialect.name


@pytest.fixture
def sf(db_engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A session factory on the test database; tests commit for real (threads need that)."""
    yield make_session_factory(db_engine)
    clock.reset()
    _empty_all_tables(db_engine)


@pytest.fixture
def session(sf: sessionmaker[Session]) -> Iterator[Session]:
    with sf() as s:
        yield s


def _empty_all_tables(db: Engine) -> None:
    with db.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def seeded(sf: sessionmaker[Session]) -> sessionmaker[Session]:
    """Calendar, clock rules, the shipped processes and the demo accounts."""
    from engine import seed
    from engine.db import unit_of_work

    with unit_of_work(sf) as s:
        seed.seed_reference(s)
        seed.seed_demo_accounts(s)
    return sf


@pytest.fixture
def db_url(db_engine: Engine) -> str:
    return db_engine.url.render_as_string(hide_password=False)
