"""rules: ruleset versions and activations, durable timers, action log

Revision ID: 0800_rules
Revises: 0720_inbox_indexes
"""
from alembic import op
import sqlalchemy as sa
import engine.db
from sqlalchemy.dialects import postgresql

revision = '0800_rules'
down_revision = '0720_inbox_indexes'
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('rule_versions',
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('files', JSON, nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('created_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.PrimaryKeyConstraint('version')
    )
    op.create_table('rule_activations',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('activated_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('activated_by', sa.String(length=320), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_rule_activations_version', 'rule_activations', ['version'], unique=False)
    op.create_table('rule_timers',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('client_ref', sa.String(length=100), nullable=False),
    sa.Column('rule_id', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=True),
    sa.Column('ruleset_version', sa.String(length=64), nullable=False),
    sa.Column('event_seq', BIGID, nullable=True),
    sa.Column('due_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', engine.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('explanation', JSON, nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key', name='uq_rule_timers_key')
    )
    op.create_index('ix_rule_timers_status_due', 'rule_timers', ['status', 'due_at'], unique=False)
    op.create_index('ix_rule_timers_client_status', 'rule_timers', ['client_ref', 'status'], unique=False)
    op.create_table('rule_actions',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('client_ref', sa.String(length=100), nullable=False),
    sa.Column('rule_id', sa.String(length=100), nullable=False),
    sa.Column('ruleset_version', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('params', JSON, nullable=False),
    sa.Column('event_seq', BIGID, nullable=True),
    sa.Column('at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('explanation', JSON, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key', name='uq_rule_actions_key')
    )
    op.create_index('ix_rule_actions_client', 'rule_actions', ['client_ref', 'id'], unique=False)
    op.create_index('ix_rule_actions_rule', 'rule_actions', ['rule_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_table('rule_actions')
    op.drop_table('rule_timers')
    op.drop_table('rule_activations')
    op.drop_table('rule_versions')
