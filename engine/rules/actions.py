"""The action registry: every action a rule may take, its parameters' schema and what it does.

Each domain declares its actions in its own `engine/<domain>/actions.py`: a
marshmallow schema for the parameters (built from the field types below) and a
function decorated with `@action(name, Schema, ...)`. The metadata (which parameters
are templates, event types, rule ids, queues or named conditions) lets the compiler
cross-check them without knowing the action. The domains are listed once, in
`engine.domains`; this module imports none of them by name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Callable, TypeVar

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from engine.values import ValueError_, parse_decimal, parse_duration

F = TypeVar("F", bound=Callable[..., object])  # a registered function keeps its own type

NAME = validate.Regexp(r"^[a-z][a-z0-9_\-]*$", error="must be a lower-case name like kyc-reminder")


class Duration(fields.Field):
    """A duration like 30s, 15m, 48h, 7d, kept as whole seconds."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return int(parse_duration(value).total_seconds())
        except ValueError_ as exc:
            raise ValidationError(str(exc)) from None


class MoneyField(fields.Field):
    """Money like `200 USD`, kept as {"amount": "200", "currency": "USD"}."""

    def _deserialize(self, value, attr, data, **kwargs):
        m = re.fullmatch(r"\s*([+-]?\d+(?:\.\d+)?)\s+([A-Z]{3})\s*", str(value))
        if not m:
            raise ValidationError("must be money like 200 USD")
        try:
            return {"amount": str(parse_decimal(m[1])), "currency": m[2]}
        except ValueError_ as exc:
            raise ValidationError(str(exc)) from None


class TemplateText(fields.Field):
    """Text with {event.x}/{client.x} placeholders, or {template: name} from definitions."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, dict) and list(value) == ["template"] and isinstance(value["template"], str):
            return {"template": value["template"]}
        raise ValidationError("must be text, or {template: name}")


class OneOrMany(fields.List):
    """A list that may also be written as a single item."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value if isinstance(value, list) else [value], attr, data, **kwargs)


class Params(Schema):
    class Meta:
        unknown = RAISE


@dataclass(frozen=True)
class ActionSpec:
    name: str
    schema: type[Schema]
    doc: str
    shorthand: str | None = None  # the parameter a bare scalar sets
    templates: tuple[str, ...] = ()  # parameters with {event.x}/{client.x} placeholders
    event_types: tuple[str, ...] = ()  # parameters naming event types
    rule_refs: tuple[str, ...] = ()  # parameters naming rule ids
    queues: tuple[str, ...] = ()  # parameters naming task queues
    conditions: tuple[str, ...] = ()  # parameters naming defined conditions
    # parameters naming something of the ruleset's configuration: {param: kind}, each kind
    # answered by a @known_names(kind) lister (a notification template, a commission profile)
    references: Mapping[str, str] = field(default_factory=dict)
    # parameters naming what the action creates, {param: kind} (a score): facts read them
    creates: Mapping[str, str] = field(default_factory=dict)
    # What two rules matching one trigger must not both do (a warning of `rules check`):
    sets: str | None = None  # the parameter naming the one value it sets (a status)
    once_for: tuple[str, ...] = ()  # parameters keying what may happen once (a CPA per profile)
    run: Callable | None = None  # run(run, params, key) -> result text (engine.rules.actions_run.Run)
    # The subjects a rule taking it may be about (engine.subjects): "client", another kind,
    # or "*" for any; `run.client` is then that subject (it has `.ref` and `.subject_kind`).
    subjects: tuple[str, ...] = ("client",)
    client_params: tuple[str, ...] = ()  # parameters only a rule about a client may give

    def fits(self, subject: str) -> bool:
        """Return whether a rule about a `subject` may take this action."""
        return subject in self.subjects or "*" in self.subjects


ACTIONS: dict[str, ActionSpec] = {}

# What the configuration of a ruleset defines, by kind: lister(config files) -> names, or
# None when the files do not say (then the check is left to the running configuration).
KNOWN_NAMES: dict[str, Callable[[Mapping[str, str]], "set[str] | None"]] = {}


def known_names(kind: str):
    """Register the decorated lister of the `kind` names a ruleset's configuration defines."""

    def register(lister):
        KNOWN_NAMES[kind] = lister
        return lister

    return register


def action(name: str, schema: type[Schema], **meta) -> Callable[[F], F]:
    """Register the decorated run(run, params, key) as action `name`, its parameters loaded by `schema`.

    This is the one place an action is declared: its schema and metadata for the
    compiler, and what it does at run time.
    """

    def register(fn: F) -> F:
        ACTIONS[name] = ActionSpec(name, schema, (fn.__doc__ or "").strip(), run=fn, **meta)
        return fn

    return register


# Run for every event before its rules match: hook(session, ruleset, client, event, facts).
EVENT_HOOKS: list[Callable] = []


def on_each_event(hook: Callable) -> Callable:
    """Register `hook` to run for every processed event under the active ruleset, before matching."""
    EVENT_HOOKS.append(hook)
    return hook


# For the set-based path (engine.rules.batch): hook -> its HookForm, which decides the
# hook for each event of a group. While one hook has no form, every client stays on the
# per-event path (the hook could act on any event; only `runtime.evaluate_event` runs it).


