"""deposits on platform: a deposit made on the trading platform is counted on its account

Revision ID: 1095_deposits_on_platform
Revises: 1065_user_totp
Create Date: 2026-12-05 12:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '1095_deposits_on_platform'
down_revision = '1065_user_totp'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deposits') as batch:
        batch.add_column(sa.Column('on_platform', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('deposits') as batch:
        batch.drop_column('on_platform')
