"""The withdrawal a task is about, for the task actions (approve, reject) the web offers."""
from __future__ import annotations

from sqlalchemy import select

from engine.events.models import Event
from engine.tasks.subjects import subject


@subject("withdrawal")
def withdrawal_of(session, task) -> str | None:
    """Return the withdrawal a task is about (its data, explanation or triggering event)."""
    facts = (task.explanation or {}).get("facts") or {}
    if isinstance(facts, dict) and facts.get("event.withdrawal_id"):
        return str(facts["event.withdrawal_id"])
    for source in (task.data or {}, task.explanation or {}, _trigger_data(session, task)):
        found = _find_key(source, "withdrawal_id")
        if found:
            return str(found)
    return None


def _trigger_data(session, task) -> list:
    seqs = (task.explanation or {}).get("events") or []
    if session is None or not isinstance(seqs, list):
        return []
    seqs = [s for s in seqs if isinstance(s, int)][:10]
    return [e.data for e in session.scalars(select(Event).where(Event.seq.in_(seqs)))] if seqs else []


def _find_key(value, key: str, depth: int = 0):
    if depth > 5:
        return None
    if isinstance(value, dict):
        if value.get(key):
            return value[key]
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = _find_key(item, key, depth + 1)
            if found:
                return found
    return None
