"""user totp: a staff user's TOTP second factor

Revision ID: 1065_user_totp
Revises: 1060_user_sessions_tokens
Create Date: 2026-12-05 10:30:00
"""
from alembic import op
import sqlalchemy as sa
import engine.db


revision = '1065_user_totp'
down_revision = '1060_user_sessions_tokens'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('user_totp',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('secret', sa.String(length=64), nullable=False),
    sa.Column('created_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', engine.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_step', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('user_id')
    )


def downgrade() -> None:
    op.drop_table('user_totp')
