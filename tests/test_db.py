from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from engine.db import Base
from engine.models import Unit, User


def test_schema_round_trips_utc(session) -> None:
    session.add(Unit(code="u1", name="区局"))
    when = datetime(2024, 10, 1, 8, 30, tzinfo=UTC)
    session.add(User(username="a", full_name="甲", unit_code="u1", created_at=when))
    session.commit()
    session.expire_all()
    user = session.scalars(select(User)).one()
    assert user.created_at == when and user.created_at.tzinfo is not None


def test_migrations_build_exactly_the_models(db_engine) -> None:  # type: ignore[no-untyped-def]
    """`alembic upgrade head` and engine/models.py describe the same tables, columns, types and
    indexes: a model changed without a revision (or the reverse) shows up here."""
    with db_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
