"""Client facts: named values about a client that rule conditions may read.

Each domain registers its facts with `@fact(...)` in its own `facts.py`; the rule
validator checks every `client.<name>` path a rule reads against this registry,
and the processor loads only the facts the active rules read.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, TypeVar

# When set, facts that keep their history answer as of this moment instead of now: a
# catch-up that runs rules for events processed earlier (engine.ib.catchup) sees the
# client as it was at each event, not with what happened after it. Facts that keep no
# history ignore it (their docs say so).
AS_OF: ContextVar[datetime | None] = ContextVar("fxcrm_facts_as_of", default=None)


def as_of() -> datetime | None:
    """Return the moment facts are evaluated at, or None for now."""
    return AS_OF.get()


# Kinds match engine.events.catalogue.KINDS, plus `money` (a Money value).
DEFAULT_COST = "one query on the client's rows"


@dataclass(frozen=True)
class FactSpec:
    name: str  # full path without the `client.` prefix, e.g. "kyc.status"
    kind: str  # string, decimal, money, datetime, enum, integer, boolean, list
    loader: Callable[..., Any]
    choices: tuple[str, ...] = ()
    params: dict[str, str] = field(default_factory=dict)  # param name -> kind
    doc: str = ""
    cost: str = DEFAULT_COST  # what loading it reads, for the catalogue (`fxcrm rules facts`)
    column: str = ""  # a column of the clients table holding it: scheduled rules select by it in SQL
    # parameters naming what rule actions create, {param: kind} (a score's name): a name no
    # action creates is a warning of `rules check` (engine.rules.suspicious)
    names: dict[str, str] = field(default_factory=dict)


FACTS: dict[str, FactSpec] = {}
# Facts of the other kinds of subject (engine.subjects), by kind: {"staff": {"role": spec}}.
SUBJECT_FACTS: dict[str, dict[str, FactSpec]] = {}


L = TypeVar("L", bound=Callable[..., object])  # a fact's loader keeps its own type


def fact(
    name: str,
    kind: str,
    *,
    choices=(),
    params=None,
    doc: str = "",
    cost: str = DEFAULT_COST,
    column: str = "",
    names=None,
    subject: str = "client",
) -> Callable[[L], L]:
    """Register the decorated `loader(session, client, **params)` as fact `name`.

    With `subject` (a kind of engine.subjects, like `staff`) it is a fact of that kind of
    subject, `loader(session, subject, **params)`, read by rules as `<subject>.<name>`.

    `doc` (default: the loader's docstring) and `cost` are shown in the facts catalogue;
    `column` names the `clients` column the fact is (the loader returns it unchanged), so a
    scheduled rule can pick its candidate clients in SQL.
    """

    def register(loader: L) -> L:
        registry = FACTS if subject == "client" else SUBJECT_FACTS.setdefault(subject, {})
        registry[name] = FactSpec(
            name,
            kind,
            loader,
            tuple(choices),
            dict(params or {}),
            doc or (loader.__doc__ or "").strip(),
            cost,
            column,
            dict(names or {}),
        )
        return loader

    return register


def load_domain_facts() -> dict[str, FactSpec]:
    """Import every domain's facts module once and return the registry."""
    from engine.domains import import_each_once

    import_each_once("facts")
    return FACTS


def subject_facts() -> dict[str, dict[str, FactSpec]]:
    """Return the facts of the subjects other than clients, by kind (loading the domains)."""
    load_domain_facts()
    return SUBJECT_FACTS


def get(name: str) -> FactSpec | None:
    """Return the fact called `name` (without `client.`), or None."""
    return load_domain_facts().get(name)


# For the set-based path (engine.rules.batch): fact name -> load(session, client refs) ->
# {ref: raw value}, one bulk read answering as the fact's loader would. The value read at
# the start of a set-based round stays right for the whole round only if no event of the
# round changes it: a fact that events of some types change names them (`changed_by`),
# and is not known to a round holding one of them (its rules then take the per-event
# path); without `changed_by`, no event the set-based path takes may change it.
BATCH_FACTS: dict[str, Callable[..., dict]] = {}
CHANGED_BY: dict[str, frozenset[str]] = {}  # fact name -> the event types that change it


# Facts a projection's set-based form answers from its group state: fact name -> (the
# form's name, read(form state, client) -> raw value as the fact's loader gives it). The
# rules' form decides each event after the event's projections are applied in memory, so
# such a value is right at every point of a round, the round's own changes included.
STATE_FACTS: dict[str, tuple[str, Callable[..., object]]] = {}
_Reader = TypeVar("_Reader", bound=Callable[..., object])


def state_fact(name: str, *, form: str) -> Callable[[_Reader], _Reader]:
    """Register the decorated reader of fact `name` from form `form`'s group state."""

    def register(reader: _Reader) -> _Reader:
        STATE_FACTS[name] = (form, reader)
        return reader

    return register


def batch_fact(name: str, *, changed_by: tuple[str, ...] = ()):
    """Register the decorated bulk loader of fact `name` (see BATCH_FACTS)."""

    def register(loader):
        BATCH_FACTS[name] = loader
        CHANGED_BY[name] = frozenset(changed_by)
        return loader

    return register
