"""Two activations at the same moment (PostgreSQL): the pending timers are settled one
activation after the other, and end as the version that ends up active says."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.db import unit_of_work
from engine.processing.ingest import ingest_lines
from engine.rules import activation
from engine.rules.loader import load_tree
from engine.rules.models import RulesetActivation, RuleTimer
from engine.values import clock
from tests.concurrency.race import ROUNDS, race
from tests.helpers import jsonl, registered

# _fresh_cache: the same autouse fixture as the settlement tests (each test starts with no cached ruleset).
from tests.rules.test_settlement import T0, V1, _dir, _fresh_cache  # noqa: F401


def _files(tmp_path, name, hours):
    return load_tree(_dir(tmp_path, name, V1.replace("after: 24h", f"after: {hours}h")))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_activations_at_once_settle_the_timers_in_the_order_they_take_effect(pg_database, tmp_path, round_):
    with unit_of_work(pg_database) as s:
        activation.activate_files(s, _files(tmp_path, "v1", 24), actor="test")
    clock.freeze(T0 + timedelta(minutes=5))
    ingest_lines(pg_database, jsonl([registered("C1", at="2026-11-01T10:00:00Z")]).splitlines(), via="test")
    v2, v3 = _files(tmp_path, "v2", 12), _files(tmp_path, "v3", 6)
    outcomes = race(
        pg_database,
        lambda s: activation.activate_files(s, v2, actor="a"),
        lambda s: activation.activate_files(s, v3, actor="b"),
    )
    assert outcomes == ["ok", "ok"]
    with unit_of_work(pg_database) as s:
        rows = list(s.scalars(select(RulesetActivation).order_by(RulesetActivation.id)))
        remind = s.scalar(select(RuleTimer).where(RuleTimer.rule_id == "remind"))
        remind_due = remind.due_at
        active = activation.load_version(s, rows[-1].version).ruleset
    after = next(r.after for r in active.rules if r.id == "remind")
    # The timer waits as long as the active version says, counted from the registration.
    assert remind_due == T0 + timedelta(seconds=after)
    # The newest activation settled the timers last: its record starts where the other left it.
    newest = {t["rule"]: t for t in rows[-1].timers}["remind"]
    assert (newest["new_due_at"] or newest["due_at"]) == remind_due.isoformat().replace("+00:00", "Z")
    earlier = {t["rule"]: t for t in rows[-2].timers}.get("remind")
    if earlier is not None:  # it settled first; else it found the newer one committed and left it
        assert earlier["new_due_at"] == newest["due_at"]


def test_an_activation_overtaken_by_a_later_one_leaves_the_timers_to_it(pg_database, tmp_path):
    """A inserts its activation first but settles last: B's (newer) is the active one."""
    from engine.values import utcnow

    with unit_of_work(pg_database) as s:
        activation.activate_files(s, _files(tmp_path, "v1", 24), actor="test")
    clock.freeze(T0 + timedelta(minutes=5))
    ingest_lines(pg_database, jsonl([registered("C1", at="2026-11-01T10:00:00Z")]).splitlines(), via="test")
    v2, v3 = _files(tmp_path, "v2", 12), _files(tmp_path, "v3", 6)
    with unit_of_work(pg_database) as a:
        version = activation.store_version(a, v2, actor="a").version
        row = RulesetActivation(version=version, activated_at=utcnow(), activated_by="a")
        a.add(row)
        a.flush()  # A's activation has the smaller id ...
        with unit_of_work(pg_database) as b:
            activation.activate_files(b, v3, actor="b")  # ... but B's commits (and settles) first
        assert activation.settle_pending_timers(a, row) == []
    with unit_of_work(pg_database) as s:
        remind = s.scalar(select(RuleTimer).where(RuleTimer.rule_id == "remind"))
        assert remind.due_at == T0 + timedelta(hours=6)  # as B's version (the active one) says


def test_a_timer_rescheduled_while_a_timer_run_holds_it_is_not_fired_early(pg_database, tmp_path):
    """The ticker read the timer as due; an activation moves it later and commits first."""
    from engine.clients.models import Client
    from engine.rules import runtime

    with unit_of_work(pg_database) as s:
        activation.activate_files(s, _files(tmp_path, "v1", 24), actor="test")
    clock.freeze(T0 + timedelta(minutes=5))
    ingest_lines(pg_database, jsonl([registered("C1", at="2026-11-01T10:00:00Z")]).splitlines(), via="test")
    clock.freeze(T0 + timedelta(hours=25))
    with unit_of_work(pg_database) as run:
        timer = run.scalar(select(RuleTimer).where(RuleTimer.rule_id == "remind"))
        client = run.scalar(select(Client).where(Client.ref == "C1"))
        with unit_of_work(pg_database) as s:  # remind now waits 48h: due tomorrow
            activation.activate_files(s, _files(tmp_path, "v2", 48), actor="test")
        assert runtime.fire_timer(run, timer, client) is False
    with unit_of_work(pg_database) as s:
        remind = s.scalar(select(RuleTimer).where(RuleTimer.rule_id == "remind"))
        assert (remind.status, remind.due_at) == ("pending", T0 + timedelta(hours=48))