@dataclass(frozen=True)
class HookForm:
    """The set-based form of one event hook: what it does to a client for each event."""

    # load(session, refs, ruleset, event_types) -> the group state, from bulk reads
    load: Callable
    # decide(state, event, client, holds) -> what the hook does (None: nothing), where
    # holds(condition) says whether a condition holds on the values known for the group
    # (engine.rules.batch raises, and the event goes per event, when it reads others)
    decide: Callable
    # apply(state, decision, action_states): carry it out in memory (`action_states`: the
    # round's action forms' states, by action name, to write in one order with them)
    apply: Callable
    write: Callable  # write(session, state): what `apply` left to write itself
    # peers(state, action_states): after every action form of the round loaded, the hook's
    # state may make itself known to them (the `task` form hands close_tasks the tasks the
    # round creates, so a client's later events are decided on them too)
    peers: Callable | None = None


HOOK_FORMS: dict[Callable, HookForm] = {}


def hook_form(hook: Callable, **parts: Callable) -> HookForm:
    """Register the set-based form of event hook `hook` (load, decide, apply, write)."""
    form = HookForm(**parts)
    HOOK_FORMS[hook] = form
    return form


# For the set-based path (engine.rules.batch): action name -> its ActionForm. A rule that
# acts at once is decided set-based only when each of its actions has a form that decides
# the call; otherwise its event takes the per-event path (`execute`).


@dataclass(frozen=True)
class ActionForm:
    """The set-based form of one action: the same effects as its `run`, for a group.

    The rules form gives it `Call`s (engine.rules.batch): what `run` would be given.
    """

    # load(session, calls) -> the group state, from bulk reads: `calls` are every call the
    # group's events may make (a call's `decided` fields are not set yet)
    load: Callable
    # decide(state, call) -> what `run` would do, or None when it cannot tell exactly here
    decide: Callable
    # apply(state, call, decision) -> whether an event hook may now act on the client's
    # later events (a task closed by an event type of the round): they go per event
    apply: Callable
    write: Callable  # write(session, state): the bulk statements (ids are known after it)
    result: Callable  # result(state, decision) -> the text rule_actions records, after write
    # whether `apply` changes the client's columns (facts the other actions of the same
    # event may read after it on the per-event path: such an event goes per event)
    changes_client: bool = False
    # sees(state, round states by form name): what the form reads of the projections'
    # forms' group states (the IB ledger, for `commission`), once they are all loaded
    sees: Callable | None = None
    # idle(decision) -> True when the call does nothing, and would do nothing whatever the
    # event's other calls of this action did first: such a call may share an event with one
    # (all of them are decided on the same state)
    idle: Callable | None = None
    # peers(state, action_states): after every action form of the round loaded, its state
    # may keep the other action forms' (by action name), e.g. to see the tasks the round creates
    peers: Callable | None = None
    # With changes_client: the client columns `apply` may change (None: any of them)
    client_columns: frozenset[str] | None = None
    # client_reads(decision) -> the client columns the decided effect read when it was
    # decided (None: any): after an earlier action of the event that changed one of them,
    # the per-event path would read the new value, so the event goes per event
    client_reads: Callable | None = None


ACTION_FORMS: dict[str, ActionForm] = {}


def action_form(
    name: str, *, changes_client: bool = False, client_columns: Iterable[str] | None = None, **parts: Callable
) -> ActionForm:
    """Register the set-based form of action `name` (load, decide, apply, write, result)."""
    columns = frozenset(client_columns) if client_columns is not None else None
    form = ActionForm(**parts, changes_client=changes_client, client_columns=columns)
    ACTION_FORMS[name] = form
    return form


# What a rule test may expect, by kind: reader(session, rule_actions) -> [outcome] (in order).
OUTCOME_READERS: dict[str, Callable] = {}


def outcome(kind: str) -> Callable[[F], F]:
    """Register the decorated reader(session, rule_actions) of the rule-test outcome `kind`."""

    def register(reader: F) -> F:
        OUTCOME_READERS[kind] = reader
        return reader

    return register


@dataclass(frozen=True)
class Outcome:
    """One thing rules left behind for a client, as a backtest compares it.

    `key` names it the same way in the real database and in a replay (the trigger key
    of the action that made it); `shown` holds what is compared (a task's queue, title,
    priority); `why` is the explanation recorded with it.
    """

    client: str
    kind: str
    key: str
    rule: str | None
    shown: Mapping[str, object]
    why: Mapping | None = None


# What a backtest compares, by kind: reader(session) -> [Outcome] of every client.
COMPARED: dict[str, Callable] = {}


def compared(kind: str) -> Callable[[F], F]:
    """Register the decorated reader(session) -> [Outcome] of what rules left, for backtests."""

    def register(reader: F) -> F:
        COMPARED[kind] = reader
        return reader

    return register


def load_domain_actions() -> dict[str, ActionSpec]:
    """Import every domain's actions module once and return the registry."""
    from engine.domains import import_each_once

    import_each_once("actions")
    import engine.rules.own_actions  # noqa: F401  (emit, timers: the rules' own)

    return ACTIONS


def freeze(value):
    """Return a hashable copy of a JSON-like value (dicts become sorted pair tuples)."""
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")
