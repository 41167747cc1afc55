"""An event hook without a set-based form keeps every event on the per-event path.

The rules' set-based form runs an event hook only through the hook's form
(engine.rules.actions.hook_form; the tasks' close_tasks has one). A hook a plugin adds
with `@on_each_event` and no form could act on any event, and only the per-event path
runs it: while it is registered every event goes per event, so the hook sees them all.
"""

from __future__ import annotations

import textwrap

import pytest
from sqlalchemy import select

from engine.clients.models import Client
from engine.db import unit_of_work
from engine.events.models import PROCESSED, Event
from engine.processing import process_clients
from engine.rules import batch as rules_batch
from engine.rules.actions import EVENT_HOOKS
from tests.engine.test_batch_marks import store
from tests.helpers import event, registered, rules_active

RULES = """
ruleset: big-trades
description: d
rules:
  - id: big-trade
    description: A trade of 50 lots or more.
    when: trade.closed
    if: [event.volume_lots >= 50]
    then:
      - task: {queue: sales, title: "Big trade"}
"""


@pytest.fixture(autouse=True)
def _rules(database):
    yield from rules_active(database, {"big-trades.yaml": textwrap.dedent(RULES)})


def _trades(client: str, count: int) -> list[dict]:
    return [
        event(
            "trade.closed",
            client,
            at=f"2026-11-01T10:{i:02d}:00Z",
            account_id=f"{client}-A",
            ticket=f"{client}-{i}",
            symbol="EURUSD",
            side="buy",
            volume_lots="1",
            open_time="2026-11-01T09:00:00Z",
            close_time=f"2026-11-01T10:{i:02d}:00Z",
            profit="1",
        )
        for i in range(count)
    ]


@pytest.fixture
def plugin_hook():
    """A hook with no set-based form that notes the events it is run for."""
    seen: list[str] = []

    def note_event(session, ruleset, client, event, facts) -> None:
        seen.append(event.event_id)

    EVENT_HOOKS.append(note_event)
    yield seen
    EVENT_HOOKS.remove(note_event)


def test_the_rules_form_decides_no_client_while_a_hook_has_no_form(database, plugin_hook):
    events = [*_trades("C1", 3), *_trades("C2", 2)]
    store(database, [registered(c, at="2026-11-01T09:00:00Z") for c in ("C1", "C2")])
    store(database, events)
    with unit_of_work(database) as s:
        clients = {c.ref: c for c in s.scalars(select(Client))}
        pending = list(s.scalars(select(Event).where(Event.type == "trade.closed")))
        assert rules_batch.load(s, clients, pending).quiet == set()
        hook = EVENT_HOOKS.pop()  # the plugin's: close_tasks, with its form, is left
        try:
            assert rules_batch.load(s, clients, pending).quiet == {"C1", "C2"}
        finally:
            EVENT_HOOKS.append(hook)


def test_a_hook_without_a_form_is_run_for_every_event(database, plugin_hook):
    clients = [registered(c, at="2026-11-01T09:00:00Z") for c in ("C1", "C2")]
    trades = [*_trades("C1", 6), *_trades("C2", 4)]
    store(database, [*clients, *trades])
    process_clients(database, ["C1", "C2"])
    with unit_of_work(database) as s:
        processed = set(s.scalars(select(Event.event_id).where(Event.status == PROCESSED)))
    assert processed == {e["id"] for e in [*clients, *trades]}
    assert sorted(plugin_hook) == sorted(processed), "the per-event path ran the hook for each event"
