"""rule aggregates: index events by (client_ref, type, occurred_at)

Rule aggregates (`count(payment.deposit_failed within 1h)`, `sum(trade.closed.volume_lots
within 48h)`) read one client's events of one type in a window; this index makes that
read follow the window's events only, whatever the client's (or the type's) history.

Revision ID: 1102_rule_aggregates
Revises: 1101_user_time_zone
Create Date: 2026-12-05 17:00:00
"""
from alembic import op


revision = '1102_rule_aggregates'
down_revision = '1101_user_time_zone'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_events_client_type_time', 'events', ['client_ref', 'type', 'occurred_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_events_client_type_time', table_name='events')
