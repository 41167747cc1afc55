"""The set-based form of the rules evaluator (engine.processing.batch, issue 20).

`runtime.evaluate_event` for one event: the event hooks (closing rule tasks), cancelling
delay timers whose `unless` holds, arming absence timers, then matching the event's rules
and acting. The set-based path takes an event when it can decide, exactly and from a few
bulk reads for the whole group, everything the per-event path would do, with the same
decision functions (`runtime.unless_holds`, `runtime.delay_timer`, the same matcher and
explanations):
- every event hook has a set-based form (engine.rules.actions.HOOK_FORMS: the tasks'
  close_tasks) that decides, first, what it does for each event (while one hook has
  none, every event goes per event); a condition it asks about is decided on the values
  known for the group (the ruleset's named conditions are among the facts loaded), or
  the event goes per event;
- the client's pending delay timers of rules with `unless` are loaded for the group (with
  the events that started them); each event asks each `unless` again, on values known for
  the group, and a timer whose `unless` holds is cancelled (one set-based UPDATE);
- no absence rule is armed by the event's type;
- the same matcher (`loaded.matcher`) decides which rules match, on values known for the
  group: the event's projections are applied before this form decides (engine.processing.
  batch), so a fact that is a clients column is read from the client as it now is, and a
  fact a projection's form answers from its group state (engine.facts.STATE_FACTS: the
  KYC documents, review and country risk, the accounts' count, the deposit facts, the
  IB facts of engine.ib.batch_facts: first deposit, chargebacks, `trades.lots(...)`, a
  fact with parameters given them as its loader is) is
  read there, the round's own changes included; facts with a bulk loader (engine.facts.BATCH_FACTS) are known when no event
  type of the round changes them; a plain count in a window (`count(type within D)`)
  is known from the times of the events it counts, read once per group and bounded by
  the window (engine.rules.batch_counts; a count with filters, or over all time, is
  not). A matching rule with `after:` starts its delay
  timer (a new row, once per key: the group's existing keys are read in one query; the
  rows are written in one bulk insert). When a rule reads a fact not known here, its
  condition must be a conjunction with one part, reading only known values, that is
  false (the reference evaluator decides that part, as it does every `unless`);
  otherwise the event goes to the per-event path.
- a matching rule that acts at once (`runtime.act_on_event`, `actions_run.execute`) is
  taken when its templates read only known facts and each of its actions has a set-based
  form (engine.rules.actions.ACTION_FORMS, registered by each domain beside its
  `@action`: task, notify, set_status, set_risk, commission) that decides the call (an `actions_run.Call`: what `execute` gives `run`).
  The rule_actions keys the group's events could record are read in one query (a key
  found is skipped, as `execute` skips it); each form loads its group state for the
  calls the group could make (and may keep the other action forms' states: `peers`; the
  `raise_priority` form reads the tasks the `task` form creates in the round), decides
  with the per-event action's own functions, applies in memory and writes its rows
  (an episode task: only a trigger delivered in order, engine.tasks.episodes_batch); then the rule_actions rows (their results
  naming the rows the forms wrote) go in one bulk insert. An event making two calls of
  one action goes per event (both would decide on the same state), unless all but one
  of them are idle (the form's `idle`: nothing to do, whatever the other did first). A form's `apply`
  says when an event hook may now act on the client (a task an event type of the round
  closes): the client's later events go per event. An action changing the client
  (set_status, set_risk: `changes_client`) changes it in memory, where the client's
  later events read it; an event where another action's templates read a clients column
  after such an action goes per event (there the value may be read after the change).
`accepts` decides an event (given the state as the client's earlier events left it) and
keeps the decision; `apply` carries it out on the state; `write` sends the statements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, TypeVar

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.orm.attributes import set_committed_value

from engine.bulk import insert_rows
from engine.events.models import Event
from engine.facts import BATCH_FACTS, CHANGED_BY, STATE_FACTS, load_domain_facts
from engine.projections import BATCH_FORMS, forms_for
from engine.rules import activation, batch_counts, ir, py_evaluator
from engine.rules.actions import (
    ACTION_FORMS,
    EVENT_HOOKS,
    HOOK_FORMS,
    ActionForm,
    load_domain_actions,
)
from engine.rules.actions_run import Call, action_key, action_row, filled_params
from engine.rules.conditions import values_of
from engine.rules.evaluation import FACT_OVERRIDES, explanation, fact_params
from engine.rules.literals import epoch
from engine.rules.models import DELAY, TIMER_CANCELLED, TIMER_PENDING, RuleAction, RuleTimer
from engine.rules.paths import base_key
from engine.rules.reading import build_reader
from engine.values import utcnow

_CHUNK = 1000  # values per IN (...) of a bulk read
_T = TypeVar("_T")


@dataclass
class _Timer:
    """A pending delay timer of a rule with `unless`: in the database (id) or new (row)."""

    rule_id: str
    trigger: Event | None
    id: int | None = None
    row: dict | None = None


@dataclass
class _Act:
    """One action of a rule acting at once, as its form decided it."""

    call: Call
    form: ActionForm
    decision: object
    row: dict | None = None  # the rule_actions row (its result filled in by write)


@dataclass
class _Decision:
    cancel: list[_Timer]
    start: list[dict]  # runtime.delay_timer(...) of each matching delayed rule
    acts: list[_Act] = field(default_factory=list)  # the actions of the rules acting at once
    hooks: list[tuple] = field(default_factory=list)  # (hook, what its form decided), in hook order


@dataclass
class RulesState:
    loaded: object | None  # activation.Loaded, or None: no active ruleset
    quiet: set[str] = field(default_factory=set)  # clients the hooks' forms decide (until one may act)
    hooks: dict = field(default_factory=dict)  # hook -> its HookForm's group state
    facts: dict[str, dict[str, object]] = field(default_factory=dict)  # fact key -> {ref: raw}
    columns: dict[str, str] = field(default_factory=dict)  # fact key -> the clients column read live
    from_forms: dict[str, tuple] = field(default_factory=dict)  # fact key -> STATE_FACTS entry
    round: dict[str, object] = field(default_factory=dict)  # form name -> its group state
    known: frozenset[str] = frozenset()  # fact keys known for the group
    changed_by: dict[str, frozenset[str]] = field(default_factory=dict)  # bulk-loaded key -> types changing it
    types_of: dict[str, frozenset[str]] = field(default_factory=dict)  # client -> its event types in the round
    _known_for: dict[str, frozenset[str]] = field(default_factory=dict)

    def known_for(self, ref: str) -> frozenset[str]:
        """The fact keys known for this client: a bulk-loaded fact is not when one of the
        client's own events in the round is of a type that changes it."""
        if ref not in self._known_for:
            types = self.types_of.get(ref, frozenset())
            self._known_for[ref] = self.known - {k for k, by in self.changed_by.items() if by & types}
        return self._known_for[ref]

    # rule id -> (the rule, what its `unless` reads): the rules with `unless`, looked up for
    # each pending timer of each event (were found and their reads computed each time)
    unless: dict[str, tuple[ir.Rule, frozenset]] = field(default_factory=dict)
    parts: dict[str, list[tuple]] = field(default_factory=dict)  # rule id -> [(part of its `if:`, its values)]
    plans: dict[tuple, Any] = field(default_factory=dict)  # see _plan
    # id(condition) -> (the condition, kept alive for its id, its values, its reader): _condition_reader
    readers: dict[int, tuple[Any, frozenset, Callable]] = field(default_factory=dict)
    timers: dict[str, list[_Timer]] = field(default_factory=dict)  # ref -> pending, with `unless`
    keys: set[str] = field(default_factory=set)  # delay timer keys that exist (or are new)
    decided: dict[int, _Decision] = field(default_factory=dict)  # id(event) -> what accepts decided
    new: list[dict] = field(default_factory=list)  # rule_timers rows to insert
    cancelled: list[dict] = field(default_factory=list)  # existing timers to cancel
    done: set[str] = field(default_factory=set)  # rule_actions keys that exist (or are new)
    forms: dict[str, object] = field(default_factory=dict)  # action name -> its form's group state
    acts: list[_Act] = field(default_factory=list)  # what the round's rules did at once, in order
    counts: dict[str, batch_counts.Counts] = field(default_factory=dict)  # count key -> its events' times
    at: datetime | None = None  # the event being decided: its occurred_at (the counts' window ends there)


