"""Activation and rollback settle the pending timers of the version they replace: each is
kept, rescheduled or cancelled under the new version, and the activation lists what."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine.audit.models import AuditEntry
from engine.db import unit_of_work
from engine.processing.ingest import ingest_lines
from engine.rules import activation
from engine.rules.models import RulesetActivation, RuleTimer
from engine.values import UTC, clock
from tests.helpers import deposit_failed, jsonl, registered

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
V1 = """
ruleset: timers
description: d
rules:
  - id: remind
    description: r
    when: client.registered
    after: 24h
    unless: [client.status == blocked]
    then: [{task: {queue: support, title: Remind}}]
  - id: call
    description: c
    when: payment.deposit_failed
    after: 2h
    unless: [client.status == blocked]
    then: [{task: {queue: finance, title: Call}}]
  - id: gone
    description: g
    when: client.registered
    after: 48h
    unless: [client.status == blocked]
    then: [{task: {queue: support, title: Gone}}]
  - id: big
    description: b
    when: payment.deposit_failed
    if: ["event.amount >= 10 USD"]
    after: 3h
    unless: [client.status == blocked]
    then: [{task: {queue: finance, title: Big}}]
"""
# remind waits 12h, call is unchanged, gone is deleted, big now needs 100 USD.
V2 = V1.replace("after: 24h", "after: 12h").replace("10 USD", "100 USD")
V2 = V2[: V2.index("  - id: gone")] + V2[V2.index("  - id: big") :]


@pytest.fixture(autouse=True)
def _fresh_cache():
    activation.forget()
    yield
    activation.forget()
    clock.freeze(None)


def _dir(tmp_path, name, text):
    path = tmp_path / name
    path.mkdir()
    (path / "timers.yaml").write_text(textwrap.dedent(text))
    return str(path)


def _started(database, tmp_path):
    activation.activate_dir(database, _dir(tmp_path, "v1", V1), actor="test")
    clock.freeze(T0 + timedelta(minutes=5))
    report = ingest_lines(
        database,
        jsonl(
            [registered("C1", at="2026-11-01T10:00:00Z"), deposit_failed("C1", at="2026-11-01T10:00:00Z", amount="50")]
        ).splitlines(),
        via="test",
    )
    assert report.ok, report.rejected


def _timers(database):
    with unit_of_work(database) as s:
        return {t.rule_id: (t.status, t.due_at) for t in s.scalars(select(RuleTimer))}


def _by_rule(records):
    return {r["rule"]: (r["outcome"], r["client"], r["reason"]) for r in records}


def test_activation_keeps_reschedules_and_cancels_each_pending_timer(database, tmp_path):
    _started(database, tmp_path)
    assert {r: s for r, (s, _) in _timers(database).items()} == dict.fromkeys(
        ["remind", "call", "gone", "big"], "pending"
    )
    activation.activate_dir(database, _dir(tmp_path, "v2", V2), actor="test")
    with unit_of_work(database) as s:
        row = activation.active(s)
        settled = _by_rule(row.timers)
    assert {r: o[:2] for r, o in settled.items()} == {
        "remind": ("rescheduled", "C1"),
        "call": ("kept", "C1"),
        "gone": ("cancelled", "C1"),
        "big": ("cancelled", "C1"),
    }
    assert "not in version" in settled["gone"][2]
    assert "no longer matches" in settled["big"][2]
    assert settled["remind"][2] == "rule remind now waits 43200s after client.registered"
    timers = _timers(database)
    assert timers["remind"] == ("pending", T0 + timedelta(hours=12))
    assert timers["call"] == ("pending", T0 + timedelta(hours=2))
    assert timers["gone"][0] == timers["big"][0] == "cancelled"


def test_rollback_settles_the_timers_again_under_the_earlier_version(database, tmp_path):
    _started(database, tmp_path)
    activation.activate_dir(database, _dir(tmp_path, "v2", V2), actor="test")
    with unit_of_work(database) as s:
        activation.rollback(s, actor="test")
        assert _by_rule(activation.settled(s)) == {
            "remind": ("rescheduled", "C1", "rule remind now waits 86400s after client.registered"),
            "call": ("kept", "C1", "rule call waits as before"),
        }
    assert _timers(database)["remind"] == ("pending", T0 + timedelta(hours=24))


def test_cli_prints_and_audits_what_happened_to_each_timer(database, tmp_path, runner):
    _started(database, tmp_path)
    result = runner.invoke(["rules", "activate", _dir(tmp_path, "v2", V2)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1] == "timers: 1 kept, 1 rescheduled, 2 cancelled"
    assert any(
        line.startswith("  rescheduled: timer ")
        and "(remind) of C1" in line
        and "2026-11-02T10:00:00Z -> 2026-11-01T22:00:00Z" in line
        for line in lines
    ), lines
    rolled = runner.invoke(["rules", "rollback"])
    assert rolled.output.splitlines()[1] == "timers: 1 kept, 1 rescheduled, 0 cancelled"
    with unit_of_work(database) as s:
        audited = [
            (a.action, [(t["rule"], t["outcome"]) for t in a.detail["timers"]])
            for a in s.scalars(select(AuditEntry).where(AuditEntry.target_type == "ruleset").order_by(AuditEntry.id))
        ]
        rows = [r.timers for r in s.scalars(select(RulesetActivation).order_by(RulesetActivation.id))]
    assert audited[-1] == ("rules.rollback", [("call", "kept"), ("remind", "rescheduled")])  # by due time
    assert rows[0] == [] and len(rows[1]) == 4 and len(rows[2]) == 2
    status = json.loads(runner.invoke(["rules", "status", "--json"]).output)
    assert [(t["rule"], t["outcome"]) for t in status["active"]["timers"]] == [
        ("call", "kept"),
        ("remind", "rescheduled"),
    ]


NAMED = """
ruleset: named
description: d
rules:
  - id: nudge
    description: n
    when: client.registered
    then: [{start_timer: {name: nudge, after: 24h}}]
"""


def test_a_named_timer_moves_with_its_delay_and_goes_with_its_start(database, tmp_path):
    activation.activate_dir(database, _dir(tmp_path, "v1", NAMED), actor="test")
    clock.freeze(T0 + timedelta(minutes=5))
    ingest_lines(database, jsonl([registered("C1", at="2026-11-01T10:00:00Z")]).splitlines(), via="test")
    activation.activate_dir(database, _dir(tmp_path, "v2", NAMED.replace("after: 24h", "after: 30h")), actor="test")
    assert _timers(database)["nudge"] == ("pending", T0 + timedelta(hours=30))
    with unit_of_work(database) as s:
        [record] = activation.active(s).timers
    assert (record["kind"], record["name"], record["outcome"]) == ("named", "nudge", "rescheduled")
    activation.activate_dir(
        database,
        _dir(tmp_path, "v3", NAMED.replace("start_timer", "cancel_timer").replace(", after: 24h", "")),
        actor="test",
    )
    with unit_of_work(database) as s:
        [record] = activation.active(s).timers
    assert (record["outcome"], record["reason"]) == ("cancelled", "rule nudge no longer starts timer nudge")
    assert _timers(database)["nudge"][0] == "cancelled"
