"""Deposit events go set-based with the shipped rules, and leave the tables the per-event path does.

The demo broker's journeys, and for each client deposit episodes as rules/payments/
deposits.yaml handles them: a failure (it opens the failed-deposit task; failed deposits
in order go set-based too: tests/engine/test_batch_failed_deposits.py), a completion (its `open_while` condition no longer holds: the
close_tasks hook's form closes the task, engine.tasks.close_batch, on the deposit facts
the payments form answers, engine.payments.batch_facts), a second failure and its later
completion, an older failure delivered late, a refund and a chargeback (each re-sent
under a new id), the first completion starting `funded-no-account`'s timer. Streams are
processed in order, shuffled with duplicates, and in two deliveries (the failures, then
the rest: the completion closes a task an earlier transaction opened); every table is
compared, and the set-based path must have taken what these changes let it take.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from engine.db import get_database, forget_databases, unit_of_work
from engine.events.store import parse_line, record_many
from engine.processing import process_all_pending
from engine.rules import activation
from engine.values import clock
from tests.conftest import _truncate, make_config
from tests.engine import test_batch_equivalence as eq
from tests.engine.test_batch_equivalence import _one_transaction_per_group, urls  # noqa: F401  (fixtures)
from tests.engine.test_batch_payments import _at

CLOSED_BY_COMPLETION = "condition deposit-failure-unresolved no longer holds"


def _deposit(client: str, eid: str, status: str, at: str, payment_id: str, amount: str) -> dict:
    data = {"payment_id": payment_id, "amount": amount, "currency": "USD", "method": "card", "provider": "stripe"}
    if status == "failed":
        data |= {"reason_code": "card_declined", "reason": "Your card was declined."}
    return {
        "id": eid,
        "type": f"payment.deposit_{status}",
        "source": "psp",
        "occurred_at": at,
        "client": client,
        "data": data,
    }


def episodes(client: str, t0: str) -> list[dict]:
    """One client's deposit episodes from `t0` (see the module); ids end with what they are."""
    c, d = client, _deposit
    return [
        d(c, f"{c}-f1", "failed", t0, f"{c}-E1", "50"),
        d(c, f"{c}-f0-late", "failed", _at(t0, minutes=-30), f"{c}-E0", "40"),
        d(c, f"{c}-c1-closes", "completed", _at(t0, hours=1), f"{c}-E2", "300"),
        d(c, f"{c}-f2", "failed", _at(t0, hours=2), f"{c}-E3", "70"),
        d(c, f"{c}-c2-closes", "completed", _at(t0, hours=3), f"{c}-E3", "70"),
        d(c, f"{c}-r1", "refunded", _at(t0, hours=4), f"{c}-E2", "20"),
        d(c, f"{c}-r1-again", "refunded", _at(t0, hours=4), f"{c}-E2", "20"),
        d(c, f"{c}-c3", "completed", _at(t0, hours=5), f"{c}-E4", "25"),
        d(c, f"{c}-cb", "charged_back", _at(t0, hours=6), f"{c}-E4", "25"),
        d(c, f"{c}-cb-again", "charged_back", _at(t0, hours=6), f"{c}-E4", "25"),
    ]


def deposit_stream(clients: int = 24) -> list[dict]:
    """The demo journeys, and each registered client's deposit episodes a week after registering."""
    events = eq.demo_stream(seed=7, clients=clients)
    out = list(events)
    for e in events:
        if e["type"] == "client.registered":
            out += episodes(e["client"], _at(e["occurred_at"], days=7))
    return out


def _compare(urls, backend, events) -> tuple[dict, Counter]:
    """Process both ways, assert the same tables; return the per-event snapshot and the
    ids of the events the set-based path took, by what they are (the id's last part)."""
    with eq.counting_batched(lambda e: e.event_id) as taken:
        per_event, batched = eq.compare(urls, backend, events, per_client=False)
    eq._assert_same(per_event, batched)
    return per_event, Counter(_kind(i) for i in taken)


def _kind(event_id: str) -> str:
    return event_id.split("-", 1)[1] if event_id.count("-") >= 1 else event_id


def _clients(events: list[dict]) -> int:
    return sum(1 for e in events if e["type"] == "client.registered")


def test_completions_go_set_based_closing_the_failed_deposit_tasks(urls, backend):
    events = deposit_stream()
    per_event, took = _compare(urls, backend, events)
    clients = _clients(events)
    closed = [row for row in per_event["tasks"] if CLOSED_BY_COMPLETION in " ".join(row)]
    assert len(closed) >= clients  # the completions closed the episodes' tasks
    # Each closing completion set-based (the clients no IB owns: the IB's referred
    # clients' deposits may qualify a CPA, per event).
    assert took["c1-closes"] >= clients // 2, took
    # The failures go set-based too (engine.tasks.episodes_batch), and the completion
    # closing a task the round created (the task form hands it to the close_tasks hook's
    # form, engine.tasks.close_batch.peers).
    assert took["c2-closes"] >= clients // 2, took  # closing a task the round created
    assert took["f2"] >= clients // 2, took  # the failure opening it
    assert sum(n for kind, n in took.items() if kind[0] in "cf") > 2 * clients, took


