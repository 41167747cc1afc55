"""tasks inbox: comments, saved views, open-task indexes

Revision ID: 0100_inbox
Revises: 0001_core
Create Date: 2026-11-23 22:07:18.350012
"""
from alembic import op
import sqlalchemy as sa
import engine.db
from sqlalchemy.dialects import postgresql

revision = '0100_inbox'
down_revision = '0001_core'
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('open', 'in_progress', 'waiting')")
LEASED = sa.text('lease_expires_at IS NOT NULL')


def upgrade() -> None:
    op.create_table('task_saved_views',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('filters', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('shared', sa.Boolean(), nullable=False),
    sa.Column('created_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('owner', 'name', name='uq_task_views_owner_name')
    )
    with op.batch_alter_table('task_saved_views', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_saved_views_owner'), ['owner'], unique=False)

    op.create_table('task_comments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('task_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('author', sa.String(length=320), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('task_comments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_comments_task_id'), ['task_id'], unique=False)

    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_open_lease', ['lease_expires_at'], unique=False, postgresql_where=LEASED, sqlite_where=LEASED)
        batch_op.create_index('ix_tasks_open_queue_due', ['queue', 'due_at', 'id'], unique=False, postgresql_where=OPEN, sqlite_where=OPEN)
        batch_op.create_index('ix_tasks_open_queue_id', ['queue', 'id'], unique=False, postgresql_where=OPEN, sqlite_where=OPEN)
        batch_op.create_index('ix_tasks_open_queue_prio', ['queue', 'priority_rank', 'id'], unique=False, postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        for name in ('ix_tasks_open_queue_prio', 'ix_tasks_open_queue_id',
                     'ix_tasks_open_queue_due', 'ix_tasks_open_lease'):
            batch_op.drop_index(name)
    with op.batch_alter_table('task_comments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_comments_task_id'))
    op.drop_table('task_comments')
    with op.batch_alter_table('task_saved_views', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_saved_views_owner'))
    op.drop_table('task_saved_views')
