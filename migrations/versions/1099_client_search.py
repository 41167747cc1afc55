"""client search: a phone number, and one lower-cased search column (pg_trgm on PostgreSQL)

Revision ID: 1099_client_search
Revises: 1097_event_conflicts
Create Date: 2026-12-05 13:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '1099_client_search'
down_revision = '1097_event_conflicts'
branch_labels = None
depends_on = None

BACKFILL = """
UPDATE clients SET search_text = lower(
    coalesce(ref, '') || ' | ' || coalesce(email, '') || ' | '
    || trim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) || ' | '
    || coalesce(referral_code, '') || ' | ')
"""


# SQLite: an FTS5 table with the trigram tokenizer (SQLite 3.34+) over clients.search_text,
# kept by triggers, turns `LIKE '%x%'` into an index lookup.
SQLITE_FTS = [
    "CREATE VIRTUAL TABLE clients_fts USING fts5(search_text, content='clients', "
    "content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER clients_fts_insert AFTER INSERT ON clients BEGIN "
    "INSERT INTO clients_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER clients_fts_delete AFTER DELETE ON clients BEGIN "
    "INSERT INTO clients_fts(clients_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER clients_fts_update AFTER UPDATE OF search_text ON clients BEGIN "
    "INSERT INTO clients_fts(clients_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO clients_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "INSERT INTO clients_fts(clients_fts) VALUES ('rebuild')",
]


def upgrade() -> None:
    with op.batch_alter_table('clients') as batch:
        batch.add_column(sa.Column('phone', sa.String(length=40), nullable=True))
        batch.add_column(sa.Column('search_text', sa.Text(), nullable=True))
    op.execute(BACKFILL)
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        # SQLite older than 3.34 has no trigram tokenizer: the search then scans the column.
        try:
            with bind.begin_nested():
                for statement in SQLITE_FTS:
                    bind.execute(sa.text(statement))
        except sa.exc.OperationalError:
            pass
    if bind.dialect.name == 'postgresql':
        # A trigram index turns `search_text LIKE '%x%'` into an index lookup. pg_trgm is
        # a trusted extension (PostgreSQL 13+); where it cannot be created the search
        # still works, scanning the one column.
        try:
            with bind.begin_nested():
                bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
                bind.execute(sa.text("CREATE INDEX ix_clients_search_trgm ON clients "
                                     "USING gin (search_text gin_trgm_ops)"))
                bind.execute(sa.text("CREATE INDEX ix_trading_accounts_id_trgm ON trading_accounts "
                                     "USING gin (lower(account_id) gin_trgm_ops)"))
        except sa.exc.DBAPIError:
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for name in ("clients_fts_insert", "clients_fts_delete", "clients_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS clients_fts")
    op.execute("DROP INDEX IF EXISTS ix_clients_search_trgm")
    op.execute("DROP INDEX IF EXISTS ix_trading_accounts_id_trgm")
    with op.batch_alter_table('clients') as batch:
        batch.drop_column('search_text')
        batch.drop_column('phone')
