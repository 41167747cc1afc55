"""The per-event hot path: read exactly the values an event type's rules need, then match."""

from __future__ import annotations

from typing import Callable, Mapping

from engine.rules import ir, py_evaluator
from engine.rules.durable_evaluator import FACT_IDS, TYPE_KEY, DurableEvaluator
from engine.rules.reading import build_reader


class RuleMatcher:
    """Match events against a compiled ruleset with durable-rules (or the reference evaluator)."""

    def __init__(self, ruleset: ir.Ruleset, *, engine: str = "durable"):
        self.ruleset = ruleset
        self.durable = DurableEvaluator(ruleset) if engine == "durable" else None
        self._readers: dict[str, Callable] = {}

    def reads(self, event_type: str) -> frozenset[ir.Value]:
        """Return every value the conditions of `event_type`'s rules read (facts to load)."""
        return frozenset().union(*(r.reads for r in self.ruleset.rules_for(event_type)))

    def read(self, event: Mapping, facts: Mapping, now: int) -> dict:
        """Flatten `event` and `facts` ({value key: raw}) into comparable values at epoch `now`."""
        event_type = event["type"]
        reader = self._readers.get(event_type)
        if reader is None:
            prefix = {TYPE_KEY: event_type, **(FACT_IDS if self.durable else {})}
            reader = self._readers[event_type] = build_reader(self.reads(event_type), prefix)
        return reader(event, facts, now)

    def match(self, event_type: str, values: dict) -> list[ir.Rule]:
        """Return the rules for `event_type` whose condition holds on `values`, in run order."""
        rules = self.ruleset.rules_for(event_type)
        if not rules:
            return []
        if self.durable is None:
            return [r for r in rules if py_evaluator.holds(r.condition, values)]
        fired = self.durable.fired(values)
        return [r for r in rules if r.id in fired] if fired else []

    def close(self) -> None:
        """Free the durable-rules ruleset."""
        if self.durable is not None:
            self.durable.close()
