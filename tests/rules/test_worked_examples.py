"""The worked examples of docs/rules.md (tests/rules/examples/worked*.yaml) pass their rule tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.rules import ruletests_run
from engine.rules.compiler import compile_ruleset
from engine.rules.loader import load_dir

EXAMPLES = Path(__file__).parent / "examples"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
POLICIES = Path(__file__).resolve().parents[2] / "rules"  # the domain policies the events need


def _compiled():
    files = load_dir(EXAMPLES)
    return compile_ruleset(files), files


def test_worked_example_rule_tests_pass():
    ruleset, files = _compiled()
    tests = [t for t in ruleset.tests if t.file.startswith("worked")]
    assert len(tests) >= 6
    results = [ruletests_run.run_one(t, files, str(POLICIES)) for t in tests]
    failed = [line for r in results for line in ruletests_run.describe(r) if not line.endswith(": ok")]
    assert failed == []


@pytest.mark.parametrize("rule_id", ["withdrawal-soon-after-deposit", "three-failed-deposits-in-an-hour"])
def test_docs_show_the_worked_example_as_tested(rule_id):
    ruleset, _ = _compiled()
    rule = ruleset.rule(rule_id)
    docs = DOCS.read_text()
    assert f"id: {rule_id}" in docs
    for condition in getattr(rule.condition, "items", None) or (rule.condition,):
        assert f"- {condition.text}\n" in docs
