"""Failed deposits go set-based with the shipped rules, and leave the tables the per-event path does.

rules/payments/deposits.yaml: `failed-deposit-task` keeps one task per episode
(engine.tasks.episodes_batch decides a failure delivered in order), and
`failed-deposit-escalation` raises it when `count(payment.deposit_failed within 1h) >= 3`
(engine.rules.batch_counts; the raise: engine.tasks.actions `raise_priority`'s form).
Each stream gives every registered client of the demo journeys the same deposit story
a week after registering; every table is compared, ids too when processed one client at
a time.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.engine import test_batch_equivalence as eq
from engine.values import clock
from tests.engine.test_batch_deposits import _clients, _deposit, _kind, _run_in_two
from tests.engine.test_batch_equivalence import _one_transaction_per_group, urls  # noqa: F401  (fixtures)
from tests.engine.test_batch_payments import _at


def _story(name: str):
    """(id suffix, status, minutes after t0, payment) of each deposit event of a story."""
    return {
        # three failures in order within the hour: one task, raised to high by the third
        "three-in-an-hour": [("f1", "failed", 0, 1), ("f2", "failed", 20, 2), ("f3", "failed", 40, 3)],
        # three failures over more than an hour: one task, not raised
        "three-spread": [("f1", "failed", 0, 1), ("f2", "failed", 40, 2), ("f3", "failed", 90, 3)],
        # failure, completion, failure: two tasks, the first closed, the second open
        "two-episodes": [("f1", "failed", 0, 1), ("c1", "completed", 60, 2), ("f2", "failed", 120, 3)],
        # a failure older than a completion processed before it (late): per event
        "late": [("c1", "completed", 60, 2), ("f0-late", "failed", 0, 1), ("f2", "failed", 120, 3)],
        # four failures within the hour, then a completion: raised once, then closed
        "four-then-paid": [
            ("f1", "failed", 0, 1),
            ("f2", "failed", 10, 2),
            ("f3", "failed", 20, 3),
            ("f4", "failed", 30, 4),
            ("c1", "completed", 50, 5),
        ],
    }[name]


def stream(name: str, clients: int = 16) -> list[dict]:
    events = eq.demo_stream(seed=11, clients=clients)
    out = list(events)
    for e in events:
        if e["type"] == "client.registered":
            c, t0 = e["client"], _at(e["occurred_at"], days=7)
            for suffix, status, minutes, payment in _story(name):
                out.append(_deposit(c, f"{c}-{suffix}", status, _at(t0, minutes=minutes), f"{c}-P{payment}", "50"))
    return out


def _compare(urls, backend, events, *, per_client: bool = False) -> tuple[dict, Counter]:
    with eq.counting_batched(lambda e: e.event_id) as taken:
        per_event, batched = eq.compare(urls, backend, events, per_client=per_client)
    eq._assert_same(per_event, batched)
    return per_event, Counter(_kind(i) for i in taken)


def _rows(per_event: dict, table: str, *words: str) -> list:
    return [row for row in per_event[table] if all(w in " ".join(row) for w in words)]


MINE = "Failed deposit of 50 USD via stripe"  # the stories' tasks (the journeys have failures too)


def test_three_failures_within_an_hour_raise_the_one_task(urls, backend):
    per_event, took = _compare(urls, backend, stream("three-in-an-hour"))
    clients = _clients(stream("three-in-an-hour"))
    assert (
        len(_rows(per_event, "tasks", MINE, '"high"')) == len(_rows(per_event, "tasks", MINE)) >= clients // 2
    )  # (some merge with the journeys' own failures)
    assert all(took[f] >= clients // 2 for f in ("f1", "f2", "f3")), took  # opens, joins, raises


def test_three_failures_over_more_than_an_hour_do_not_raise(urls, backend):
    events = stream("three-spread")
    per_event, took = _compare(urls, backend, events)
    assert len(_rows(per_event, "tasks", MINE)) >= _clients(events) // 2
    assert not _rows(per_event, "tasks", MINE, '"high"')
    assert took["f3"] >= _clients(events) // 2, took


def test_failure_completion_failure_two_tasks(urls, backend):
    events = stream("two-episodes")
    per_event, took = _compare(urls, backend, events)
    assert len(_rows(per_event, "tasks", MINE, '"done"')) >= _clients(events) // 2
    assert len(_rows(per_event, "tasks", MINE, '"open"')) >= _clients(events) // 2
    assert took["f2"] >= _clients(events) // 2, took


def test_a_late_failure_goes_per_event_with_the_same_result(urls, backend):
    """Delivered after the completion it is older than was processed: its task is recorded
    closed, per event (the form refuses it)."""
    events = stream("late")
    first = [e for e in events if not e["id"].endswith("f0-late")]
    rest = [e for e in events if e["id"].endswith("f0-late")]
    clock.freeze(eq.NOW)
    per_event = eq.snapshot(_run_in_two(urls[0], backend, first, rest, batch=False), ids=False)
    with eq.counting_batched(lambda e: e.event_id) as taken:
        batched = eq.snapshot(_run_in_two(urls[1], backend, first, rest, batch=True), ids=False)
    eq._assert_same(per_event, batched)
    assert len(_rows(per_event, "tasks", "came first; in order it closed this task")) >= _clients(events) // 2
    took = Counter(_kind(i) for i in taken)
    assert not took["f0-late"] and took["f2"] >= _clients(events) // 2, took


@pytest.mark.parametrize("name", ["four-then-paid", "two-episodes", "three-in-an-hour"])
def test_shuffled_with_duplicates_the_same_tables(urls, backend, name):
    events = eq.shuffled_with_duplicates(stream(name), seed=5)
    _, took = _compare(urls, backend, events)
    assert sum(n for kind, n in took.items() if kind[0] == "f") > 0, took


def test_one_client_at_a_time_even_the_ids_are_the_same(urls, backend):
    per_event, took = _compare(urls, backend, stream("four-then-paid", clients=8), per_client=True)
    assert _rows(per_event, "task_events", '"priority"')
    assert took["f3"] > 0, took
