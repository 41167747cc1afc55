"""Set-based processing of a group's events (issue 20, step 1).

The group runner (`engine.processing._process_group`) hands over its locked clients and
their due events in order (client, occurred_at, seq). Each client's events are cut into
runs: events whose type has a set-based form for every handler (`forms_for`) make a batch
run, every other event takes the per-event path (`apply_event`), in order. The work goes
in rounds: each client's leading per-event events, then every client's leading batch run
at once: the forms load their group state with a few bulk reads, apply each event in
memory (in the client's order), and write in bulk. An event a form does not accept (it
cannot tell exactly that it would do the same as the per-event path) ends the client's
batch run: that one event takes the per-event path, after the round's bulk writes, and
the client's next events join the next round (whose forms load again what it wrote). A
client refused MAX_REFUSALS times in one group takes the per-event path for the rest of
it: each round costs its bulk reads, and a client the forms keep refusing would pay them
for one event each. Events are marked processed exactly as on the per-event path, in the
same transaction.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable

from sqlalchemy.orm import Session

from engine.projections import BatchForm, apply_event, forms_for

# Refused events of one client in one group before its rest goes per event (see above).
MAX_REFUSALS = 3


def run(session: Session, clients: dict, events: list, mark: Callable, deadline: float) -> list:
    """Apply `events` (ordered by client, occurred_at, seq); return those done, in order of
    completion. Stops between steps once `deadline` (time.monotonic) has passed; what is
    left stays pending, each client's done events being a prefix of its own."""
    queues: dict[str, deque] = {}
    for event in events:
        queues.setdefault(event.client_ref, deque()).append(event)
    routes: dict[str, list[BatchForm] | None] = {}

    def forms(event) -> list[BatchForm] | None:
        if event.type not in routes:
            routes[event.type] = forms_for(event.type)
        return routes[event.type]

    done: list = []
    refusals: dict[str, int] = {}

    def one(event) -> None:
        apply_event(session, event, clients[event.client_ref])
        mark(event)
        done.append(event)

    while queues:
        if done and time.monotonic() > deadline:
            break
        for queue in queues.values():  # each client's leading per-event events
            while queue and forms(queue[0]) is None:
                one(queue.popleft())
        runs = {ref: _leading_run(queue, forms) for ref, queue in queues.items() if queue}
        if runs:
            stopped = _batch_round(session, clients, runs, forms, mark, done)
            for ref, run_ in runs.items():
                for _ in range(run_.taken):
                    queues[ref].popleft()
            for ref in stopped:  # the refused event per event; the rest in the next round
                queue = queues[ref]
                one(queue.popleft())
                refusals[ref] = refusals.get(ref, 0) + 1
                while queue and refusals[ref] >= MAX_REFUSALS:
                    one(queue.popleft())
        queues = {ref: q for ref, q in queues.items() if q}
    return done


class _Run(list):
    taken = 0


def _leading_run(queue: deque, forms) -> _Run:
    found = _Run()
    for event in queue:
        if forms(event) is None:
            break
        found.append(event)
    return found


def _batch_round(session: Session, clients: dict, runs: dict[str, _Run], forms, mark, done: list) -> list[str]:
    """Apply every client's batch run in memory, write in bulk; return the clients stopped
    by an event some form did not accept (that event and the rest are not done)."""
    session.flush()  # the forms read what the per-event path wrote before this round
    group = [e for run_ in runs.values() for e in run_]
    used = {id(f): f for e in group for f in forms(e)}
    states = {key: form.load(session, clients, group) for key, form in used.items()}
    stopped = []
    for ref, run_ in runs.items():
        client = clients[ref]
        for event in run_:
            event_forms = forms(event)
            if not all(f.accepts(states[id(f)], event, client) for f in event_forms):
                stopped.append(ref)
                break
            for form in event_forms:
                form.apply(states[id(form)], event, client)
            mark(event)
            done.append(event)
            run_.taken += 1
    for key, form in used.items():
        form.write(session, states[key])
    return stopped
