"""inbox indexes: open tasks per assignee, and unassigned per queue

Revision ID: 0810_inbox_assignee_indexes
Revises: 0800_rules
Create Date: 2026-11-23 22:50:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0810_inbox_assignee_indexes'
down_revision = '0800_rules'
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('open', 'in_progress', 'waiting')")


def upgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_open_queue_assignee', ['queue', 'assignee', 'id'], unique=False, postgresql_where=OPEN, sqlite_where=OPEN)
        batch_op.create_index('ix_tasks_open_assignee', ['assignee', 'id'], unique=False, postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_open_assignee')
        batch_op.drop_index('ix_tasks_open_queue_assignee')
