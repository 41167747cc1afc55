"""Rule errors: compile-time (RulesetInvalid) and run-time (RuleRuntimeError) families."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class RuleError:
    """One problem in a rule file, printed as `file:line: rule-id: message`.

    A warning (`severity="warning"`, printed `file:line: rule-id: warning: message`) does
    not make the ruleset invalid: it is listed with the compiled ruleset, and activating
    needs the warnings accepted explicitly.
    """

    file: str
    line: int
    rule_id: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        label = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}: {self.rule_id}: {label}{self.message}"


class RulesetInvalid(Exception):
    """A ruleset failed validation; `errors` lists every problem found."""

    def __init__(self, errors: list[RuleError]):
        self.errors = sorted(set(errors))
        super().__init__("\n".join(str(e) for e in self.errors))


class RuleRuntimeError(Exception):
    """Evaluating a valid ruleset failed (bad input value, missing fact loader...)."""


class RuleEngineError(RuleRuntimeError):
    """durable-rules refused or failed; never swallowed."""
