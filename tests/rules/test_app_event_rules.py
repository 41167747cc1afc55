"""Rules reacting to the events fxcrm records itself, and the `score` action (rule tests in
tests/rules/app_events, run against the repository's policy files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.rules import ruletests_run
from engine.rules.compiler import compile_ruleset
from engine.rules.loader import load_tree

EXAMPLE = Path(__file__).resolve().parent / "app_events"
RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


def _compiled():
    files = load_tree(str(EXAMPLE))
    return compile_ruleset(files), files


TESTS = [t.name for t in _compiled()[0].tests]


@pytest.mark.parametrize("name", TESTS)
def test_app_event_rule_tests_pass(name):
    ruleset, files = _compiled()
    (test,) = [t for t in ruleset.tests if t.name == name]
    result = ruletests_run.run_one(test, files, str(RULES_DIR))
    failed = [line for line in ruletests_run.describe(result) if not line.endswith(": ok")]
    assert failed == []
