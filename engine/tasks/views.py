"""Saved inbox views: a user's named filters, optionally shared with everyone."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.tasks.models import SavedView
from engine.tasks.query import Filters, QueryError
from engine.values import utcnow

FILTER_KEYS = ("queue", "status", "priority", "rule", "client", "assignee", "due", "sort")


def clean_filters(raw: dict) -> dict:
    """Return only known, non-empty filters after checking their values."""
    filters = {k: str(raw[k]).strip() for k in FILTER_KEYS if raw.get(k)}
    Filters(**filters).check()
    return filters


def save(session: Session, *, owner: str, name: str, filters: dict, shared: bool = False) -> SavedView:
    """Save (or overwrite) the view `name` of `owner`."""
    name = (name or "").strip()
    if not name or len(name) > 100 or "\x00" in name:
        raise QueryError("name: a view needs a name of 1 to 100 characters (no NUL)")
    filters = clean_filters(filters)
    if any("\x00" in str(v) for v in filters.values()):
        raise QueryError("filters: a filter contains a NUL character")
    view = session.scalar(select(SavedView).where(SavedView.owner == owner, SavedView.name == name))
    if view is None:
        view = SavedView(owner=owner, name=name, created_at=utcnow())
        session.add(view)
    view.filters, view.shared = filters, shared
    session.flush()
    return view


def list_for(session: Session, owner: str) -> list[SavedView]:
    """Return the user's own views and the shared ones, by name."""
    return list(
        session.scalars(
            select(SavedView).where(or_(SavedView.owner == owner, SavedView.shared.is_(True))).order_by(SavedView.name)
        )
    )


def delete(session: Session, *, owner: str, view_id: int) -> bool:
    """Delete one of the user's own views; return whether it existed."""
    view = session.get(SavedView, view_id)
    if view is None or view.owner != owner:
        return False
    session.delete(view)
    session.flush()
    return True
