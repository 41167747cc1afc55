"""Rules that act on an event take the set-based path too, and leave the per-event path's tables.

The shipped rules plus a ruleset acting on trades (the events every set-based form takes
today): a closed trade starts a delay timer (`after: 24h`) that a later event of the same
client cancels when its `unless` holds (clients from CY and IT), and a big loss raises the
follow-up's priority at once (`raise_priority`'s form, on the tasks the round created too)
and cancels the client's reminders (`cancel_timer` has no set-based form: that one event
takes the per-event path, the client's next events come back to the set-based path;
actions with a form: tests/engine/test_batch_rule_actions.py). The tables are compared with the
helpers of test_batch_equivalence; the events the set-based path took are counted.
"""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import text

from engine.values import clock
from tests.engine.test_batch_onboarding import ONBOARDING
from tests.engine.test_batch_equivalence import (
    NOW,
    _assert_same,
    _one_transaction_per_group,
    counting_batched,  # noqa: F401  (autouse: one transaction per group)
    run,
    shuffled_with_duplicates,
    snapshot,
    trades_stream,
    urls,  # noqa: F401  (fixture)
)

FOLLOW_UP = """\
ruleset: trading-follow-up
description: Support follows up closed trades, and calls about big losses.
rules:
  - id: trade-follow-up
    description: A closed trade is followed up a day later, unless the client is from CY or IT.
    when: trade.closed
    if:
      - client.country != NL
    after: 24h
    unless:
      - client.country in [CY, IT]
    then:
      - task: {queue: support, title: "Follow up the trade {event.ticket}"}

  - id: big-loss-call
    description: A big loss makes the client's follow-ups urgent at once.
    when: trade.closed
    if:
      - event.profit < -46
    then:
      - raise_priority: {task_of: trade-follow-up, to: high}

  - id: big-loss-hold
    description: A big loss stops the client's pending reminders (an action with no set-based form).
    when: trade.closed
    if:
      - event.profit < -46
    then:
      - cancel_timer: trade-reminder
"""


@pytest.fixture
def rules_dir(tmp_path) -> str:
    rules = tmp_path / "rules"
    shutil.copytree("rules", rules)
    (rules / "trading").mkdir()
    (rules / "trading" / "follow-up.yaml").write_text(FOLLOW_UP)
    return str(rules)


def taken_events():
    """Yield the set of the seqs of the events the set-based path took."""
    return counting_batched(lambda event: event.seq, set())


def _both(urls, backend, events, rules: str, *, per_client: bool):
    clock.freeze(NOW)
    per_event = snapshot(run(urls[0], backend, events, batch=False, per_client=per_client, rules=rules), ids=per_client)
    with taken_events() as taken:
        database = run(urls[1], backend, events, batch=True, per_client=per_client, rules=rules)
    return per_event, snapshot(database, ids=per_client), database, taken


def _rows(database, sql: str) -> list[tuple]:
    with database.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def _event_seqs(database) -> dict[str, int]:
    return {f"{s}/{i}": seq for seq, s, i in _rows(database, "SELECT seq, source, event_id FROM events")}


@pytest.mark.parametrize("stream", ["trades", "trades-shuffled"])
def test_delay_timers_start_and_cancel_on_the_set_based_path(urls, backend, rules_dir, stream):
    events = trades_stream() if stream == "trades" else shuffled_with_duplicates(trades_stream())
    per_event, batched, database, taken = _both(urls, backend, events, rules_dir, per_client=False)
    _assert_same(per_event, batched)
    timers = _rows(database, "SELECT event_seq, status, outcome FROM rule_timers WHERE rule_id = 'trade-follow-up'")
    started = {seq for seq, _status, _outcome in timers}
    seqs = _event_seqs(database)
    cancelling = {seqs[o[o.rindex("(") + 1 : -1]] for _seq, status, o in timers if status == "cancelled"}
    assert {status for _seq, status, _o in timers} == {"pending", "cancelled"}
    # Most of the trades that started a timer, and the events that cancelled one, went
    # through the set-based path (the IB's referred clients' trades do not: commissions;
    # nor, since deposits have forms, the events after a referred client's fourth refused
    # event in a group, its deposits among them: MAX_REFUSALS).
    assert len(started & taken) > len(started) * 0.6, (len(started & taken), len(started))
    assert len(cancelling & taken) > len(cancelling) * 0.55, (len(cancelling & taken), len(cancelling))


def test_one_client_at_a_time_the_timers_have_the_same_ids(urls, backend, rules_dir):
    per_event, batched, database, taken = _both(urls, backend, trades_stream(), rules_dir, per_client=True)
    _assert_same(per_event, batched)
    started = {s for (s,) in _rows(database, "SELECT event_seq FROM rule_timers WHERE rule_id = 'trade-follow-up'")}
    assert len(started & taken) > len(started) * 0.6


def test_a_refused_event_alone_takes_the_per_event_path(urls, backend, rules_dir):
    """A big loss acts at once with an action that has no set-based form (big-loss-hold's
    cancel_timer): that trade is done per event, and its client's next events
    (in the same transaction: one client at a time, each client's events fit in one) go
    back to the set-based path."""
    per_event, batched, database, taken = _both(urls, backend, trades_stream(), rules_dir, per_client=True)
    _assert_same(per_event, batched)
    calls = {s for (s,) in _rows(database, "SELECT event_seq FROM rule_actions WHERE rule_id = 'big-loss-hold'")}
    assert calls and not calls & taken  # acting at once: per event
    order: dict[str, list[int]] = {}
    for ref, _at, seq in sorted(_rows(database, "SELECT client_ref, occurred_at, seq FROM events")):
        order.setdefault(ref, []).append(seq)
    after = [s for seqs in order.values() for i, s in enumerate(seqs) if s in taken and calls & set(seqs[:i])]
    assert len(after) > len(calls), (len(after), len(calls))


