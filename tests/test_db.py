from datetime import UTC, datetime

from sqlalchemy import select

from engine.models import Unit, User


def test_schema_round_trips_utc(session) -> None:
    session.add(Unit(code="u1", name="区局"))
    when = datetime(2024, 10, 1, 8, 30, tzinfo=UTC)
    session.add(User(username="a", full_name="甲", unit_code="u1", created_at=when))
    session.commit()
    session.expire_all()
    user = session.scalars(select(User)).one()
    assert user.created_at == when and user.created_at.tzinfo is not None
