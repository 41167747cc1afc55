"""Test fixtures: a migrated database per test on SQLite and on PostgreSQL, app, client, runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text

from engine import config as config_mod
from engine.db import Database, forget_databases, get_database
from engine.migrate import upgrade
from engine.values import clock
from tests import services

BACKENDS = ["sqlite", "postgres"]

# The suite replays scenarios on fixed dates, some after today's date; events may be dated
# up to ten years ahead here (production: one day). tests/engine/test_input_contracts.py
# checks the window itself (a year-9999 event is refused either way).
os.environ.setdefault("FXCRM_EVENT_MAX_AHEAD", "3650d")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite database migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "fxcrm.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL database for this test run, migrated once, dropped at the end."""
    admin = services.service_url("postgres")
    if admin is None:
        yield None
        return
    server = services.PostgresServer(admin)
    url = server.create()
    upgrade(url)
    yield url
    forget_databases()
    server.drop_all()


_TABLES: dict[str, list[str]] = {}


def _truncate(database: Database) -> None:
    """Empty the tables earlier tests wrote to (one query finds them; TRUNCATE is slow)."""
    url = database.config.database_url
    if url not in _TABLES:
        from sqlalchemy import inspect

        _TABLES[url] = sorted(set(inspect(database.engine).get_table_names()) - {"alembic_version"})
    existing = _TABLES[url]
    probe = " UNION ALL ".join(f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM \"{name}\")" for name in existing)
    with database.engine.begin() as conn:
        used = [row[0] for row in conn.execute(text(probe))] if probe else []
        if used:
            names = ", ".join(f'"{name}"' for name in used)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def make_config(url: str, **overrides) -> config_mod.Config:
    """Return a test configuration for `url` with no Redis and no environment secrets."""
    base = config_mod.Config(database_url=url, rules_dir="rules", secret_key="test-secret", ticker_seconds=3600)
    return base.with_overrides(**overrides)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    return request.param


@pytest.fixture
def db_url(backend, request, tmp_path, sqlite_template) -> str:
    """The URL of an empty, migrated database on this backend."""
    if backend == "sqlite":
        return services.sqlite_copy(sqlite_template, tmp_path)
    url = request.getfixturevalue("postgres_url")
    if url is None:
        pytest.skip("PostgreSQL is not reachable; set FXCRM_TEST_POSTGRES_URL to run this")
    return url


@pytest.fixture
def database(db_url, backend, tmp_path) -> Database:
    """A Database on an empty schema; PostgreSQL tables are truncated before each test.
    Document files go to a folder of the test's own."""
    forget_databases()
    db = get_database(make_config(db_url, documents_url=str(tmp_path / "documents")))
    if backend == "postgres":
        _truncate(db)
    yield db
    forget_databases()


@pytest.fixture
def fresh_url(backend, tmp_path):
    """An empty database with no schema at all, on this backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    from tests import services

    server = services.PostgresServer(services.require("postgres"))
    yield server.create()
    server.drop_all()


@pytest.fixture
def pg_database(request) -> Database:
    """A Database on PostgreSQL only (distributed-mode tests)."""
    url = request.getfixturevalue("postgres_url")
    if url is None:
        pytest.skip("PostgreSQL is not reachable; set FXCRM_TEST_POSTGRES_URL to run this")
    forget_databases()
    db = get_database(make_config(url))
    _truncate(db)
    yield db
    forget_databases()


@pytest.fixture(autouse=True, scope="session")
def _handlers_loaded():
    """Load the domains' projections once, first: a test that swaps one handler list
    (monkeypatch.setitem) then restores it instead of deleting a key that a later, lazy
    load would have filled (which left payment.deposit_failed unprojected for the rest
    of the worker's tests)."""
    from engine import processing

    processing.load_handlers()


@pytest.fixture(autouse=True)
def _reset_clock():
    yield
    clock.freeze(None)


@pytest.fixture
def app(database):
    """The Flask app on the test database."""
    from web import create_app

    return create_app({"TESTING": True, "FXCRM_CONFIG": database.config, "TICKER": False})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(database, monkeypatch):
    """Invoke `fxcrm` commands against the test database."""
    from click.testing import CliRunner

    from engine.cli import main

    monkeypatch.setenv("FXCRM_DATABASE_URL", database.config.database_url)
    monkeypatch.setenv("FXCRM_SECRET_KEY", "test-secret")
    monkeypatch.delenv("FXCRM_REDIS_URL", raising=False)

    class Runner:
        def invoke(self, args, **kwargs):
            return CliRunner().invoke(main, args, catch_exceptions=False, **kwargs)

    return Runner()
