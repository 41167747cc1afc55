"""The intermediate form of a compiled ruleset: plain frozen dataclasses, no behaviour.

Both evaluators (py_evaluator, durable_evaluator) read only this. Condition leaves
compare a `Value` (named by its flat `key`) with an operand already in comparable
form: numbers and money as integer units of 10^-8, times as epoch seconds, text
as str, flags as bool. A value that is absent (missing, or None) makes every
comparison on it false; only `Exists` (and `Not`) can be true for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace  # noqa: F401  (replace re-exported)
from functools import cached_property
from typing import Union

Operand = Union[int, str, bool]
OPS = ("==", "!=", "<", "<=", ">", ">=")


@dataclass(frozen=True)
class Filter:
    """One `where` test of an aggregate on a field of the counted events (done in SQL)."""

    field: str
    kind: str  # "number" (operand in units of 10^-8) or "text"
    op: str  # ==, !=, <, <=, >, >=, in
    operand: object  # int units, str, or a tuple of them for `in`
    currency: str = ""  # money filters: the amount counts only in this currency


@dataclass(frozen=True)
class Aggregate:
    """`fn(type.field within D where ...)`: computed with one SQL aggregate over events."""

    fn: str  # count, sum, min, max, avg
    event_type: str
    field: str = ""  # "" for count
    window: int | None = None  # seconds; the window is [at - window, at], both ends included
    filters: tuple[Filter, ...] = ()
    currency: str = ""  # money aggregates: the one currency they add up


@dataclass(frozen=True)
class Relation:
    """`left op factor * right`: two values compared with each other (computed by the reader)."""

    left: "Value"
    op: str
    right: "Value"
    factor: int = 100_000_000  # units of 10^-8 (1 by default)
    kind: str = "number"  # number, money, time, text, bool


@dataclass(frozen=True)
class Value:
    """A value a condition reads: an event field, a client fact, or an event count."""

    key: str  # flat key, unique per meaning: "event.amount", "client.kyc.status"
    source: str  # "event" | "client" | "count"
    path: str  # field name, fact name, or (count) the event type counted
    kind: str  # kind of the comparable form: number, text, bool, time, seconds
    derive: str = ""  # "", "currency", "age", "has", "contains", "starts_with", "ends_with", "matches"
    arg: str = ""  # argument of the derivation (the text or label)
    params: tuple[tuple[str, str], ...] = ()  # fact parameters, e.g. (("held_at_least", "60s"),)
    window: int | None = None  # count window in seconds (None: all time)
    unit: str = ""  # source kind before conversion: amount, money, decimal, integer, datetime...
    aggregate: Aggregate | None = None  # source "count": what the SQL aggregate computes
    relation: Relation | None = None  # derive "relation": the comparison of two values
    table: "Table | None" = None  # source "table": the decision table an output comes from


@dataclass(frozen=True)
class TableRow:
    """One row of a decision table: when its input cells hold, its outputs."""

    line: int
    when: "Cond"  # the input cells (TRUE: any client)
    outputs: tuple[tuple[str, object], ...]  # (column, Money | Decimal | str | bool)


@dataclass(frozen=True)
class Table:
    """A decision table of `definitions.tables`: rows of input tests and outputs."""

    name: str
    hit: str  # first: the first row that holds; collect: every one
    inputs: tuple[Value, ...]  # the values the input cells test (client facts)
    outputs: tuple[tuple[str, str], ...]  # (column, unit: money, decimal, string, boolean)
    rows: tuple[TableRow, ...]
    default: bool = False  # a row without input cells: every client matches one


@dataclass(frozen=True)
class Compare:
    value: Value
    op: str
    operand: Operand
    text: str = ""  # the condition as written, for explanations


@dataclass(frozen=True)
class MoneyCompare:
    """`amount op N CUR`: true only when the amount's currency is CUR."""

    value: Value
    currency: Value
    op: str
    operand: int
    code: str
    text: str = ""