DOCUMENTS_AWAITED = """\
ruleset: trading-documents
description: A client who trades with KYC documents missing is reminded two days later.
rules:
  - id: trading-documents-missing
    description: Documents still missing two days after a trade opened.
    when: trade.opened
    if:
      - client.kyc.documents.missing_count > 0
    after: 48h
    unless:
      - client.kyc.documents.missing_count == 0
    then:
      - task: {queue: compliance, title: "Documents missing while trading"}
"""


def _missing_counts(session, refs: list[str]) -> dict:
    """`kyc.documents.missing_count` of many clients, by the fact's own loader (exact)."""
    from sqlalchemy import select

    from engine.clients.models import Client
    from engine.facts import load_domain_facts

    loader = load_domain_facts()["kyc.documents.missing_count"].loader
    return {c.ref: loader(session, c) for c in session.scalars(select(Client).where(Client.ref.in_(refs)))}


# The event types that change the missing documents (registration and profile: the
# client's country and type choose the documents; every KYC event): now that they go
# set-based too, the loader's declaration names them all.
MISSING_CHANGED_BY = tuple(t for t in ONBOARDING if not t.startswith("account."))


@pytest.mark.parametrize("changed_by", [MISSING_CHANGED_BY, (*MISSING_CHANGED_BY, "trade.opened")])
def test_a_batch_fact_is_known_to_a_round_no_event_of_which_changes_it(
    urls, backend, tmp_path, monkeypatch, changed_by
):
    """A fact with a bulk loader decides rules for a client none of whose events in the
    round changes it; for a client with one, its rules' events take the per-event path."""
    from engine import facts
    from engine.projections import load_handlers

    monkeypatch.setitem(facts.BATCH_FACTS, "kyc.documents.missing_count", _missing_counts)
    load_handlers()  # the KYC form registers its own reader of the fact: the bulk loader alone here
    monkeypatch.delitem(facts.STATE_FACTS, "kyc.documents.missing_count")
    monkeypatch.setitem(facts.CHANGED_BY, "kyc.documents.missing_count", frozenset(changed_by))
    rules = tmp_path / "rules"
    shutil.copytree("rules", rules)
    (rules / "trading").mkdir()
    (rules / "trading" / "documents.yaml").write_text(DOCUMENTS_AWAITED)
    waves = _journeys_then_trades(trades_stream())
    clock.freeze(NOW)
    per_event = snapshot(_in_waves(urls[0], backend, waves, str(rules), batch=False), ids=False)
    with taken_events() as taken:
        database = _in_waves(urls[1], backend, waves, str(rules), batch=True)
    _assert_same(per_event, snapshot(database, ids=False))
    opened = {s for (s,) in _rows(database, "SELECT seq FROM events WHERE type = 'trade.opened'")}
    started = {s for (s,) in _rows(database, "SELECT event_seq FROM rule_timers WHERE rule_id LIKE 'trading-doc%'")}
    later = {s for s in started if s > len(waves[0])}  # started by the second wave's trades
    assert later  # some clients trade with documents missing
    if "trade.opened" in changed_by:
        assert not opened & taken
    else:  # rounds of trades alone: the fact is known
        assert len(later & taken) > len(later) * 0.6, (len(later & taken), len(later))


def _journeys_then_trades(events: list[dict]) -> tuple[list[dict], list[dict]]:
    """The journeys (registrations, documents, reviews, first trades), then the trades after
    the last of them: the second wave's rounds hold trades only."""
    last = max(i for i, e in enumerate(events) if not e["type"].startswith(("trade.", "account.balance")))
    return events[: last + 1], events[last + 1 :]


def _in_waves(url: str, backend: str, waves: tuple[list[dict], list[dict]], rules: str, *, batch: bool):
    import json

    from engine.db import unit_of_work
    from engine.events.store import parse_line, record_many
    from engine.processing import process_all_pending

    database = run(url, backend, waves[0], batch=batch, per_client=False, rules=rules)
    with unit_of_work(database) as session:
        record_many(session, [parse_line(json.dumps(e)) for e in waves[1]], via="file")
    process_all_pending(database)
    return database


def test_a_form_for_other_event_types_leaves_the_rounds_client_columns_known(urls, backend, rules_dir):
    """A form registered for other event types (none of which the stream holds) leaves
    the rounds of trades alone: their rules are decided set-based (clients columns are
    read from the client as it is)."""
    from engine import projections

    other = projections.BatchForm("other-types", (), lambda *a: None, lambda *a: True, lambda *a: None, lambda *a: None)
    projections.BATCH_FORMS.append(other)
    try:
        per_event, batched, database, taken = _both(urls, backend, trades_stream(), rules_dir, per_client=False)
    finally:
        projections.BATCH_FORMS.remove(other)
    _assert_same(per_event, batched)
    started = {s for (s,) in _rows(database, "SELECT event_seq FROM rule_timers WHERE rule_id = 'trade-follow-up'")}
    assert started
    assert len(started & taken) > len(started) * 0.6, (len(started & taken), len(started))
