"""The registry of projections and evaluators: what processing runs for each event.

A domain's `projections` module registers `@projection("event.type")` handlers
`(session, event, client)`; the rules runtime registers one `@evaluator` that runs
after the projections of every event. Processing (engine.processing) reads this
registry; domains import it, never processing itself, so the dependency runs one way.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Callable

from engine import domains
from engine.plugins import import_all

if TYPE_CHECKING:  # types only: the registry sits below the models it is given
    from sqlalchemy.orm import Session

    from engine.clients.models import Client
    from engine.events.models import Event

Handler = Callable[["Session", "Event", "Client"], None]
PROJECTIONS: dict[str, list[Handler]] = {}
EVALUATORS: list[Handler] = []
_loaded = False


def projection(*event_types: str) -> Callable[[Handler], Handler]:
    """Register the decorated handler(session, event, client) for these event types."""

    def register(handler: Handler) -> Handler:
        for name in event_types:
            PROJECTIONS.setdefault(name, []).append(handler)
        return handler

    return register


def evaluator(handler: Handler) -> Handler:
    """Register a handler that runs after the projections for every event."""
    EVALUATORS.append(handler)
    return handler


def load_handlers(plugins: str = "") -> None:
    """Import the domain modules (and configured plugins) that register handlers."""
    global _loaded
    if _loaded:
        return
    import_all(domains.modules("projections") + domains.evaluator_modules())
    for name in filter(None, (p.strip() for p in plugins.split(","))):
        importlib.import_module(name)  # a configured plugin must exist
    _loaded = True


def apply_event(session: Session, event: Event, client: Client) -> None:
    """Run the projections and then the evaluators for one event."""
    for handler in PROJECTIONS.get(event.type, ()):
        handler(session, event, client)
    for handler in EVALUATORS:
        handler(session, event, client)
