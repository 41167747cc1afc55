"""task subject: a typed link from a task to what it is about (withdrawal, payout batch, delivery)

Existing tasks get theirs from where the web used to search for it: the task's data,
the facts of its explanation, then its triggering withdrawal events.

Revision ID: 1100_task_subject
Revises: 1099_client_search
Create Date: 2026-12-05 16:10:00
"""
import json

from alembic import op
import sqlalchemy as sa


revision = '1100_task_subject'
down_revision = '1099_client_search'
branch_labels = None
depends_on = None

# Keys in a task's data that name its subject, in the order the web used to look.
_DATA_KEYS = (("withdrawal_id", "withdrawal"), ("ib_payout_batch", "ib_payout_batch"),
              ("delivery_id", "delivery"))


def upgrade() -> None:
    with op.batch_alter_table('tasks') as batch:
        batch.add_column(sa.Column('subject_kind', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('subject_id', sa.String(length=200), nullable=True))
    op.create_index('ix_tasks_subject', 'tasks', ['subject_kind', 'subject_id'], unique=False)
    _backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index('ix_tasks_subject', table_name='tasks')
    with op.batch_alter_table('tasks') as batch:
        batch.drop_column('subject_id')
        batch.drop_column('subject_kind')


def _backfill(bind) -> None:
    tasks = sa.table('tasks', sa.column('id'), sa.column('data'), sa.column('explanation'),
                     sa.column('subject_kind'), sa.column('subject_id'))
    events = sa.table('events', sa.column('seq'), sa.column('type'), sa.column('data'))
    for row in bind.execute(sa.select(tasks.c.id, tasks.c.data, tasks.c.explanation)).all():
        found = _subject(bind, events, _json(row.data), _json(row.explanation))
        if found:
            bind.execute(tasks.update().where(tasks.c.id == row.id)
                         .values(subject_kind=found[0], subject_id=str(found[1])[:200]))


def _subject(bind, events, data, explanation):
    for key, kind in _DATA_KEYS:
        if isinstance(data, dict) and data.get(key):
            return kind, data[key]
    facts = explanation.get("facts") if isinstance(explanation, dict) else None
    if isinstance(facts, dict) and facts.get("event.withdrawal_id"):
        return "withdrawal", facts["event.withdrawal_id"]
    seqs = explanation.get("events") if isinstance(explanation, dict) else None
    seqs = [s for s in seqs if isinstance(s, int)][:10] if isinstance(seqs, list) else []
    if seqs:
        for event in bind.execute(sa.select(events.c.type, events.c.data)
                                  .where(events.c.seq.in_(seqs)).order_by(events.c.seq)):
            found = _json(event.data)
            if event.type.startswith("payment.withdrawal_") and isinstance(found, dict) \
                    and found.get("withdrawal_id"):
                return "withdrawal", found["withdrawal_id"]
    return None


def _json(value):
    return json.loads(value) if isinstance(value, str) else value
