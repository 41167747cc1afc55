"""The set-based form of the rules evaluator (engine.processing.batch, issue 20).

`runtime.evaluate_event` for one event: the event hooks (closing rule tasks), cancelling
delay timers whose `unless` holds, arming absence timers, then matching the event's rules
and acting. The set-based path takes an event when it can decide, exactly and from a few
bulk reads for the whole group, everything the per-event path would do, with the same
decision functions (`runtime.unless_holds`, `runtime.delay_timer`, the same matcher and
explanations):
- every event hook has a bulk `quiet` check (engine.rules.actions.HOOK_QUIET) that says
  it leaves this client alone;
- the client's pending delay timers of rules with `unless` are loaded for the group (with
  the events that started them); each event asks each `unless` again, on values known for
  the group, and a timer whose `unless` holds is cancelled (one set-based UPDATE);
- no absence rule is armed by the event's type;
- the same matcher (`loaded.matcher`) decides which rules match, on values read from facts
  known for the whole round (engine.facts.BATCH_FACTS not changed by an event type of the
  round, and facts that are columns of the clients row no set-based form of the round's event types changes). A matching rule with `after:` starts its delay
  timer (a new row, once per key: the group's existing keys are read in one query; the
  rows are written in one bulk insert). A matching rule that acts at once is not taken
  here: the event goes to the per-event path. When a rule reads a fact not known here,
  its condition must be a conjunction with one part, reading only known values, that is
  false (the reference evaluator decides that part, as it does every `unless`);
  otherwise the event goes to the per-event path.
`accepts` decides an event (given the state as the client's earlier events left it) and
keeps the decision; `apply` carries it out on the state; `write` sends the statements.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from engine.bulk import insert_rows
from engine.events.models import Event
from engine.facts import BATCH_FACTS, CHANGED_BY, load_domain_facts
from engine.projections import forms_for
from engine.rules import activation, ir, py_evaluator
from engine.rules.actions import EVENT_HOOKS, HOOK_QUIET, load_domain_actions
from engine.rules.conditions import values_of
from engine.rules.evaluation import FACT_OVERRIDES, explanation
from engine.rules.literals import epoch
from engine.rules.models import DELAY, TIMER_CANCELLED, TIMER_PENDING, RuleTimer
from engine.rules.paths import base_key
from engine.values import utcnow

_CHUNK = 1000  # values per IN (...) of a bulk read


@dataclass
class _Timer:
    """A pending delay timer of a rule with `unless`: in the database (id) or new (row)."""

    rule_id: str
    trigger: Event | None
    id: int | None = None
    row: dict | None = None


@dataclass
class _Decision:
    cancel: list[_Timer]
    start: list[dict]  # runtime.delay_timer(...) of each matching delayed rule


@dataclass
class RulesState:
    loaded: object | None  # activation.Loaded, or None: no active ruleset
    quiet: set[str] = field(default_factory=set)  # clients every hook leaves alone
    facts: dict[str, dict[str, object]] = field(default_factory=dict)  # fact key -> {ref: raw}
    known: frozenset[str] = frozenset()  # fact keys known for the group
    timers: dict[str, list[_Timer]] = field(default_factory=dict)  # ref -> pending, with `unless`
    keys: set[str] = field(default_factory=set)  # delay timer keys that exist (or are new)
    decided: dict[int, _Decision] = field(default_factory=dict)  # id(event) -> what accepts decided
    new: list[dict] = field(default_factory=list)  # rule_timers rows to insert
    cancelled: list[dict] = field(default_factory=list)  # existing timers to cancel


def load(session: Session, clients: dict, events: list) -> RulesState:
    loaded = activation.current(session)
    if loaded is None:
        return RulesState(None)
    load_domain_actions()
    refs = sorted({e.client_ref for e in events})
    quiet, ruleset, types = set(refs), loaded.ruleset, sorted({e.type for e in events})
    for hook in EVENT_HOOKS:
        check = HOOK_QUIET.get(hook)
        quiet &= check(session, refs, ruleset, types) if check is not None else set()
    state = RulesState(loaded, quiet)
    with_unless = [r for r in ruleset.rules if r.unless is not None]
    if with_unless and quiet:
        _load_timers(session, state, sorted(quiet), [r.id for r in with_unless])
    state.keys = _existing_keys(session, ruleset, [e for e in events if e.client_ref in quiet])
    reads = frozenset().union(*(loaded.matcher.reads(t) for t in types), *(values_of(r.unless) for r in with_unless))
    _load_facts(session, state, clients, reads, sorted(quiet), frozenset(types))
    return state


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
    triggers = {}
    for part in _chunks(seqs):
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


def _chunks(items: list) -> list[list]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def _load_facts(
    session: Session, state: RulesState, clients: dict, reads: frozenset, refs: list[str], types: frozenset[str]
) -> None:
    """Load, for the quiet clients, the facts among `reads` that the group can know (the
    round's events, of `types`, leave them as they are)."""
    specs = load_domain_facts()
    changed = _columns_changed(types)
    known = set()
    for value in reads:
        if value.source != "client" or value.params:
            continue
        key, spec = base_key(value), specs.get(value.path)
        if key in state.facts or spec is None:
            continue
        if value.path in BATCH_FACTS:
            if CHANGED_BY.get(value.path, frozenset()) & types:
                continue  # an event of this round changes it: not known for the round
            state.facts[key] = BATCH_FACTS[value.path](session, refs) if refs else {}
        elif spec.column and spec.column not in changed:
            state.facts[key] = {ref: getattr(clients[ref], spec.column) for ref in refs}
        else:
            continue
        known.add(key)
    state.known = frozenset(known)


def _columns_changed(types: frozenset[str]) -> frozenset[str]:
    """The clients-row columns the set-based forms of the round's event types may change
    (a form registered for other types leaves the round's facts alone)."""
    forms = {id(f): f for t in types for f in (forms_for(t) or ())}
    return frozenset().union(*(f.client_columns for f in forms.values()))


def accepts(state: RulesState, event, client) -> bool:
    """Decide the event as runtime.evaluate_event would, or say it cannot (False)."""
    if state.loaded is None:
        return True  # no active ruleset: the evaluator does nothing
    if FACT_OVERRIDES.get() or client.ref not in state.quiet:
        return False
    ruleset = state.loaded.ruleset
    if ruleset.absence_rules_for(event.type):
        return False
    raw: dict = {}  # what the per-event FactLoader holds (explanations show it)
    try:
        cancel = _to_cancel(state, event, client, raw)
        start = _to_start(state, event, client, raw)
    except _Unknown:
        return False
    except Exception:
        return False  # the per-event path raises on this event, and isolates it
    state.decided[id(event)] = _Decision(cancel, start)
    return True


class _Unknown(Exception):
    """A value the decision needs is not known for the group: the per-event path decides."""


def _read(state: RulesState, values, client, raw: dict) -> None:
    """Put the client facts among `values` into `raw`, or raise _Unknown."""
    for value in values:
        if value.source in ("event", "relation"):
            continue
        key = base_key(value)
        if key not in state.known:
            raise _Unknown(key)
        raw[key] = state.facts[key].get(client.ref)


def _to_cancel(state: RulesState, event, client, raw: dict) -> list[_Timer]:
    """The pending timers whose `unless` now holds (runtime.cancel_timers)."""
    from engine.rules.runtime import unless_holds, unless_reads

    ruleset = state.loaded.ruleset
    if not any(r.unless is not None for r in ruleset.rules):
        return []
    found = []
    for timer in state.timers.get(client.ref, ()):
        rule = _rule(ruleset, timer.rule_id)
        if rule is None or rule.unless is None:
            continue
        reads = unless_reads(rule)
        if not all(_known(v, state.known) for v in reads):
            raise _Unknown(rule.id)
        _read(state, reads, client, raw)
        if unless_holds(rule, timer.trigger, raw, event.occurred_at):
            found.append(timer)
    return found


def _to_start(state: RulesState, event, client, raw: dict) -> list[dict]:
    """The delay timers the matching rules start; _Unknown when a rule would act at once."""
    from engine.rules.runtime import delay_timer, envelope

    ruleset, matcher = state.loaded.ruleset, state.loaded.matcher
    rules = ruleset.rules_for(event.type)
    if not rules:
        return []
    reads = matcher.reads(event.type)
    _read(state, [v for v in reads if _known(v, state.known)], client, raw)
    values = matcher.read(envelope(event), raw, epoch(event.occurred_at))
    # A rule reading a value not known here must be decided not to match by a part that
    # reads only known values; every other rule is decided by the matcher, exactly.
    decided = {r.id for r in rules if all(_known(v, state.known) for v in r.reads)}
    if not all(r.id in decided or _cannot_match(r, state.known, values) for r in rules):
        raise _Unknown(event.type)
    start = []
    for rule in (r for r in matcher.match(event.type, values) if r.id in decided):
        if rule.after is None:
            raise _Unknown(rule.id)  # it acts at once: not (yet) in the set-based form
        why = explanation(ruleset, rule, [event], values, raw)
        start.append(delay_timer(ruleset, rule, client.ref, event, why))
    return start


def _rule(ruleset: ir.Ruleset, rule_id: str) -> ir.Rule | None:
    return next((r for r in ruleset.rules if r.id == rule_id), None)


def _known(value: ir.Value, known: frozenset[str]) -> bool:
    if value.source == "event":
        return True
    if value.relation is not None:
        return _known(value.relation.left, known) and _known(value.relation.right, known)
    return value.source == "client" and not value.params and base_key(value) in known


def _cannot_match(rule: ir.Rule, known: frozenset[str], values: dict) -> bool:
    """Whether a part of the rule's `if:` conjunction that reads only known values is false."""
    parts = rule.condition.items if isinstance(rule.condition, ir.All) else (rule.condition,)
    return any(
        all(_known(v, known) for v in values_of(part)) and not py_evaluator.holds(part, values) for part in parts
    )


def apply(state: RulesState, event, client) -> None:
    """Carry out what `accepts` decided: cancel and start timers (in the state), and leave
    the ruleset version on the event (written with the processed mark, as per event)."""
    if state.loaded is None:
        return
    from engine.rules.runtime import cancelled_outcome

    set_committed_value(event, "ruleset_version", state.loaded.ruleset.version)
    decision = state.decided.pop(id(event))
    pending = state.timers.get(client.ref, [])
    for timer in decision.cancel:
        pending.remove(timer)
        closed = {"status": TIMER_CANCELLED, "closed_at": event.occurred_at, "outcome": cancelled_outcome(event)[:2000]}
        if timer.row is not None:
            timer.row.update(closed)
        else:
            state.cancelled.append({"timer_id": timer.id, **closed})
    for start in decision.start:
        if start["key"] in state.keys:
            continue  # started before (a replayed or re-sent event): timers.start_delay does nothing
        state.keys.add(start["key"])
        row = _row(start)
        state.new.append(row)
        if _rule(state.loaded.ruleset, start["rule_id"]).unless is not None:
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
    """Insert the new timers in one bulk statement, cancel the others in one executemany."""
    insert_rows(session, RuleTimer, state.new)
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
    """Forget what the session holds of timers changed by the UPDATE (read again if used)."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, RuleTimer) and obj.id in ids:
            session.expire(obj)
