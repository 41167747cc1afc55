"""portal logins: clients sign in to the portal with a confirmed e-mail; one-time tokens

Revision ID: 1105_portal_logins
Revises: 1104_document_files
Create Date: 2026-12-05 16:40:00
"""
from alembic import op
import sqlalchemy as sa
import engine.db


revision = '1105_portal_logins'
down_revision = '1104_document_files'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('client_logins',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('client_ref', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=300), nullable=False),
    sa.Column('email_verified_at', engine.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', engine.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', engine.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('session_generation', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_ref', name='uq_client_logins_client'),
    sa.UniqueConstraint('email', name='uq_client_logins_email')
    )
    op.create_table('portal_tokens',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('login_id', BIG_ID, nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', engine.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['login_id'], ['client_logins.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash', name='uq_portal_tokens_hash')
    )
    op.create_index('ix_portal_tokens_login', 'portal_tokens', ['login_id', 'purpose'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_portal_tokens_login', table_name='portal_tokens')
    op.drop_table('portal_tokens')
    op.drop_table('client_logins')