def load(session: Session, clients: dict, events: list) -> RulesState:
    from engine.rules.runtime import unless_reads

    loaded = activation.current(session)
    if loaded is None:
        return RulesState(None)
    load_domain_actions()
    refs = sorted({e.client_ref for e in events})
    ruleset, types = loaded.ruleset, sorted({e.type for e in events})
    # a hook with no set-based form could act on any event: every client goes per event
    quiet = set(refs) if all(hook in HOOK_FORMS for hook in EVENT_HOOKS) else set()
    state = RulesState(loaded, quiet)
    if quiet:
        state.hooks = {h: HOOK_FORMS[h].load(session, sorted(quiet), ruleset, types) for h in EVENT_HOOKS}
    with_unless = [r for r in ruleset.rules if r.unless is not None]
    state.unless = {r.id: (r, unless_reads(r)) for r in with_unless}
    if with_unless and quiet:
        _load_timers(session, state, sorted(quiet), [r.id for r in with_unless])
    state.keys = _existing_keys(session, ruleset, [e for e in events if e.client_ref in quiet])
    _load_actions(session, state, clients, [e for e in events if e.client_ref in quiet], frozenset(types))
    reads = frozenset().union(
        *(loaded.matcher.reads(t) for t in types),
        *(reads for _rule_, reads in state.unless.values()),
        *(r.template_reads for t in types for r in ruleset.rules_for(t) if r.after is None),
        *(values_of(c) for _, c in ruleset.conditions if state.hooks),  # a hook form may ask them
    )
    _load_facts(session, state, reads, sorted(quiet), [e for e in events if e.client_ref in quiet])
    for event in events:
        state.types_of[event.client_ref] = state.types_of.get(event.client_ref, frozenset()) | {event.type}
    _load_other_forms(session, state, clients, events, frozenset(types))
    return state


