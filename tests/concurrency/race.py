"""Run competing actions at the same moment: threads released together by a barrier,
each in its own unit of work (its own connection and transaction)."""

from __future__ import annotations

import threading

from engine.db import unit_of_work
from engine.errors import Conflict

ROUNDS = 8


def race(database, *actions, expected=(Conflict,)) -> list:
    """Run each `action(session)` in its own thread; return "ok" or the exception, in order.

    An exception not in `expected` is returned too, so the caller's assertion shows it."""
    barrier, outcomes = threading.Barrier(len(actions)), [None] * len(actions)

    def run(i, action):
        barrier.wait()
        try:
            with unit_of_work(database) as session:
                action(session)
            outcomes[i] = "ok"
        except Exception as exc:  # noqa: BLE001 - returned to the test, which asserts on it
            outcomes[i] = exc if isinstance(exc, expected) else RuntimeError(f"unexpected: {exc!r}")

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def winners(outcomes) -> list[int]:
    """Indexes of the actions that succeeded; every other one must be a Conflict."""
    assert all(o == "ok" or isinstance(o, Conflict) for o in outcomes), outcomes
    return [i for i, o in enumerate(outcomes) if o == "ok"]
