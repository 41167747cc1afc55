"""event conflicts: an event id delivered again with different content is kept, not dropped

Revision ID: 1097_event_conflicts
Revises: 1095_deposits_on_platform
Create Date: 2026-12-05 13:00:00
"""
from alembic import op
import sqlalchemy as sa
import engine.db
from sqlalchemy.dialects import postgresql


revision = '1097_event_conflicts'
down_revision = '1095_deposits_on_platform'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('event_conflicts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('event_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('envelope', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('differs', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('via', sa.String(length=20), nullable=False),
    sa.Column('first_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('times', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'event_id', 'digest', name='uq_event_conflicts')
    )
    op.create_index(op.f('ix_event_conflicts_event_seq'), 'event_conflicts', ['event_seq'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_event_conflicts_event_seq'), table_name='event_conflicts')
    op.drop_table('event_conflicts')
