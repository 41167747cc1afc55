"""onfido applicants: which client an Onfido applicant is

Revision ID: 1020_onfido_applicants
Revises: 1010_task_counts
Create Date: 2026-11-24 00:40:00
"""
from alembic import op
import sqlalchemy as sa
import engine.db


revision = '1020_onfido_applicants'
down_revision = '1010_task_counts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('onfido_applicants',
    sa.Column('applicant_id', sa.String(length=100), nullable=False),
    sa.Column('client_ref', sa.String(length=100), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('linked_by', sa.String(length=320), nullable=False),
    sa.Column('linked_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('applicant_id')
    )
    with op.batch_alter_table('onfido_applicants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_onfido_applicants_client_ref'), ['client_ref'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('onfido_applicants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_onfido_applicants_client_ref'))
    op.drop_table('onfido_applicants')
