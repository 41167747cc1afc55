"""Event counts in a window (`count(type within D)`) for the rules' set-based form (issue 20).

Per event the count is one SQL query (engine.rules.aggregates): the client's stored
events of the type, whatever their status (pending, processed or parked), with
`occurred_at` in [at - D, at], both ends included, `at` being the triggering event's
`occurred_at` (the trigger itself counts). For a group, one query per counted type
and chunk of clients reads those events' times, bounded by the window of the group's
events (from the earliest of them less D to the latest), and each event's count is
then taken from the sorted times. Processing stores no client event while a round
runs (only the `emit` action does, and it has no set-based form): the times read when
the round starts are the ones every per-event query of the round would see.

Only a plain count in a window is known here: an aggregate with filters, a currency,
another function, or no window (all the client's history) is not, and its rules'
events go per event.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.events.models import Event
from engine.rules import ir

_CHUNK = 1000


@dataclass
class Counts:
    """The times of one counted type's events of the group's clients, sorted by client."""

    spec: ir.Aggregate
    times: dict[str, list[datetime]] = field(default_factory=dict)

    def at(self, client_ref: str, at: datetime) -> int:
        """count(type within D) for the client at `at`, as aggregates.compute gives it."""
        assert self.spec.window is not None
        times = self.times.get(client_ref, ())
        return bisect_right(times, at) - bisect_left(times, at - timedelta(seconds=self.spec.window))


def countable(value: ir.Value) -> bool:
    """Whether the group can know this value: a plain count of one type in a window."""
    spec = value.aggregate
    return (
        value.source == "count"
        and spec is not None
        and spec.fn == "count"
        and spec.window is not None
        and not spec.filters
        and not spec.currency
    )


def load(session: Session, value: ir.Value, events: list) -> Counts:
    """Read the times of the events `value` counts for the clients of `events`, at those
    events' moments (one query per chunk of clients, bounded by the window)."""
    spec = value.aggregate
    assert spec is not None and spec.window is not None
    counts = Counts(spec)
    by_client: dict[str, list[datetime]] = {}
    for event in events:
        by_client.setdefault(event.client_ref, []).append(event.occurred_at)
    refs = sorted(by_client)
    window = timedelta(seconds=spec.window)
    for part in [refs[i : i + _CHUNK] for i in range(0, len(refs), _CHUNK)]:
        moments = [at for ref in part for at in by_client[ref]]
        rows = session.execute(
            select(Event.client_ref, Event.occurred_at).where(
                Event.client_ref.in_(part),
                Event.type == spec.event_type,
                Event.occurred_at >= min(moments) - window,
                Event.occurred_at <= max(moments),
            )
        ).all()
        for ref, at in rows:
            counts.times.setdefault(ref, []).append(at)
    for times in counts.times.values():
        times.sort()
    return counts
