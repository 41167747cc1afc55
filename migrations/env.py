"""Alembic environment: the schema is engine.models' metadata."""
from alembic import context
from sqlalchemy import pool

from engine.db import make_engine
from engine.models import load_all

target_metadata = load_all()
url = context.config.get_main_option("sqlalchemy.url")


def run_offline():
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online():
    connectable = make_engine(url)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=True, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    connectable.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
