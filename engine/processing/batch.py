"""Set-based processing of a group's events (issue 20, step 1).

The group runner (`engine.processing._process_group`) hands over its locked clients and
their due events in order (client, occurred_at, seq). Each client's events are cut into
runs: events whose type has a set-based form for every handler (`forms_for`) make a batch
run, every other event takes the per-event path (`apply_event`), in order. The work goes
in rounds: each client's leading per-event events, then every client's leading batch run
at once: the forms load their group state with a few bulk reads, apply each event in
memory (in the client's order), and write in bulk. For each event the projections' forms
decide and apply first; the evaluators' forms (the rules) then decide on the state those
left, as the per-event path evaluates after the projections. An event a form does not
accept (it cannot tell exactly that it would do the same as the per-event path) ends the
client's batch run: that one event takes the per-event path, after the round's bulk
writes (all of it, or only its evaluators when the round applied its projections), and
the client's next events join the next round (whose forms load again what it wrote). A
client refused MAX_REFUSALS times in one group takes the per-event path for the rest of
it: each round costs its bulk reads, and a client the forms keep refusing would pay them
for one event each. Events are marked processed exactly as on the per-event path, in the
same transaction.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

from sqlalchemy.orm import Session

from engine.projections import BatchForm, apply_evaluators, apply_event, forms_for, touching

# Refused events of one client in one group before its rest goes per event (see above).
# (4: with the onboarding, KYC and account types set-based a client meets more points
# where a form may refuse, e.g. the KYC result of an IB's referred client.)
MAX_REFUSALS = 4
# Events in one round at most. The deadline is looked at between rounds, and a webhook's
# task waits for the group's commit: a round of every client's run (a hundred clients of
# a backfill, nine events each) took more than a second, so a round takes at most this
# many (at 1 to 2 ms an event), the clients' runs in order, the last one cut if need be
# (its rest goes in the next round, as after a refusal).
ROUND_EVENTS = 200


def run(session: Session, clients: dict, events: list, mark: Callable, deadline: float) -> list:
    """Apply `events` (ordered by client, occurred_at, seq); return those done, in order of
    completion. Stops between steps once `deadline` (time.monotonic) has passed; what is
    left stays pending, each client's done events being a prefix of its own."""
    queues: dict[str, deque] = {}
    for event in events:
        queues.setdefault(event.client_ref, deque()).append(event)
    routes: dict[str, _Route | None] = {}
    taken: dict[int, _Route | None] = {}  # id(event) -> its route (events live as long as the run)

    def forms(event) -> _Route | None:
        """The event's route, or None: it goes per event. Decided once per type, and once
        per event for the forms that look at the event (`takes`)."""
        if id(event) not in taken:
            if event.type not in routes:
                routes[event.type] = _route(event.type)
            found = routes[event.type]
            if found is not None and any(f.takes is not None and not f.takes(event) for f in found.forms):
                found = None
            taken[id(event)] = found
        return taken[id(event)]

    done: list = []
    refusals: dict[str, int] = {}
    order = _Order(session, queues, events)
    blocked = order.blocked

    def one(event, evaluators_from: int | None = None) -> None:
        if evaluators_from is None:
            apply_event(session, event, clients[event.client_ref])
        else:  # its projections were applied by the round: evaluate it
            apply_evaluators(session, event, clients[event.client_ref], evaluators_from)
        mark(event)
        done.append(event)

    while queues:
        if done and time.monotonic() > deadline:
            break
        before = len(done)
        for ref, queue in queues.items():  # each client's leading per-event events
            while (
                queue
                and (forms(queue[0]) is None or refusals.get(ref, 0) >= MAX_REFUSALS)
                and not blocked(queue[0], done)
            ):
                one(queue.popleft())
        runs = _at_most(
            {ref: run_ for ref, queue in queues.items() if queue and (run_ := _leading_run(queue, forms, order, done))},
            ROUND_EVENTS,
        )
        if runs:
            stopped = _batch_round(session, clients, runs, forms, mark, done)
            for ref, run_ in runs.items():
                for _ in range(run_.taken):
                    queues[ref].popleft()
            for ref, evaluators_from in stopped.items():  # the refused event per event; the rest next round
                queue = queues[ref]
                one(queue.popleft(), evaluators_from)
                refusals[ref] = refusals.get(ref, 0) + 1
                while queue and refusals[ref] >= MAX_REFUSALS and not blocked(queue[0], done):
                    one(queue.popleft())
        queues = {ref: q for ref, q in queues.items() if q}
        order.queues = queues
        if len(done) == before and queues:
            order.release()  # nothing could go (never expected): the runner's own order, as before
    return done


