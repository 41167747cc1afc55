"""client notes: staff notes on a client; indexes for the client list's filters

Revision ID: 1040_client_notes
Revises: 1020_onfido_applicants
Create Date: 2026-12-05 10:30:00
"""
from alembic import op
import sqlalchemy as sa
import engine.db


revision = '1040_client_notes'
down_revision = '1020_onfido_applicants'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('client_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_ref', sa.String(length=100), nullable=False),
    sa.Column('author', sa.String(length=320), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('client_notes', schema=None) as batch_op:
        batch_op.create_index('ix_client_notes_client', ['client_ref', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('client_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_client_notes_client')
    op.drop_table('client_notes')
