"""IB test fixtures: feed events, and run with an edited copy of the IB configuration."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.db import unit_of_work
from engine.processing.ingest import ingest_lines
from engine.ib.models import IbCommission
from tests.helpers import jsonl


@pytest.fixture
def feed(database):
    """Ingest and process a list of events; fail on any rejected one."""

    def run(events):
        report = ingest_lines(database, jsonl(events).splitlines())
        assert report.ok, report.rejected
        return report

    return run


@pytest.fixture
def ib_rules(database, tmp_path):
    """Edit a copy of the shipped IB configuration and make the database use it."""
    root = tmp_path / "rules"
    shutil.copytree(Path("rules") / "policy" / "ib", root / "policy" / "ib")

    def edit(name: str, old: str, new: str) -> None:
        path = root / "policy" / "ib" / name
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new, 1))

    database.config = database.config.with_overrides(rules_dir=str(root))
    return edit


@pytest.fixture
def earned(database):
    """Return (ib, client, type, amount, status) of every commission, in creation order."""

    def read(**where):
        with unit_of_work(database) as s:
            stmt = select(IbCommission).order_by(IbCommission.id)
            for name, value in where.items():
                stmt = stmt.where(getattr(IbCommission, name) == value)
            return [(c.ib_id, c.client_ref, c.type, f"{c.amount:.2f}", c.status) for c in s.scalars(stmt)]

    return read
