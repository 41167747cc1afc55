"""activation timers: what each activation (or rollback) did to the pending rule timers,
and the clock of the timer run that fired or cancelled each timer when due

Revision ID: 1117_activation_timers
Revises: 1103_client_scores
Create Date: 2026-12-05 19:20:00

Each pending timer is settled under the version activated: kept, rescheduled or
cancelled, with its rule and client (docs/rules.md, "Activation and pending timers").
A backtest fires timers at the moments live timer runs did (`rule_timers.run_at`).
"""
from alembic import op
import engine.db
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '1117_activation_timers'
down_revision = '1103_client_scores'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('rule_activations') as batch:
        batch.add_column(sa.Column(
            'timers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
            nullable=True))
    with op.batch_alter_table('rule_timers') as batch:
        batch.add_column(sa.Column('run_at', engine.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rule_timers') as batch:
        batch.drop_column('run_at')
    with op.batch_alter_table('rule_activations') as batch:
        batch.drop_column('timers')
