"""Rule errors: compile-time (RulesetInvalid) and run-time (RuleRuntimeError) families."""

from __future__ import annotations

from dataclasses import dataclass

from engine.rules.problems import Problem


@dataclass(frozen=True, order=True)
class RuleError(Problem):
    """One problem in a rule file, printed as `file:line: rule-id: message`: the one problem
    type (engine.rules.problems.Problem) with the rule id (`-` outside a rule) as `where`.

    A warning (`severity="warning"`, printed `file:line: rule-id: warning: message`) does
    not make the ruleset invalid: it is listed with the compiled ruleset, and activating
    needs the warnings accepted explicitly.
    """

    @property
    def rule_id(self) -> str:
        return self.where

    def __str__(self) -> str:
        label = "warning: " if self.severity == "warning" else ""
        hint = f" ({self.suggestion})" if self.suggestion else ""
        return f"{self.file}:{self.line}: {self.where}: {label}{self.message}{hint}"


class RulesetInvalid(Exception):
    """A ruleset failed validation; `errors` lists every problem found."""

    def __init__(self, errors: list[RuleError]):
        self.errors = sorted(set(errors))
        super().__init__("\n".join(str(e) for e in self.errors))


class RuleRuntimeError(Exception):
    """Evaluating a valid ruleset failed (bad input value, missing fact loader...)."""


class RuleEngineError(RuleRuntimeError):
    """durable-rules refused or failed; never swallowed."""
