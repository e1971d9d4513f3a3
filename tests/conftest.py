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


_SNAPSHOTS: dict[str, list[tuple[str, list[dict[str, object]]]]] = {}


@pytest.fixture
def seeded(sf: sessionmaker[Session], db_engine: Engine) -> sessionmaker[Session]:
    """Calendar, clock rules, the shipped processes and the demo accounts. Seeded once per
    database, then restored from a snapshot of the rows for every test (hashing 16 passwords
    and deploying every file each time would cost seconds per test)."""
    from engine import seed
    from engine.db import unit_of_work

    key = str(db_engine.url)
    if key not in _SNAPSHOTS:
        with unit_of_work(sf) as s:
            seed.seed_reference(s)
            seed.seed_demo_accounts(s)
        with db_engine.connect() as conn:
            _SNAPSHOTS[key] = [
                (table.name, [dict(row._mapping) for row in conn.execute(table.select())])
                for table in Base.metadata.sorted_tables
            ]
        return sf
    with db_engine.begin() as conn:
        for name, rows in _SNAPSHOTS[key]:
            if rows:
                conn.execute(Base.metadata.tables[name].insert(), rows)
        if db_engine.dialect.name == "postgresql":
            for name, rows in _SNAPSHOTS[key]:
                table = Base.metadata.tables[name]
                if rows and "id" in table.c and table.c.id.autoincrement is not False:
                    sequence = f"pg_get_serial_sequence('{name}', 'id')"
                    conn.execute(text(f"SELECT setval({sequence}, (SELECT max(id) FROM {name}))"))
    return sf


@pytest.fixture
def db_url(db_engine: Engine) -> str:
    return db_engine.url.render_as_string(hide_password=False)
