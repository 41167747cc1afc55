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
    assert {t.ruleset for t in tests} >= {
        "worked-examples",
        "worked-kyc-deposit",
        "worked-dormant",
        "worked-dormant-sweep",
        "worked-cpa",
        "worked-expiry",
    }
    assert len(tests) >= 25
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


def _rule_text(path: Path, rule_id: str) -> str:
    """Return the YAML of one rule as its example file writes it (up to the next rule or key)."""
    lines = path.read_text().splitlines()
    start = lines.index(f"  - id: {rule_id}")
    end = next(
        (
            i
            for i in range(start + 1, len(lines))
            if lines[i].startswith("  - id:") or (lines[i] and not lines[i].startswith(" "))
        ),
        len(lines),
    )
    return "\n".join(lines[start:end]).rstrip() + "\n"


@pytest.mark.parametrize(
    "file,rule_id",
    [
        ("worked_kyc_deposit.yaml", "large-deposit-before-kyc"),
        ("worked_dormant.yaml", "no-trade-for-90-days"),
        ("worked_dormant_sweep.yaml", "dormant-funded-clients"),
        ("worked_cpa.yaml", "cpa-500-usd-2-lots"),
        ("worked_expiry.yaml", "document-expires-in-30-days"),
    ],
)
def test_docs_show_each_worked_example_as_its_file_writes_it(file, rule_id):
    _compiled()[0].rule(rule_id)  # it compiles, and its tests run above
    assert _rule_text(EXAMPLES / file, rule_id) in DOCS.read_text()
