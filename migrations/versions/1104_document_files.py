"""document files: client document files kept with their hash, type and who sent them

Revision ID: 1104_document_files
Revises: 1100_task_subject
Create Date: 2026-12-05 16:30:00
"""
from alembic import op
import sqlalchemy as sa
import engine.db


revision = '1104_document_files'
down_revision = '1100_task_subject'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('document_files',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('public_id', sa.String(length=64), nullable=False),
    sa.Column('client_ref', sa.String(length=100), nullable=False),
    sa.Column('document_id', sa.String(length=200), nullable=False),
    sa.Column('document_type', sa.String(length=32), nullable=False),
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('storage_key', sa.String(length=100), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('uploaded_by', sa.String(length=320), nullable=False),
    sa.Column('uploaded_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('public_id', name='uq_document_files_public_id'),
    sa.UniqueConstraint('client_ref', 'document_id', 'sha256', name='uq_document_files_content')
    )
    op.create_index('ix_document_files_client', 'document_files', ['client_ref', 'uploaded_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_document_files_client', table_name='document_files')
    op.drop_table('document_files')