def sees(state: RulesState, round_states: dict[str, object]) -> None:
    """Keep the round's projection states: facts are read from them (STATE_FACTS)."""
    for name, form_state in round_states.items():
        state.round.setdefault(name, form_state)
    for name, action_state in state.forms.items():
        if (seen := ACTION_FORMS[name].sees) is not None:
            seen(action_state, state.round)


def _load_other_forms(session: Session, state: RulesState, clients: dict, events: list, types: frozenset) -> None:
    """Load the group state of each form a needed fact is read from that has no event in
    the round (its state then stays as loaded)."""
    in_round = {f.name for t in types for f in (forms_for(t) or ())}
    for name in sorted({name for name, _reader in state.from_forms.values()} - in_round):
        form = next(f for f in BATCH_FORMS if f.name == name)
        state.round[name] = form.load(session, clients, events)


def _load_timers(session: Session, state: RulesState, refs: list[str], rule_ids: list[str]) -> None:
    """The clients' pending delay timers of rules with `unless`, oldest first (as
    runtime.cancel_timers reads them), with the events that started them."""
    rows = []
    for part in _chunks(refs):
        rows += session.execute(
            select(RuleTimer.id, RuleTimer.client_ref, RuleTimer.rule_id, RuleTimer.event_seq, RuleTimer.due_at).where(
                RuleTimer.client_ref.in_(part),
                RuleTimer.kind == DELAY,
                RuleTimer.status == TIMER_PENDING,
                RuleTimer.rule_id.in_(rule_ids),
            )
        ).all()
    rows.sort(key=lambda r: (r.due_at, r.id))
    seqs = sorted({r.event_seq for r in rows if r.event_seq})
    # A trigger the session holds (an event of this group, or one read before) is not read
    # again, as session.get would not (runtime.cancel_timers).
    held = {seq: session.identity_map.get(identity_key(Event, seq)) for seq in seqs}
    triggers = {seq: event for seq, event in held.items() if event is not None}
    for part in _chunks([seq for seq in seqs if seq not in triggers]):
        triggers.update({e.seq: e for e in session.scalars(select(Event).where(Event.seq.in_(part)))})
    for r in rows:
        trigger = triggers.get(r.event_seq) if r.event_seq else None
        state.timers.setdefault(r.client_ref, []).append(_Timer(r.rule_id, trigger, id=r.id))


def _existing_keys(session: Session, ruleset: ir.Ruleset, events: list) -> set[str]:
    """The keys of the delay timers these events could start that exist already."""
    from engine.rules.runtime import delay_key

    wanted = sorted({delay_key(r, e) for e in events for r in ruleset.rules_for(e.type) if r.after is not None})
    found: set[str] = set()
    for part in _chunks(wanted):
        found.update(session.scalars(select(RuleTimer.key).where(RuleTimer.key.in_(part))))
    return found


