"""The Alembic migrations build exactly the schema the models declare."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from engine.migrate import alembic_config
from engine.models import load_all


def test_one_head():
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"migrations have several heads: {heads}"


def _declared(obj, name, type_, reflected, compare_to):
    """Skip the optional PostgreSQL-only indexes a migration adds when it can."""
    from engine.clients.models import OPTIONAL_INDEXES, SEARCH_FTS

    if type_ == "table" and reflected and name.startswith(SEARCH_FTS):
        return False
    return not (type_ == "index" and reflected and name in OPTIONAL_INDEXES)


def test_migrated_schema_matches_the_models(database):
    with database.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False, "include_object": _declared})
        diff = compare_metadata(ctx, load_all())
    assert diff == [], f"models and migrations differ: {diff}"
