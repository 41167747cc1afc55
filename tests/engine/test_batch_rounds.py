"""A set-based round takes at most ROUND_EVENTS events, so a group's transaction ends soon
after TXN_SECONDS whatever the group holds (a webhook's task waits for that commit).

The deadline is looked at between rounds; a round of every client's leading run (a
backfill: a hundred clients with nine events each) ran for more than a second on this
machine, and the webhook-to-task p99 under a bulk load with 2 workers went over 1 s.
The runs are cut in the clients' order (the last one cut short goes on in the next
round, as after a refusal), and the tables are those of the per-event path.
"""

from __future__ import annotations

import pytest

from engine.processing import batch
from tests.engine.test_batch_equivalence import (  # noqa: F401  (fixtures)
    _assert_same,
    _one_transaction_per_group,
    compare,
    demo_stream,
    shuffled_with_duplicates,
    urls,
)


@pytest.fixture
def round_sizes(monkeypatch):
    """The number of events handed to each set-based round, with rounds of at most 7."""
    monkeypatch.setattr(batch, "ROUND_EVENTS", 7, raising=False)
    sizes: list[int] = []
    original = batch._batch_round

    def sized(session, clients, runs, forms, mark, done):
        sizes.append(sum(len(run_) for run_ in runs.values()))
        return original(session, clients, runs, forms, mark, done)

    monkeypatch.setattr(batch, "_batch_round", sized)
    return sizes


@pytest.mark.parametrize("stream", ["demo", "demo-shuffled"])
def test_rounds_are_cut_to_round_events_and_leave_the_same_tables(urls, backend, round_sizes, stream):
    events = demo_stream(seed=11, clients=30)
    if stream == "demo-shuffled":
        events = shuffled_with_duplicates(events)
    per_event, batched = compare(urls, backend, events, per_client=False)
    _assert_same(per_event, batched)
    assert round_sizes and max(round_sizes) == 7, round_sizes[:20]
    assert sum(round_sizes) > 0.5 * len(events)  # most events still went set-based