def _load_actions(session: Session, state: RulesState, clients: dict, events: list, types: frozenset) -> None:
    """The rule_actions keys the group's rules acting at once could record that exist, and
    each action form's group state for the calls they could make."""
    from engine.rules.runtime import event_trigger

    calls: dict[str, list[Call]] = {}
    wanted_keys: set[str] = set()
    for event in events:
        trigger = event_trigger(event)
        for rule in state.loaded.ruleset.rules_for(event.type):
            if rule.after is None:
                for index, act in enumerate(rule.actions):
                    wanted_keys.add(action_key(trigger, rule, index))
                    if act.name in ACTION_FORMS:  # only a form loads for the calls (the others refuse)
                        calls.setdefault(act.name, []).append(
                            _call(state, rule, index, event, clients[event.client_ref], {})
                        )
    wanted = sorted(wanted_keys)
    for part in _chunks(wanted):
        state.done.update(session.scalars(select(RuleAction.key).where(RuleAction.key.in_(part))))
    for name, found in calls.items():
        state.forms[name] = ACTION_FORMS[name].load(session, found, types)
    for name, form_state in state.forms.items():
        if ACTION_FORMS[name].peers is not None:
            ACTION_FORMS[name].peers(form_state, state.forms)
    for hook, hook_state in state.hooks.items():
        if HOOK_FORMS[hook].peers is not None:
            HOOK_FORMS[hook].peers(hook_state, state.forms)


def _call(state: RulesState, rule: ir.Rule, index: int, event, client, raw: dict, why: dict | None = None) -> Call:
    from engine.rules.runtime import event_trigger

    ruleset, trigger = state.loaded.ruleset, event_trigger(event)
    key, act = action_key(trigger, rule, index), rule.actions[index]
    return Call(ruleset, rule, client, [event], event.occurred_at, raw, trigger, key, act, explanation=why or {})


def _chunks(items: list) -> list[list]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def _load_facts(session: Session, state: RulesState, reads: frozenset, refs: list[str], events: list) -> None:
    """Say how the group knows, for the quiet clients, each fact among `reads` it can:
    read from a projection form's state (STATE_FACTS), loaded in bulk (BATCH_FACTS: known
    to a client none of whose events in the round is of a type changing it), or a
    clients column read live (the rules decide after the event's projections changed the
    client in memory); and a count in a window, from the times of the events it counts
    (engine.rules.batch_counts)."""
    specs = load_domain_facts()
    known = set()
    for value in reads:
        if batch_counts.countable(value) and events:
            if base_key(value) not in known:
                state.counts[base_key(value)] = batch_counts.load(session, value, events)
                known.add(base_key(value))
            continue
        if value.source != "client" or (value.params and value.path not in STATE_FACTS):
            continue
        key, spec = base_key(value), specs.get(value.path)
        if key in known or spec is None:
            continue
        if value.path in STATE_FACTS:
            state.from_forms[key] = _with_params(STATE_FACTS[value.path], fact_params(spec, value))
        elif value.path in BATCH_FACTS:
            state.facts[key] = BATCH_FACTS[value.path](session, refs) if refs else {}
            state.changed_by[key] = CHANGED_BY.get(value.path, frozenset())
        elif spec.column:
            state.columns[key] = spec.column
        else:
            continue
        known.add(key)
    state.known = frozenset(known)


def _with_params(entry: tuple, params: dict) -> tuple:
    """A STATE_FACTS entry whose reader is given the fact's parameters (as its loader is)."""
    if not params:
        return entry
    name, reader = entry
    return name, lambda form_state, client: reader(form_state, client, **params)


def accepts(state: RulesState, event, client) -> bool:
    """Decide the event as runtime.evaluate_event would, or say it cannot (False)."""
    if state.loaded is None:
        return True  # no active ruleset: the evaluator does nothing
    if FACT_OVERRIDES.get() or client.ref not in state.quiet:
        return False
    ruleset = state.loaded.ruleset
    if ruleset.absence_rules_for(event.type):
        return False
    state.at = event.occurred_at  # where the counts' windows end
    raw: dict = {}  # what the per-event FactLoader holds (explanations show it)
    try:
        hooks = _hooks(state, event, client, raw)
        cancel = _to_cancel(state, event, client, raw)
        start, acts = _to_start(state, event, client, raw)
    except _Unknown:
        return False
    except Exception:
        return False  # the per-event path raises on this event, and isolates it
    state.decided[id(event)] = _Decision(cancel, start, acts, hooks)
    return True


