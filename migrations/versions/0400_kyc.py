"""kyc and notifications: documents, reviews, overrides, requests, status history

Revision ID: 0400_kyc
Revises: 0100_inbox
Create Date: 2026-11-23 22:08:29.587411
"""
from alembic import op
import sqlalchemy as sa
import engine.db
import engine.types
from sqlalchemy.dialects import postgresql

revision = '0400_kyc'
down_revision = '0100_inbox'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('client_status_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('client_ref', sa.String(length=100), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('rule_id', sa.String(length=100), nullable=True),
    sa.Column('at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('client_status_changes', schema=None) as batch_op:
        batch_op.create_index('ix_client_status_changes_client', ['client_ref', 'id'], unique=False)

    op.create_table('kyc_document_requests',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('client_ref', sa.String(length=100), nullable=False),
    sa.Column('document_type', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('requested_by', sa.String(length=320), nullable=False),
    sa.Column('requested_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('fulfilled_at', engine.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('kyc_document_requests', schema=None) as batch_op:
        batch_op.create_index('ix_kyc_document_requests_client', ['client_ref', 'fulfilled_at'], unique=False)

    op.create_table('kyc_documents',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('client_ref', sa.String(length=100), nullable=False),
    sa.Column('document_id', sa.String(length=200), nullable=False),
    sa.Column('document_type', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('submitted_at', engine.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', engine.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('state_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_ref', 'document_id', name='uq_kyc_documents_doc')
    )
    with op.batch_alter_table('kyc_documents', schema=None) as batch_op:
        batch_op.create_index('ix_kyc_documents_client', ['client_ref', 'document_type'], unique=False)

    op.create_table('kyc_overrides',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('client_ref', sa.String(length=100), nullable=False),
    sa.Column('review_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('provider', sa.String(length=64), nullable=True),
    sa.Column('from_result', sa.String(length=16), nullable=True),
    sa.Column('to_result', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('kyc_overrides', schema=None) as batch_op:
        batch_op.create_index('ix_kyc_overrides_client', ['client_ref'], unique=False)

    op.create_table('kyc_reviews',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('client_ref', sa.String(length=100), nullable=False),
    sa.Column('event_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('labels', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('occurred_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('applied', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_seq')
    )
    with op.batch_alter_table('kyc_reviews', schema=None) as batch_op:
        batch_op.create_index('ix_kyc_reviews_client', ['client_ref', 'occurred_at'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('client_ref', sa.String(length=100), nullable=False),
    sa.Column('template', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=True),
    sa.Column('subject', sa.String(length=300), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', engine.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('claimed_at', engine.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rule_id', sa.String(length=100), nullable=True),
    sa.Column('dedup_key', sa.String(length=300), nullable=True),
    sa.Column('explanation', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedup_key')
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_client', ['client_ref', 'id'], unique=False)
        batch_op.create_index('ix_notifications_status', ['status', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_status')
        batch_op.drop_index('ix_notifications_client')

    op.drop_table('notifications')
    with op.batch_alter_table('kyc_reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_kyc_reviews_client')

    op.drop_table('kyc_reviews')
    with op.batch_alter_table('kyc_overrides', schema=None) as batch_op:
        batch_op.drop_index('ix_kyc_overrides_client')

    op.drop_table('kyc_overrides')
    with op.batch_alter_table('kyc_documents', schema=None) as batch_op:
        batch_op.drop_index('ix_kyc_documents_client')

    op.drop_table('kyc_documents')
    with op.batch_alter_table('kyc_document_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_kyc_document_requests_client')

    op.drop_table('kyc_document_requests')
    with op.batch_alter_table('client_status_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_client_status_changes_client')

    op.drop_table('client_status_changes')