"""inbox indexes: open tasks across queues, closed history per queue, tasks per rule

Revision ID: 0720_inbox_indexes
Revises: 0710_withdrawal_decision_event
Create Date: 2026-11-23 22:40:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0720_inbox_indexes'
down_revision = '0710_withdrawal_decision_event'
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('open', 'in_progress', 'waiting')")


def upgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_open_id', ['id'], unique=False, postgresql_where=OPEN, sqlite_where=OPEN)
        batch_op.create_index('ix_tasks_open_due', ['due_at', 'id'], unique=False, postgresql_where=OPEN, sqlite_where=OPEN)
        batch_op.create_index('ix_tasks_open_prio', ['priority_rank', 'id'], unique=False, postgresql_where=OPEN, sqlite_where=OPEN)
        batch_op.create_index('ix_tasks_queue_status_id', ['queue', 'status', 'id'], unique=False)
        batch_op.create_index('ix_tasks_rule_id', ['rule_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        for name in ('ix_tasks_rule_id', 'ix_tasks_queue_status_id', 'ix_tasks_open_prio',
                     'ix_tasks_open_due', 'ix_tasks_open_id'):
            batch_op.drop_index(name)