class _Order:
    """Where the group keeps events that change other clients (engine.projections.
    CROSS_CLIENT) as the per-event path has them, client after client: such an event waits
    until the clients before its own that it changes have no events left, and the clients
    after its own that it changes wait until it is done."""

    def __init__(self, session: Session, queues: dict[str, deque], events: list) -> None:
        self.queues = queues
        self.after: dict[int, list[str]] = {}  # id(event) -> clients whose events all come before it
        self.held: dict[str, list] = {}  # client -> events done before any of its own
        self.finished: set[int] = set()  # ids of those events, once done
        self.seen = 0  # how much of `done` was looked at
        rank = {ref: n for n, ref in enumerate(queues)}
        for event, refs in touching(session, events):
            own = rank[event.client_ref]
            self.after[id(event)] = sorted(r for r in refs if r in rank and rank[r] < own)
            for ref in refs:
                if ref in rank and rank[ref] > own:
                    self.held.setdefault(ref, []).append(event)

    def blocked(self, event, done: list) -> bool:
        if not self.after and not self.held:
            return False
        if any(self.queues.get(ref) for ref in self.after.get(id(event), ())):
            return True
        waits = self.held.get(event.client_ref)
        if waits:
            self.finished.update(id(e) for e in done[self.seen :])
            self.seen = len(done)
            return any(id(e) not in self.finished for e in waits)
        return False

    def release(self) -> None:
        self.after, self.held = {}, {}


@dataclass(frozen=True)
class _Route:
    """The set-based forms an event type goes through, split as `_apply_one` uses them."""

    forms: list[BatchForm]  # all, in handler order
    projecting: list[BatchForm]  # the projections' forms
    evaluating: list[tuple[int, BatchForm]]  # (first evaluator's position, form), in that order


def _route(event_type: str) -> _Route | None:
    """The route of `event_type`, or None when a handler of it has no form. Where each
    evaluator's form stands in EVALUATORS is looked up here, once per type and run (it was
    looked up for every event and form)."""
    found = forms_for(event_type)
    if found is None:
        return None
    firsts = [(f.first_evaluator(), f) for f in found]
    evaluating = sorted(((i, f) for i, f in firsts if i is not None), key=lambda pair: pair[0])
    return _Route(found, [f for i, f in firsts if i is None], evaluating)


@dataclass(frozen=True)
class _Stop:
    """An event a form did not accept: the per-event path takes it up from here."""

    evaluators_from: int | None  # None: the whole event; else its evaluators from this one on


class _Run(list):
    taken = 0


def _leading_run(queue: deque, forms, order: _Order, done: list) -> _Run:
    found = _Run()
    for event in queue:
        if forms(event) is None or order.blocked(event, done):
            break
        found.append(event)
    return found


def _at_most(runs: dict[str, _Run], events: int) -> dict[str, _Run]:
    """The first runs (in the clients' order) up to `events` events in all, the last cut."""
    kept: dict[str, _Run] = {}
    for ref, run_ in runs.items():
        if events <= 0:
            break
        kept[ref] = run_ if len(run_) <= events else _Run(run_[:events])
        events -= len(kept[ref])
    return kept


def _batch_round(
    session: Session, clients: dict, runs: dict[str, _Run], forms, mark, done: list
) -> dict[str, int | None]:
    """Apply every client's batch run in memory, write in bulk; return the clients stopped
    by an event some form did not accept (that event and the rest are not done), each
    with where the per-event path takes that event up: None, the whole event; a position
    in EVALUATORS, its evaluators from there on (the round applied its projections)."""
    session.flush()  # the forms read what the per-event path wrote before this round
    group = [e for run_ in runs.values() for e in run_]
    used = {id(f): f for route in {id(r): r for r in map(forms, group)}.values() for f in route.forms}
    states = {key: form.load(session, clients, group) for key, form in used.items()}
    by_name = {form.name: states[key] for key, form in used.items()}
    for key, form in used.items():
        if form.sees is not None:
            form.sees(states[key], by_name)
    stopped: dict[str, int | None] = {}
    for ref, run_ in runs.items():
        client = clients[ref]
        for event in run_:
            stop = _apply_one(states, forms(event), event, client)
            if stop is not None:
                stopped[ref] = stop.evaluators_from
                break
            mark(event)
            done.append(event)
            run_.taken += 1
    for key, form in used.items():
        form.write(session, states[key])
    return stopped


def _apply_one(states: dict, route: _Route, event, client) -> _Stop | None:
    """Apply one event's forms; return None when all applied it, else where its per-event
    processing starts (see _batch_round).

    The projections' forms first, all or none: each decides on the state the client's
    earlier events left. Then the evaluators' forms one at a time, in the evaluators'
    order, each after what came before it (as per event: the rules decide on the values
    the event's projections have just changed); one refusing leaves the event's
    evaluators from its own on to the per-event path.
    """
    if not all(f.accepts(states[id(f)], event, client) for f in route.projecting):
        return _Stop(None)
    for form in route.projecting:
        form.apply(states[id(form)], event, client)
    for first, form in route.evaluating:
        if not form.accepts(states[id(form)], event, client):
            return _Stop(first)
        form.apply(states[id(form)], event, client)
    return None
