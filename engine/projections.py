"""The registry of projections and evaluators: what processing runs for each event.

A domain's `projections` module registers `@projection("event.type")` handlers
`(session, event, client)`; the rules runtime registers one `@evaluator` that runs
after the projections of every event. Processing (engine.processing) reads this
registry; domains import it, never processing itself, so the dependency runs one way.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

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
    modules = domains.modules("projections") + domains.evaluator_modules()
    import_all(modules)
    named = [p.strip() for p in plugins.split(",") if p.strip()]
    for name in named:
        importlib.import_module(name)  # a configured plugin must exist
    _in_order_of(modules + named)
    _loaded = True


def _in_order_of(modules: list[str]) -> None:
    """Put each event type's projections, and the evaluators, in the order of `modules`
    (the domains' order), whatever order their modules were first imported in.

    A handler registers when its module is imported: a tool or test importing one
    domain's projections before `load_handlers` would otherwise run them before those of
    a domain listed earlier (the payments' `kyc.review_completed` projection, which moves
    the withdrawals on, before the KYC one that sets the status it reads). Handlers of
    one module keep their order; those of modules not named go last.
    """
    rank = {name: i for i, name in enumerate(modules)}

    def position(handler: Callable[..., None]) -> int:
        return rank.get(getattr(handler, "__module__", ""), len(rank))

    for handlers in PROJECTIONS.values():
        handlers.sort(key=position)
    EVALUATORS.sort(key=position)


# Run for each event about a subject other than a client (engine.subjects):
# handler(session, event, subject). Such events have no projections; the rules runtime
# registers the one that evaluates them (engine.rules.subject_runtime).
SUBJECT_EVALUATORS: list[Callable[["Session", "Event", Any], None]] = []


def subject_evaluator(handler: Callable[..., None]) -> Callable[..., None]:
    """Register a handler that runs for every event about another kind of subject."""
    SUBJECT_EVALUATORS.append(handler)
    return handler


def apply_subject_event(session: Session, event: Event, subject: Any) -> None:
    """Run the subject evaluators for one event about another kind of subject."""
    for handler in SUBJECT_EVALUATORS:
        handler(session, event, subject)


def apply_event(session: Session, event: Event, client: Client) -> None:
    """Run the projections and then the evaluators for one event."""
    for handler in PROJECTIONS.get(event.type, ()):
        handler(session, event, client)
    apply_evaluators(session, event, client)


def apply_evaluators(session: Session, event: Event, client: Client, start: int = 0) -> None:
    """Run the evaluators from the `start`-th on for one event whose projections (and
    the evaluators before `start`) are done: the set-based path did them."""
    for handler in EVALUATORS[start:]:
        handler(session, event, client)


# ---- set-based forms (engine.processing.batch, issue 20) ---------------------------
# A domain may give some of its handlers a set-based form: the same effects for a whole
# group of clients, loaded with a few bulk reads and written with bulk statements. An
# event goes through the set-based path only when every projection of its type and
# every evaluator has a form and every form `accepts` it (each decides exactly, from its
# group state, that `apply` does what the per-event handler would); otherwise the
# client's remaining events take the per-event path.


@dataclass(frozen=True)
class BatchForm:
    name: str
    handlers: tuple[Handler, ...]  # the per-event handlers this form stands for
    # load(session, clients {ref: Client}, events) -> the group state for these events
    load: Callable[["Session", dict[str, "Client"], list["Event"]], Any]
    # accepts(state, event, client) -> bool: apply would do exactly what the handlers do
    accepts: Callable[[Any, "Event", "Client"], bool]
    apply: Callable[[Any, "Event", "Client"], None]  # change the state (no SQL)
    write: Callable[["Session", Any], None]  # bulk statements for the state's changes
    # sees(state, {form name: state}): given, after every form of a round has loaded, the
    # round's states (an evaluator's form reads facts from the projections' states)
    sees: Callable[[Any, dict[str, Any]], None] | None = None
    # takes(event) -> bool, from the event alone: False sends it per event as if its type
    # had no form (not a refusal: no round is spent on it; engine.processing.batch)
    takes: Callable[["Event"], bool] | None = None

    def first_evaluator(self) -> int | None:
        """The position in EVALUATORS of the first evaluator this form stands for, or None
        (a projection's form)."""
        return next((i for i, h in enumerate(EVALUATORS) if _unwrapped(h) in self.handlers), None)


BATCH_FORMS: list[BatchForm] = []


def batch_form(
    name: str,
    handlers: Iterable[Handler],
    *,
    load: Callable[["Session", dict[str, "Client"], list["Event"]], Any],
    accepts: Callable[[Any, "Event", "Client"], bool],
    apply: Callable[[Any, "Event", "Client"], None],
    write: Callable[["Session", Any], None],
    sees: Callable[[Any, dict[str, Any]], None] | None = None,
    takes: Callable[["Event"], bool] | None = None,
) -> BatchForm:
    """Register the set-based form of `handlers` (per-event handlers already registered)."""
    form = BatchForm(name, tuple(handlers), load, accepts, apply, write, sees, takes)
    BATCH_FORMS[:] = [f for f in BATCH_FORMS if f.name != name] + [form]
    return form


def forms_for(event_type: str) -> list[BatchForm] | None:
    """Return the forms an event of `event_type` goes through, in handler order, or None
    when one of its projections or an evaluator has no set-based form."""
    found: list[BatchForm] = []
    for handler in [*PROJECTIONS.get(event_type, ()), *EVALUATORS]:
        handler = _unwrapped(handler)
        form = next((f for f in BATCH_FORMS if handler in f.handlers), None)
        if form is None:
            return None
        if form not in found:
            found.append(form)
    return found


# Events whose per-event handler changes other clients of the group (issue 20, step 9):
# `touches(session, events)` -> [(event, refs of other clients it changes)]. The group
# runner (engine.processing.batch) keeps each such event where the per-event path has it
# relative to those clients: after all their events when they come before its client in
# the group, before all of them when they come after.
CROSS_CLIENT: list[Callable[["Session", list["Event"]], list[tuple["Event", set[str]]]]] = []


def cross_client(
    touches: Callable[["Session", list["Event"]], list[tuple["Event", set[str]]]],
) -> Callable[["Session", list["Event"]], list[tuple["Event", set[str]]]]:
    """Register a domain's `touches` (see CROSS_CLIENT)."""
    name = (touches.__module__, touches.__qualname__)  # registered again when its module is
    CROSS_CLIENT[:] = [t for t in CROSS_CLIENT if (t.__module__, t.__qualname__) != name] + [touches]
    return touches


def touching(session: Session, events: list[Event]) -> list[tuple[Event, set[str]]]:
    """Every registered domain's cross-client events among `events` (see CROSS_CLIENT)."""
    return [found for touches in CROSS_CLIENT for found in touches(session, events)]


def _unwrapped(handler: Handler) -> Handler:
    return getattr(handler, "__wrapped__", handler)  # a timing wrapper (bench)