def _hooks(state: RulesState, event, client, raw: dict) -> list[tuple]:
    """What each event hook with a form does for the event (they run first, per event too);
    a condition a hook asks about is decided on the values known for the group."""
    known = state.known_for(client.ref)

    def holds(condition) -> bool:
        values, reader = _condition_reader(state, condition)
        if not all(_known(v, known) for v in values):
            raise _Unknown("a hook's condition")
        _read(state, values, client, raw)
        return py_evaluator.holds(condition, reader({"data": {}}, raw, epoch(event.occurred_at)))

    found = []
    for hook, hook_state in state.hooks.items():
        decision = HOOK_FORMS[hook].decide(hook_state, event, client, holds)
        if decision is not None:
            found.append((hook, decision))
    return found


def _condition_reader(state: RulesState, condition) -> tuple[frozenset, Callable]:
    """What a hook's condition reads, and its reader: built once per round (the ruleset's
    named conditions live as long as it; building a reader compiles a function)."""
    if id(condition) not in state.readers:
        values = frozenset(values_of(condition))
        state.readers[id(condition)] = (condition, values, build_reader(values))
    _, values, reader = state.readers[id(condition)]
    return values, reader


class _Unknown(Exception):
    """A value the decision needs is not known for the group: the per-event path decides."""


def _read(state: RulesState, values, client, raw: dict) -> None:
    """Put the client facts among `values` into `raw`, or raise _Unknown."""
    for value in values:
        if value.source in ("event", "relation"):
            continue
        key = base_key(value)
        if key not in state.known_for(client.ref):
            raise _Unknown(key)
        raw[key] = _value(state, key, client)


def _plan(state: RulesState, key: tuple, make: Callable[[], _T]) -> _T:
    """`make()`, once per key in a round: what an event type (or a rule's `unless`) reads
    and decides depends on the client only through the fact keys known for it, so it is
    worked out once per type and known set instead of for every event."""
    if key not in state.plans:
        state.plans[key] = make()
    return state.plans[key]


def _fact_keys(values) -> tuple[str, ...]:
    """The keys of the client facts among `values` (what `_read` puts into raw), once each."""
    return tuple(dict.fromkeys(base_key(v) for v in values if v.source not in ("event", "relation")))


def _start_plan(state: RulesState, event_type: str, known: frozenset[str]) -> tuple[tuple[str, ...], frozenset[str]]:
    """For `_to_start`: the keys of the known facts the type's matcher reads, and the rules
    that read only known values (the matcher decides them exactly)."""
    reads = state.loaded.matcher.reads(event_type)
    rules = state.loaded.ruleset.rules_for(event_type)
    decided = frozenset(r.id for r in rules if all(_known(v, known) for v in r.reads))
    return _fact_keys(v for v in reads if _known(v, known)), decided


def _unless_keys(reads: frozenset, known: frozenset[str]) -> tuple[str, ...] | None:
    """The keys of the facts an `unless` reads, or None when one of its values is not known."""
    return _fact_keys(reads) if all(_known(v, known) for v in reads) else None


def _put(state: RulesState, keys: tuple[str, ...], client, raw: dict) -> None:
    """Put the values of these known fact keys into `raw` (`_read` without its checks)."""
    for key in keys:
        raw[key] = _value(state, key, client)


def _value(state: RulesState, key: str, client) -> object:
    if key in state.columns:
        return getattr(client, state.columns[key])
    if key in state.counts:
        return state.counts[key].at(client.ref, state.at)
    if key in state.from_forms:
        name, reader = state.from_forms[key]
        try:
            return reader(state.round[name], client)
        except LookupError:
            raise _Unknown(key) from None  # the form's state does not hold the client
    return state.facts[key].get(client.ref)


def _to_cancel(state: RulesState, event, client, raw: dict) -> list[_Timer]:
    """The pending timers whose `unless` now holds (runtime.cancel_timers)."""
    from engine.rules.runtime import unless_holds

    if not state.unless:
        return []
    found, known = [], state.known_for(client.ref)
    for timer in state.timers.get(client.ref, ()):
        if timer.rule_id not in state.unless:
            continue
        rule, reads = state.unless[timer.rule_id]
        keys = _plan(state, ("unless", rule.id, known), lambda: _unless_keys(reads, known))
        if keys is None:
            raise _Unknown(rule.id)
        _put(state, keys, client, raw)
        if unless_holds(rule, timer.trigger, raw, event.occurred_at, reads):
            found.append(timer)
    return found


