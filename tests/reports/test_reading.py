"""A report being read never blocks writers (SQLite: no write lock while reading)."""

from sqlalchemy import func, select

from engine.clients.models import Client
from engine.db import unit_of_work
from engine.reports.reading import read_session
from engine.values import utcnow


def test_writers_commit_while_a_report_reads(database):
    with read_session(database) as reader:
        assert reader.scalar(select(func.count()).select_from(Client)) == 0
        with unit_of_work(database) as s:  # would wait for the lock, then fail, if held
            s.add(
                Client(
                    ref="W1",
                    status="pending",
                    created_at=utcnow(),
                    kyc_status="none",
                    funnel_stage="registered",
                    auto_funding=False,
                )
            )
        # The reader keeps its snapshot until its transaction ends.
        assert reader.scalar(select(func.count()).select_from(Client)) == 0
    with read_session(database) as reader:
        assert reader.scalar(select(func.count()).select_from(Client)) == 1
