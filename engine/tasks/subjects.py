"""What a task is about: its subject (a withdrawal, a payout batch, a delivery), a typed link.

A task stores its subject in two columns (`subject_kind`, `subject_id`), set when it
is opened: a domain that opens a task itself passes `subject=Subject(...)`; a rule's
task takes the subject of its triggering event, as the domain that owns the event
says. A domain registers, in its `subjects` module, `@subject_of_event("withdrawal")`
on `find(event_type, data) -> id | None`. The web asks `subject_of(task, "withdrawal")`
and offers that domain's task actions; nothing reads a task's JSON to find out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

EventFinder = Callable[[str, dict[str, Any]], "str | None"]


@dataclass(frozen=True)
class Subject:
    kind: str  # "withdrawal", "ib_payout_batch", "delivery"
    id: str


EVENT_FINDERS: dict[str, EventFinder] = {}


def subject_of_event(kind: str) -> Callable[[EventFinder], EventFinder]:
    """Register the decorated find(event_type, data) -> id | None for subjects of `kind`."""

    def register(find: EventFinder) -> EventFinder:
        EVENT_FINDERS[kind] = find
        return find

    return register


def event_finders() -> dict[str, EventFinder]:
    """Import every domain's subjects module once and return the registry."""
    from engine.domains import import_each_once

    import_each_once("subjects")
    return EVENT_FINDERS


def of_event(event: Any) -> Subject | None:
    """Return the subject an event is about (the first kind a domain finds in it), or None."""
    if event is None or not isinstance(event.data, dict):
        return None
    for kind, find in event_finders().items():
        found = find(event.type, event.data)
        if found:
            return Subject(kind, str(found)[:200])
    return None


def subject_of(task: Any, kind: str) -> Subject | None:
    """Return the task's subject when it is of `kind`, or None."""
    if task.subject_kind == kind and task.subject_id:
        return Subject(kind, task.subject_id)
    return None
