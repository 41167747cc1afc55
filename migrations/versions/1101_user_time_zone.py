"""user time zone: the IANA zone a staff user reads times in (NULL = UTC)

Revision ID: 1101_user_time_zone
Revises: 1105_portal_logins
Create Date: 2026-12-05 17:10:00

The brief named 1099_client_search as the parent; main has moved on since (1100, 1104,
1105 chain from it), so this revision follows the newest head to keep a single head.
"""
from alembic import op
import sqlalchemy as sa


revision = '1101_user_time_zone'
down_revision = '1105_portal_logins'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('time_zone')
