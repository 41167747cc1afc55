"""What the domains may ask of the rules engine, in one module: the active ruleset, its
policy/ and templates/ files (a policy file is read through `PolicyFile`: YAML with lines,
errors as `Problem`s, parsed once per version), and running one rule again for a past event.

Domains import this module (and the `engine.rules.actions` registry) only, never the
runtime, the activation or the evaluators behind it (an import contract keeps it so):
the rules engine can change inside without touching a domain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from engine.rules.policyfiles import (
    PolicyError,
    PolicyFile,
    configured_rules_dir,
    fail,
    locate,
    per_version,
    problem_at,
    read_document,
    read_mapping,
    stamp,
    version_files,
)
from engine.rules.yaml_lines import LineDict, LineList, line_at, line_of

if TYPE_CHECKING:  # for annotations: a rule acting (an action's `run`), its record, a version's files
    from engine.rules.actions_run import Run as Run
    from engine.rules.files import RuleFiles as RuleFiles
    from engine.rules.models import RuleAction as RuleAction

__all__ = [
    "LineDict",
    "LineList",
    "PolicyError",
    "PolicyFile",
    "configured_rules_dir",
    "fail",
    "line_at",
    "line_of",
    "locate",
    "per_version",
    "problem_at",
    "read_document",
    "read_mapping",
    "stamp",
    "version_files",
]


def active_ruleset(session: Session) -> Any | None:
    """Return the active ruleset (`engine.rules.ir.Ruleset`), or None when none is active."""
    from engine.rules import activation

    loaded = activation.current(session)
    return loaded.ruleset if loaded is not None else None


def rule_files(session: Session) -> Any | None:
    """Return the active version's policy/ and templates/ files (`engine.rules.files.RuleFiles`,
    read from the database once per version), or None when the configured folder applies."""
    from engine.rules import files

    return files.active(session)


def given_fact(name: str) -> Any:
    """Return the value a rule test states for fact `name` (`given: {client: {ib: IB-7}}`), or None."""
    from engine.rules.evaluation import FACT_OVERRIDES

    return FACT_OVERRIDES.get().get(f"client.{name}")


def fact_loader(session: Session, client: Any, at: Any) -> Any:
    """Return the loader of the client's facts as of `at` (shared by the rules run for one event)."""
    from engine.rules.evaluation import FactLoader

    return FactLoader(session, client, at)


def run_rule_for_past_event(
    session: Session, ruleset: Any, rule: Any, client: Any, event: Any, facts: Any, **why: Any
) -> bool:
    """Run `rule` for an event processed earlier if its condition holds now; return whether it acted.

    `facts` comes from fact_loader(); `why` adds to the explanation (e.g. caught_up=...).
    """
    from engine.rules import py_evaluator
    from engine.rules.evaluation import explanation
    from engine.rules.runtime import act_on_event, read_values

    values = read_values(rule.reads, event, facts)
    if not py_evaluator.holds(rule.condition, values):
        return False
    act_on_event(
        session, ruleset, rule, client, event, facts, explanation(ruleset, rule, [event], values, facts.raw, **why)
    )
    return True


def condition_holds(condition: Any, facts: Any) -> bool:
    """Return whether a named condition of the active ruleset holds with `facts` (a FactLoader)."""
    from engine.rules import py_evaluator
    from engine.rules.conditions import values_of
    from engine.rules.runtime import read_values

    return py_evaluator.holds(condition, read_values(values_of(condition), None, facts))