@dataclass(frozen=True)
class OneOf:
    value: Value
    options: tuple[Operand, ...]
    text: str = ""


@dataclass(frozen=True)
class Exists:
    value: Value
    text: str = ""


@dataclass(frozen=True)
class All:
    items: tuple["Cond", ...]


@dataclass(frozen=True)
class Any:
    items: tuple["Cond", ...]


@dataclass(frozen=True)
class Not:
    item: "Cond"


Cond = Union[Compare, MoneyCompare, OneOf, Exists, All, Any, Not]
TRUE = All(())


@dataclass(frozen=True)
class Action:
    """One action of a rule: its registered name and its loaded parameters."""

    name: str
    params: tuple[tuple[str, object], ...]  # sorted (name, value) pairs, JSON-like values
    line: int = 0
    tables: tuple[tuple[str, str], ...] = ()  # (parameter, table output key): taken from a decision table

    def param(self, name: str, default=None):
        return dict(self.params).get(name, default)


@dataclass(frozen=True)
class Absence:
    """`absent: {events: [...], for: D}`: the rule acts after D without any of `events`."""

    events: tuple[str, ...]  # each restarts the silence
    seconds: int  # how long the silence must last
    since: tuple[str, ...] = ()  # also start it when none is running (never restart it)


@dataclass(frozen=True)
class Schedule:
    """`schedule: daily at 06:00 [Zone]`: the rule sweeps the clients once a day."""

    at: str = "00:00"  # time of day, HH:MM
    zone: str = "UTC"  # an IANA time zone name


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    ruleset: str
    file: str
    line: int
    events: tuple[str, ...]  # event types the rule reacts to
    condition: Cond
    actions: tuple[Action, ...]
    priority: int = 0  # higher runs first; ties in file order
    after: int | None = None  # delay in seconds (a durable timer)
    unless: Cond | None = None  # cancels the pending timer when it becomes true
    reads: frozenset[Value] = frozenset()  # values `condition` and `unless` read
    template_reads: frozenset[Value] = frozenset()  # values the actions' templates show
    aggregates: frozenset[Value] = frozenset()  # counts the runtime computes
    absent: Absence | None = None  # an absence rule: acts on silence, not on an event
    schedule: Schedule | None = None  # a scheduled rule: sweeps the clients


@dataclass(frozen=True)
class RuleTest:
    name: str
    ruleset: str  # the ruleset whose rules the test runs
    file: str
    line: int
    given: tuple[tuple[str, object], ...]
    start: str | None
    steps: tuple[tuple[tuple[str, object], ...], ...]
    expect: tuple[tuple[str, object], ...]
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ruleset:
    version: str  # sha256 of sorted relative paths and contents
    files: tuple[str, ...]
    rules: tuple[Rule, ...]
    names: tuple[str, ...] = ()  # the ruleset names declared in the files
    conditions: tuple[tuple[str, Cond], ...] = ()  # named conditions (definitions)
    tests: tuple[RuleTest, ...] = ()
    by_event: dict = field(default_factory=dict, compare=False, hash=False)
    # what the checks found suspicious but not wrong (errors.RuleError, severity warning)
    warnings: tuple = field(default=(), compare=False, hash=False)

    @cached_property
    def _arming(self) -> dict[str, tuple[Rule, ...]]:
        found: dict[str, list[Rule]] = {}
        for rule in self.rules:
            if rule.absent is not None:
                for event_type in dict.fromkeys(rule.absent.events + rule.absent.since):
                    found.setdefault(event_type, []).append(rule)
        return {t: tuple(rs) for t, rs in found.items()}

    def absence_rules_for(self, event_type: str) -> tuple[Rule, ...]:
        """Return the absence rules an event of `event_type` starts or restarts."""
        return self._arming.get(event_type, ())

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)

    def rules_for(self, event_type: str) -> tuple[Rule, ...]:
        """Return the rules that react to `event_type`, highest priority first."""
        return self.by_event.get(event_type, ())
