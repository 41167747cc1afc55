"""Fixtures for the report tests: the known data set at a frozen clock, users per role."""

from __future__ import annotations

import pytest

from engine.values import clock
from tests.reports import dataset
from tests.web.conftest import as_role, password_hash, users  # noqa: F401  (fixtures)


@pytest.fixture
def data(database):
    """The known data set, with the clock at dataset.NOW."""
    dataset.build(database)
    clock.freeze(dataset.NOW)
    return database