def _to_start(state: RulesState, event, client, raw: dict) -> tuple[list[dict], list[_Act]]:
    """The delay timers the matching rules start, and the actions of those acting at once
    (_Unknown when an action has no form, or its form cannot decide it)."""
    from engine.rules.runtime import delay_timer, envelope

    ruleset, matcher = state.loaded.ruleset, state.loaded.matcher
    rules = ruleset.rules_for(event.type)
    if not rules:
        return [], []
    known = state.known_for(client.ref)
    keys, decided = _plan(state, ("start", event.type, known), lambda: _start_plan(state, event.type, known))
    _put(state, keys, client, raw)
    values = matcher.read(envelope(event), raw, epoch(event.occurred_at))
    # A rule reading a value not known here must be decided not to match by a part that
    # reads only known values; every other rule is decided by the matcher, exactly.
    if not all(r.id in decided or _cannot_match(state, r, known, values) for r in rules):
        raise _Unknown(event.type)
    start, acts = [], []
    for rule in (r for r in matcher.match(event.type, values) if r.id in decided):
        why = explanation(ruleset, rule, [event], values, raw)
        if rule.after is None:
            acts += _to_act(state, rule, event, client, raw, why)
        else:
            start.append(delay_timer(ruleset, rule, client.ref, event, why))
    acting = [a.call.action.name for a in acts if a.form.idle is None or not a.form.idle(a.decision)]
    if len(set(acting)) < len(acting):
        raise _Unknown(event.type)  # two calls of one action would decide on the same state
    if _reads_what_an_earlier_act_changed(state, acts):
        raise _Unknown(event.type)
    return start, acts


def _reads_what_an_earlier_act_changed(state: RulesState, acts: list[_Act]) -> bool:
    """Whether an action reads a clients column (in its rule's templates, or as its form
    says it read one deciding) after an action that changes that column: the per-event
    path may load the value after the change (its facts load when first read), this path
    has read it before."""
    changed: set[str] | None = set()  # the columns the acts before changed (None: any)
    for act in acts:
        if _reads_any(_client_reads(state, act), changed):
            return True
        if act.form.changes_client:
            changed = None if changed is None or act.form.client_columns is None else changed | act.form.client_columns
    return False


def _client_reads(state: RulesState, act: _Act) -> set[str] | None:
    """The clients columns an act reads: its rule's templates' column facts, and what its
    form says the decision read (None: any column)."""
    keys = {base_key(v) for v in act.call.rule.template_reads if v.source == "client"}
    reads = {state.columns[k] for k in keys if k in state.columns}
    if act.form.client_reads is None:
        return reads
    own = act.form.client_reads(act.decision)
    return None if own is None else reads | own


def _reads_any(reads: set[str] | None, changed: set[str] | None) -> bool:
    """Whether `reads` meets `changed` (None: every column, on either side)."""
    if reads is None or changed is None:
        return (reads is None or bool(reads)) and (changed is None or bool(changed))
    return bool(reads & changed)


def _to_act(state: RulesState, rule: ir.Rule, event, client, raw: dict, why: dict) -> list[_Act]:
    """What `execute` does for a rule acting at once, as the action forms decide it."""
    known = state.known_for(client.ref)
    if not all(_known(v, known) for v in rule.template_reads):
        raise _Unknown(rule.id)
    _read(state, rule.template_reads, client, raw)  # as execute loads them
    acts = []
    for index, act in enumerate(rule.actions):
        call = _call(state, rule, index, event, client, raw, why)
        if call.key in state.done:
            continue  # done when this trigger was processed before
        form = ACTION_FORMS.get(act.name)
        if form is None or act.tables:
            raise _Unknown(rule.id)  # no set-based form (or parameters from a decision table)
        call.params = filled_params(act, raw)
        decision = form.decide(state.forms[act.name], call)
        if decision is None:
            raise _Unknown(rule.id)
        acts.append(_Act(call, form, decision))
    return acts


def _known(value: ir.Value, known: frozenset[str]) -> bool:
    if value.source == "event":
        return True
    if value.relation is not None:
        return _known(value.relation.left, known) and _known(value.relation.right, known)
    if value.source == "count":
        return base_key(value) in known
    return value.source == "client" and base_key(value) in known  # a key with parameters: a state fact


