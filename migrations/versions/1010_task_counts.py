"""task counts: open-task counters per (queue, assignee) and per (queue, due hour)

The inbox's queue counts read these instead of counting tasks; the counters are
kept in the same transaction as every task change (engine.tasks.counters), and
this migration fills them from the tasks already there.

Revision ID: 1010_task_counts
Revises: 1000_mt5_cursors
Create Date: 2026-11-24 00:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = '1010_task_counts'
down_revision = '1000_mt5_cursors'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('task_counts',
    sa.Column('queue', sa.String(length=32), nullable=False),
    sa.Column('assignee', sa.String(length=320), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('queue', 'assignee')
    )
    with op.batch_alter_table('task_counts', schema=None) as batch_op:
        batch_op.create_index('ix_task_counts_assignee', ['assignee', 'queue', 'n'], unique=False)
    op.create_table('task_due_counts',
    sa.Column('queue', sa.String(length=32), nullable=False),
    sa.Column('due_hour', sa.BigInteger(), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('queue', 'due_hour')
    )
    from engine.tasks.counters import rebuild
    rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_table('task_due_counts')
    with op.batch_alter_table('task_counts', schema=None) as batch_op:
        batch_op.drop_index('ix_task_counts_assignee')
    op.drop_table('task_counts')
