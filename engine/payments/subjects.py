"""The withdrawal an event is about: a rule's task on it offers the withdrawal's actions."""

from __future__ import annotations

from engine.tasks.subjects import subject_of_event

WITHDRAWAL_EVENTS = "payment.withdrawal_"


@subject_of_event("withdrawal")
def withdrawal_in(event_type: str, data: dict) -> str | None:
    """Return the withdrawal id of a payment.withdrawal_* event."""
    found = data.get("withdrawal_id") if event_type.startswith(WITHDRAWAL_EVENTS) else None
    return str(found) if found else None
