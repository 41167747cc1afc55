"""Run competing actions at the same moment: threads released together by a barrier,
each in its own unit of work (its own connection and transaction)."""

from __future__ import annotations

import threading

from engine.db import unit_of_work
from engine.errors import Conflict

ROUNDS = 8


def together(*calls) -> list:
    """Call each `call()` in its own thread, all released at once by a barrier; return
    what each returned, or the exception it raised, in order."""
    barrier, outcomes = threading.Barrier(len(calls)), [None] * len(calls)

    def run(i, call):
        barrier.wait()
        try:
            outcomes[i] = call()
        except Exception as exc:  # noqa: BLE001 - returned to the test, which asserts on it
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def race(database, *actions, expected=(Conflict,)) -> list:
    """Run each `action(session)` in its own thread; return "ok" or the exception, in order.

    An exception not in `expected` is returned too, so the caller's assertion shows it."""

    def unit(action):
        def run():
            with unit_of_work(database) as session:
                action(session)
            return "ok"

        return run

    return [
        o if o == "ok" or isinstance(o, expected) else RuntimeError(f"unexpected: {o!r}")
        for o in together(*(unit(a) for a in actions))
    ]


def winners(outcomes) -> list[int]:
    """Indexes of the actions that succeeded; every other one must be a Conflict."""
    assert all(o == "ok" or isinstance(o, Conflict) for o in outcomes), outcomes
    return [i for i, o in enumerate(outcomes) if o == "ok"]


class Staff:
    """A signed-in staff member of `role` allowed every task action (the races test
    who decides first, not permissions)."""

    def __init__(self, email: str, role: str):
        self.email, self.role = email, role

    def can(self, _permission) -> bool:
        return True


class WebConflict(Conflict):
    """What a task action answered with 409."""


def task_action(task_id: int, actor: str, role: str, action: str):
    """Return an `action(session)` for `race`: `actor` performs `action` from the task's
    page; its 409 is raised as a WebConflict."""
    from engine.tasks.models import Task
    from web.task_actions import ActionError, perform

    def run(s):
        try:
            perform(s, Staff(actor, role), s.get(Task, task_id), action, {})
        except ActionError as exc:
            if exc.status == 409:
                raise WebConflict(str(exc)) from None
            raise

    return run