def _cannot_match(state: RulesState, rule: ir.Rule, known: frozenset[str], values: dict) -> bool:
    """Whether a part of the rule's `if:` conjunction that reads only known values is false."""
    if rule.id not in state.parts:  # once per rule and round (was: for every event)
        parts = rule.condition.items if isinstance(rule.condition, ir.All) else (rule.condition,)
        state.parts[rule.id] = [(part, values_of(part)) for part in parts]
    return any(
        all(_known(v, known) for v in reads) and not py_evaluator.holds(part, values)
        for part, reads in state.parts[rule.id]
    )


def apply(state: RulesState, event, client) -> None:
    """Carry out what `accepts` decided: cancel and start timers (in the state), and leave
    the ruleset version on the event (written with the processed mark, as per event)."""
    if state.loaded is None:
        return
    from engine.rules.runtime import cancelled_outcome

    set_committed_value(event, "ruleset_version", state.loaded.ruleset.version)
    decision = state.decided.pop(id(event))
    for hook, decided in decision.hooks:
        HOOK_FORMS[hook].apply(state.hooks[hook], decided, state.forms)
    pending = state.timers.get(client.ref, [])
    for timer in decision.cancel:
        pending.remove(timer)
        closed = {"status": TIMER_CANCELLED, "closed_at": event.occurred_at, "outcome": cancelled_outcome(event)[:2000]}
        if timer.row is not None:
            timer.row.update(closed)
        else:
            state.cancelled.append({"timer_id": timer.id, **closed})
    for act in decision.acts:
        if act.form.apply(state.forms[act.call.action.name], act.call, act.decision):
            state.quiet.discard(client.ref)  # an event hook may act on its later events
        state.done.add(act.call.key)
        act.row = action_row(act.call, act.call.key, act.call.action, act.call.params, "")
        state.acts.append(act)
    for start in decision.start:
        if start["key"] in state.keys:
            continue  # started before (a replayed or re-sent event): timers.start_delay does nothing
        state.keys.add(start["key"])
        row = _row(start)
        state.new.append(row)
        if start["rule_id"] in state.unless:
            pending.append(_Timer(start["rule_id"], event, row=row))
            state.timers[client.ref] = pending


def _row(start: dict) -> dict:
    """The rule_timers row timers.start_delay would add."""
    return {
        "key": start["key"][:300],
        "kind": DELAY,
        "client_ref": start["client_ref"],
        "rule_id": start["rule_id"],
        "name": None,
        "ruleset_version": start["version"],
        "event_seq": start["event_seq"],
        "due_at": start["due_at"],
        "status": TIMER_PENDING,
        "created_at": utcnow(),
        "closed_at": None,
        "outcome": None,
        "run_at": None,
        "explanation": start["explanation"],
    }


def write(session: Session, state: RulesState) -> None:
    """Insert the new timers in one bulk statement, cancel the others in one executemany;
    the action forms write their effects, then the rule_actions rows go in one bulk insert
    (their results name the rows the forms wrote)."""
    insert_rows(session, RuleTimer, state.new)
    for name, form_state in state.forms.items():
        ACTION_FORMS[name].write(session, form_state)
    for hook, hook_state in state.hooks.items():
        HOOK_FORMS[hook].write(session, hook_state)
    for act in state.acts:
        act.row["result"] = act.form.result(state.forms[act.call.action.name], act.decision)
    insert_rows(session, RuleAction, [act.row for act in state.acts])
    if state.cancelled:
        table = RuleTimer.__table__
        session.execute(
            update(table)
            .where(table.c.id == bindparam("timer_id"), table.c.status == TIMER_PENDING)
            .values(status=bindparam("status"), closed_at=bindparam("closed_at"), outcome=bindparam("outcome")),
            state.cancelled,
        )
        _expire(session, {row["timer_id"] for row in state.cancelled})


def _expire(session: Session, ids: set[int]) -> None:
    """Forget what the session holds of timers changed by the UPDATE (read again if used).
    Looked up by identity (a group's session holds every object it loaded: a scan of them
    all cost more than the UPDATE)."""
    for timer_id in ids:
        obj = session.identity_map.get(identity_key(RuleTimer, timer_id))
        if obj is not None:
            session.expire(obj)
