"""Alembic environment: the URL comes from engine.migrate, or DATABASE_URL for the alembic command."""

import os

from alembic import context

import engine.models  # noqa: F401  (registers the tables on Base.metadata)
from engine.db import Base, make_engine

config = context.config


def run_migrations() -> None:
    url = config.attributes.get("url") or os.environ.get("DATABASE_URL")
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    db_engine = make_engine(url)
    with db_engine.connect() as conn:
        _run(conn)
    db_engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