def test_shuffled_and_late_deliveries_the_same_tables(urls, backend):
    events = eq.shuffled_with_duplicates(deposit_stream(), seed=8)
    _, took = _compare(urls, backend, events)
    assert sum(n for kind, n in took.items() if "closes" in kind or kind[0] in "cf") > _clients(events), took


def test_refunds_and_chargebacks_sent_again_go_set_based(urls, backend):
    """The first refund or chargeback posts (how much the wallet covers): per event. Sent
    again, nothing is left to post: the payments form and the IB's deposits form take it
    (the IB row's chargebacks recounted, its move left charged back). Without the
    failures: each one opening a task costs its client a refusal (the close_tasks hook's
    form does not see tasks created in the round), and after MAX_REFUSALS the client's
    re-sent chargeback would go per event with the rest of its events."""
    events = [e for e in deposit_stream() if e["type"] != "payment.deposit_failed"]
    per_event, took = _compare(urls, backend, events)
    assert any('"charged_back"' in row for row in per_event["ib_money_moves"])
    assert took["r1-again"] >= _clients(events) // 2, took
    assert took["cb-again"] >= _clients(events) // 2, took


def test_the_first_completion_starts_funded_no_account_set_based(urls, backend):
    """A client with no account: `funded-no-account` reads deposits.completed.count and
    accounts.count (the payments and accounts forms' states) and starts its timer."""
    events = [e for e in deposit_stream() if not e["type"].startswith(("account.", "trade.", "wallet."))]
    per_event, took = _compare(urls, backend, events)
    assert any('"funded-no-account"' in row for row in per_event["rule_timers"])
    assert took["c1-closes"] >= _clients(events) // 2, took


def _run_in_two(url: str, backend: str, first: list[dict], rest: list[dict], *, batch: bool):
    forget_databases()
    database = get_database(make_config(url, batch=batch))
    if backend == "postgres":
        _truncate(database)
    activation.activate_dir(database, "rules", actor="test")
    for part in (first, rest):
        with unit_of_work(database) as session:
            record_many(session, [parse_line(json.dumps(e)) for e in part], via="file")
        process_all_pending(database)
    return database


def test_a_completion_closes_a_task_an_earlier_transaction_opened(urls, backend):
    events = deposit_stream()
    first = [e for e in events if not e["id"].split("-", 1)[-1].startswith(("c", "r"))]
    rest = [e for e in events if e not in first]
    clock.freeze(eq.NOW)
    per_event = eq.snapshot(_run_in_two(urls[0], backend, first, rest, batch=False), ids=False)
    with eq.counting_batched(lambda e: e.event_id) as taken:
        batched = eq.snapshot(_run_in_two(urls[1], backend, first, rest, batch=True), ids=False)
    eq._assert_same(per_event, batched)
    took = Counter(_kind(i) for i in taken)
    assert sum(1 for row in per_event["tasks"] if CLOSED_BY_COMPLETION in " ".join(row)) >= _clients(events)
    assert took["c1-closes"] >= _clients(events) // 2, took


@pytest.mark.parametrize("per_client", [True])
def test_one_client_at_a_time_even_the_ids_are_the_same(urls, backend, per_client):
    events = deposit_stream(clients=12)
    with eq.counting_batched() as taken:
        per_event, batched = eq.compare(urls, backend, events, per_client=per_client)
    eq._assert_same(per_event, batched)
    assert Counter(taken)["payment.deposit_completed"] > 0


def test_a_hooks_condition_reader_is_built_once_per_round(urls, backend, monkeypatch):
    """close_tasks' form asks `open_while` for each event of a client with an open failed-
    deposit task; the condition's reader (a compiled function) is built once per round."""
    from engine.processing import batch as processing_batch
    from engine.rules import batch as rules_batch

    built, rounds = [], []
    build, round_ = rules_batch.build_reader, processing_batch._batch_round
    monkeypatch.setattr(rules_batch, "build_reader", lambda values, *a: built.append(values) or build(values, *a))
    monkeypatch.setattr(processing_batch, "_batch_round", lambda *a: rounds.append(1) or round_(*a))
    clock.freeze(eq.NOW)
    with eq.counting_batched(lambda e: e.event_id) as taken:
        eq.run(urls[1], backend, deposit_stream(), batch=True, per_client=False)
    closing = [i for i in taken if _kind(i).endswith("closes")]
    assert len(closing) >= _clients(deposit_stream()) // 2  # the hook decided many events
    assert 0 < len(built) <= len(rounds), (len(built), len(rounds), len(closing))
