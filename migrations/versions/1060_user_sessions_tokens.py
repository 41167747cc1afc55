"""user sessions and tokens: session generation, forced password change, token expiry

Revision ID: 1060_user_sessions_tokens
Revises: 1040_client_notes
Create Date: 2026-12-05 10:35:00
"""
from alembic import op
import sqlalchemy as sa
import engine.db


revision = '1060_user_sessions_tokens'
down_revision = '1040_client_notes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_generation', sa.Integer(), server_default='1',
                                      nullable=False))
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(),
                                      server_default=sa.false(), nullable=False))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', engine.db.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')
        batch_op.drop_column('session_generation')
