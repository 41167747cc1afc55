"""Rule tasks fall due in the business hours of their queue (rules/policy/queues.yaml)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from engine.db import unit_of_work
from engine.processing.ingest import ingest_lines
from engine.rules import activation
from engine.tasks import sla
from engine.tasks.models import Task
from engine.values import UTC
from tests.helpers import registered

RULES = """\
ruleset: sla-test
description: Calls and funding checks for new clients.
rules:
  - id: call-new-client
    description: Every new client gets a call and a funding check.
    when: client.registered
    then:
      - task: {queue: compliance, title: "Call the new client", due_in: 4h}
      - task: {queue: finance, title: "Check the new client's funding", due_in: 2d}
"""
QUEUES = """\
business_hours: Mon-Fri 09:00-18:00 UTC
queues:
  finance: Mon-Fri 08:00-17:00 Europe/London; holidays 2026-12-28
"""


def rules_tree(tmp_path: Path, queues: str | None) -> str:
    (tmp_path / "rules" / "policy").mkdir(parents=True)
    (tmp_path / "rules" / "sla.yaml").write_text(RULES)
    if queues is not None:
        (tmp_path / "rules" / "policy" / "queues.yaml").write_text(queues)
    else:  # a tree with its own configuration, none of it business hours
        shipped = Path(__file__).resolve().parents[2] / "rules" / "policy" / "kyc.yaml"
        (tmp_path / "rules" / "policy" / "kyc.yaml").write_text(shipped.read_text())
    return str(tmp_path / "rules")


def due_by_queue(database, ref: str) -> dict[str, datetime]:
    with unit_of_work(database) as session:
        return {t.queue: t.due_at for t in session.scalars(select(Task).where(Task.client_ref == ref))}


def register_friday_evening(database, ref: str) -> None:
    # Friday 2026-12-25 is a holiday only for finance; 17:00 UTC is one working hour before 18:00.
    report = ingest_lines(database, [json.dumps(registered(ref, "2026-12-25T17:00:00Z"))])
    assert report.ok, report.rejected


def due_after_friday_evening(database, tree, ref: str) -> dict:
    """Activate the rules in `tree`, register `ref` on Friday evening; return its tasks' due times."""
    activation.forget()
    try:
        activation.activate_dir(database, tree, actor="test")
        register_friday_evening(database, ref)
        return due_by_queue(database, ref)
    finally:
        activation.forget()


def test_a_rule_task_due_in_4h_on_friday_at_17_is_due_on_monday_at_12(database, tmp_path):
    due = due_after_friday_evening(database, rules_tree(tmp_path, QUEUES), "W1")
    assert due["compliance"] == datetime(2026, 12, 28, 12, 0, tzinfo=UTC)
    # Finance: London hours, Friday the 25th (after hours) and Monday the 28th are
    # holidays, so two working days run Tuesday 08:00 to Wednesday 17:00 (GMT = UTC).
    assert due["finance"] == datetime(2026, 12, 30, 17, 0, tzinfo=UTC)


def test_without_queue_hours_a_rule_task_is_due_in_calendar_time(database, tmp_path):
    due = due_after_friday_evening(database, rules_tree(tmp_path, None), "W2")
    assert due["compliance"] == datetime(2026, 12, 25, 21, 0, tzinfo=UTC)


def test_a_malformed_queue_setting_names_the_file_and_the_queue():
    problems = sla.parse_queue_hours
    try:
        problems("queues:\n  finance: Mon-Fri 9-5 UTC\n", "policy/queues.yaml")
    except sla.HoursError as exc:
        assert str(exc).startswith("policy/queues.yaml: queues.finance: business hours")
    else:
        raise AssertionError("a malformed setting must be refused")
