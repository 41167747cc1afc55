"""A durable timer set before the app stops fires after a restart, exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import jsonl, registered

ROOT = Path(__file__).resolve().parents[2]


def fxcrm(database, *args) -> subprocess.CompletedProcess:
    """Run `fxcrm` in a new process: nothing survives from one call to the next but the DB."""
    env = {
        **os.environ,
        "FXCRM_DATABASE_URL": database.config.database_url,
        "FXCRM_SECRET_KEY": "test",
        "FXCRM_RULES_DIR": str(ROOT / "rules"),
    }
    env.pop("FXCRM_REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def reminders(database) -> list[dict]:
    profile = json.loads(fxcrm(database, "clients", "show", "R1", "--json").stdout)
    return [n for n in profile["notifications"] if n["template"] == "kyc-documents-reminder"]


def test_a_timer_set_before_a_restart_fires_after_it_once(database, tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text(jsonl([registered("R1", at="2026-11-01T09:00:00Z")]))
    assert fxcrm(database, "rules", "activate", str(ROOT / "rules")).returncode == 0
    ingest = fxcrm(database, "events", "ingest", str(events))
    assert ingest.returncode == 0, ingest.stderr
    assert reminders(database) == []  # the 24 h reminder is a timer in the database
    early = fxcrm(database, "timers", "fire", "--now", "2026-11-02T08:59:00Z")
    assert early.stdout.strip() == "fired 0 timer(s)"
    due = fxcrm(database, "timers", "fire", "--now", "2026-11-02T09:00:00Z")
    assert due.stdout.strip() == "fired 1 timer(s)", due.stderr
    again = fxcrm(database, "timers", "fire", "--now", "2026-11-02T09:00:00Z")
    assert again.stdout.strip() == "fired 0 timer(s)"
    assert len(reminders(database)) == 1
