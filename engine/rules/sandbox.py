"""Throw-away databases for rule tests and backtests: SQLite in memory, no folder on disk."""

from __future__ import annotations

import uuid

from engine import config as config_mod
from engine.db import Database


def sandbox_database(rules_dir: str, label: str) -> Database:
    """Return a new empty database held in this process's memory, its tables created.

    A named shared-cache memory database: every connection of the engine (one a thread)
    sees the same data, and it disappears when the last one closes (`dispose()`).
    """
    from engine.models import load_all

    url = f"sqlite:///file:fxcrm-{label}-{uuid.uuid4().hex}?mode=memory&cache=shared&uri=true"
    database = Database(config_mod.Config(database_url=url, rules_dir=rules_dir, ticker_seconds=3600))
    load_all().create_all(database.engine)
    return database
