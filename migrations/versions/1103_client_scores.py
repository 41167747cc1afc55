"""client scores: one row per contribution a rule made to a client's named score

Revision ID: 1103_client_scores
Revises: 1102_rule_aggregates
Create Date: 2026-12-05 17:20:00

(Planned after 1100_task_subject; 1104 and 1105 took that place first, so this
revision follows them to keep one head.)
"""
from alembic import op
import sqlalchemy as sa
import engine.db


revision = '1103_client_scores'
down_revision = '1102_rule_aggregates'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('client_score_contributions',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('client_ref', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('rule_id', sa.String(length=100), nullable=True),
    sa.Column('ruleset_version', sa.String(length=64), nullable=True),
    sa.Column('trigger_key', sa.String(length=300), nullable=False),
    sa.Column('at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('trigger_key')
    )
    op.create_index('ix_client_scores_client_name', 'client_score_contributions',
                    ['client_ref', 'name'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_client_scores_client_name', table_name='client_score_contributions')
    op.drop_table('client_score_contributions')
