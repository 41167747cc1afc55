"""event subjects: an event is about a client or another kind of subject (a staff member)

Revision ID: 1118_event_subjects
Revises: 1117_activation_timers
Create Date: 2026-12-05 22:40:00

Staff sign-ins are rule events about a staff member (`subject = 'staff'`, client_ref
`staff:<user id>`), processed under a lock on the users row (docs/rules.md, "Staff
sign-ins"). Existing events are about clients: the column's default says so, and on
PostgreSQL adding a column with a constant default rewrites nothing.
"""
from alembic import op
import sqlalchemy as sa


revision = '1118_event_subjects'
down_revision = '1117_activation_timers'
branch_labels = None
depends_on = None

PENDING_OTHERS = sa.text("subject <> 'client' AND status = 'pending'")


def upgrade() -> None:
    with op.batch_alter_table('events') as batch:
        batch.add_column(sa.Column('subject', sa.String(16), nullable=False, server_default='client'))
    op.create_index(
        'ix_events_subject_pending', 'events', ['subject', 'client_ref'],
        postgresql_where=PENDING_OTHERS, sqlite_where=PENDING_OTHERS,
    )


def downgrade() -> None:
    op.drop_index('ix_events_subject_pending', table_name='events')
    with op.batch_alter_table('events') as batch:
        batch.drop_column('subject')
