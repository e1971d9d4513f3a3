"""Path tests of the shipped processes: the seeded database, and coverage collected after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.processes.coverage import VISITS


@pytest.fixture(autouse=True)
def _collect_coverage(sf: sessionmaker[Session]) -> Iterator[None]:
    yield
    VISITS.collect(sf)  # before `sf` empties the tables


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The coverage check runs after every path test."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/processes/test_coverage.py"))
