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


def upgrade() -> None:
    with op.batch_alter_table('clients') as batch:
        batch.add_column(sa.Column('phone', sa.String(length=40), nullable=True))
        batch.add_column(sa.Column('search_text', sa.Text(), nullable=True))
    op.execute(BACKFILL)
    bind = op.get_bind()
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
    op.execute("DROP INDEX IF EXISTS ix_clients_search_trgm")
    op.execute("DROP INDEX IF EXISTS ix_trading_accounts_id_trgm")
    with op.batch_alter_table('clients') as batch:
        batch.drop_column('search_text')
        batch.drop_column('phone')
