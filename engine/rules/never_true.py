"""Find conditions that can never hold: contradictory tests of one value within an `all`.

Only what is certain is reported. The leaves of an `all` (a list, `all:`, `between`,
a named condition used in one) are read as constraints on their value:
`x == 5` pins it, `x in [..]` allows a set, `x != 5` / `not: x in [..]` exclude values,
`<`, `<=`, `>`, `>=` bound it, `exists` / `missing` require or forbid it. Values are
exact integers in the IR (units of 10^-8, epoch seconds), so `x > 5` is `x >= 5 + 1 unit`.
A money comparison holds only in its currency: it also pins the currency value.
`any:` and the operands of `not:` (other than the forms above) are not analysed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.rules import ir


@dataclass
class Domain:
    """What the leaves seen so far allow one value to be."""

    lo: int | None = None
    hi: int | None = None
    allowed: set[object] | None = None  # None: any value
    excluded: set[object] = field(default_factory=set)
    present: bool = False  # a comparison that is false on a missing value
    absent: bool = False  # `missing`

    def possible(self) -> bool:
        if self.present and self.absent:
            return False
        if self.lo is not None and self.hi is not None and self.lo > self.hi:
            return False
        if self.allowed is not None:
            return any(self._fits(v) for v in self.allowed)
        return True

    def _fits(self, value: object) -> bool:
        if value in self.excluded:
            return False
        if isinstance(value, int) and not isinstance(value, bool):
            return (self.lo is None or value >= self.lo) and (self.hi is None or value <= self.hi)
        return True

    def merged(self, other: "Domain") -> "Domain":
        """The values both allow."""
        both = Domain(
            excluded=self.excluded | other.excluded,
            present=self.present or other.present,
            absent=self.absent or other.absent,
        )
        both.lo = max((b for b in (self.lo, other.lo) if b is not None), default=None)
        both.hi = min((b for b in (self.hi, other.hi) if b is not None), default=None)
        sets = [s for s in (self.allowed, other.allowed) if s is not None]
        both.allowed = set.intersection(*sets) if sets else None
        return both

    def add(self, op: str, operand: object) -> None:
        """Add `value op operand` (op ==, !=, <, <=, >, >=, in, not in, exists, missing)."""
        if op == "exists":
            self.present = True
        elif op == "missing":
            self.absent = True
        elif op in ("==", "in"):
            options = _options(operand) if op == "in" else {operand}
            self.allowed = options if self.allowed is None else self.allowed & options
            self.present = True
        elif op in ("!=", "not in"):
            self.excluded |= _options(operand) if op == "not in" else {operand}
        elif isinstance(operand, int) and not isinstance(operand, bool):
            self.present = True
            if op in (">", ">="):
                bound = operand + (op == ">")
                self.lo = bound if self.lo is None else max(self.lo, bound)
            else:
                bound = operand - (op == "<")
                self.hi = bound if self.hi is None else min(self.hi, bound)


def _options(operand: object) -> set[object]:
    """The options of an `in` / `not in` constraint (a OneOf's options)."""
    if not isinstance(operand, Iterable):
        raise TypeError(f"the options of `in` are not a list: {operand!r}")
    return set(operand)


def _constraints(cond: ir.Cond) -> list[tuple[str, str, object]]:
    """Return (value key, op, operand) the leaf `cond` imposes; [] when it is not analysed."""
    if isinstance(cond, ir.Compare) and cond.op in ir.OPS:
        return [(cond.value.key, cond.op, cond.operand)]
    if isinstance(cond, ir.OneOf):
        return [(cond.value.key, "in", cond.options)]
    if isinstance(cond, ir.Exists):
        return [(cond.value.key, "exists", None)]
    if isinstance(cond, ir.MoneyCompare) and cond.op != "!=":
        # an event amount's currency is the event's `currency` field (engine.rules.reading)
        currency = "event.currency" if cond.currency.source == "event" else cond.currency.key
        return [(currency, "==", cond.code), (f"{cond.value.key} in {cond.code}", cond.op, cond.operand)]
    if isinstance(cond, ir.Not):
        inner = cond.item
        if isinstance(inner, ir.Exists):
            return [(inner.value.key, "missing", None)]
        if isinstance(inner, ir.OneOf):
            return [(inner.value.key, "not in", inner.options)]
        if isinstance(inner, ir.Compare) and inner.op == "==":  # `not: x == 5` is `x != 5`
            return [(inner.value.key, "!=", inner.operand)]
    return []


def _text(cond: ir.Cond) -> str:
    if isinstance(cond, ir.Not):  # `x missing`, `x not in [..]`, `x != y` are written so
        inner = _text(cond.item)
        return inner if any(w in inner for w in (" missing", " not in ", "!=")) else f"not: {inner}"
    return getattr(cond, "text", "") or "?"


def leaves(parts: list[tuple[int, ir.Cond]]) -> list[tuple[int, ir.Cond]]:
    """Flatten nested `all`s into their leaves, each with the line it was written on."""
    flat: list[tuple[int, ir.Cond]] = []
    for line, cond in parts:
        if isinstance(cond, ir.All):
            flat.extend(leaves([(line, item) for item in cond.items]))
        else:
            flat.append((line, cond))
    return flat


def domains(conds: list[ir.Cond]) -> dict[str, Domain]:
    """What the `all` of `conds` allows each value it tests to be."""
    found: dict[str, Domain] = {}
    for cond in conds:
        for key, op, operand in _constraints(cond):
            found.setdefault(key, Domain()).add(op, operand)
    return found


def _impossible(conds: list[ir.Cond]) -> bool:
    return any(not d.possible() for d in domains(conds).values())


def compatible(a: dict[str, Domain], b: dict[str, Domain]) -> bool:
    """Whether two conditions' domains (`domains(...)`) can hold at once."""
    return all(a[key].merged(b[key]).possible() for key in a.keys() & b.keys())


def contradiction(parts: list[tuple[int, ir.Cond]]) -> tuple[int, str] | None:
    """Return (line, message) when the `all` of `parts` can never hold, else None.

    The message names the two leaves that exclude each other (or every leaf of the value
    when no two alone do); the line is that of the later one.
    """
    seen: list[tuple[int, ir.Cond]] = []
    for line, cond in leaves(parts):
        if not _constraints(cond):
            continue
        if _impossible([c for _, c in seen] + [cond]):
            if _impossible([cond]):
                culprits = [cond]
            else:
                culprits = next(([c, cond] for _, c in seen if _impossible([c, cond])), [c for _, c in seen] + [cond])
            texts = list(dict.fromkeys(_text(c) for c in culprits))
            what = " and ".join(f"`{t}`" for t in texts)
            if len(texts) == 1:
                return line, f"never true: {what} holds for no value"
            both = "both" if len(texts) == 2 else "all"
            return line, f"never true: {what} cannot {both} hold (use any: if either will do)"
        seen.append((line, cond))
    return None
