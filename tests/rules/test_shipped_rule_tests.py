"""Every YAML rule test shipped beside the rules in rules/ passes (so `make test` fails when one fails).

The tree is compiled once; each test file is a test case, so a failure names the file and
xdist can spread the files over workers.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest

from engine.rules import ruletests_run
from engine.rules.compiler import compile_ruleset
from engine.rules.loader import load_tree

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


@lru_cache(maxsize=1)
def _compiled():
    files = load_tree(str(RULES_DIR))
    return compile_ruleset(files), files


# Tests sit in `x.test.yaml` beside the rules or in a `tests:` section of the rule file.
TEST_FILES = sorted({t.file for t in _compiled()[0].tests})
RULE_FOLDERS = sorted({p.parent.name for p in RULES_DIR.glob("*/*.yaml")} - {"policy", "templates"})


def test_every_shipped_ruleset_folder_has_rule_tests():
    assert RULE_FOLDERS and {Path(f).parts[0] for f in TEST_FILES} == set(RULE_FOLDERS)


@pytest.mark.parametrize("test_file", TEST_FILES)
def test_shipped_rule_tests_pass(test_file):
    ruleset, files = _compiled()
    tests = [t for t in ruleset.tests if t.file == test_file]
    assert tests, f"{test_file}: no rule tests were compiled from it"
    results = [ruletests_run.run_one(t, files, str(RULES_DIR)) for t in tests]
    failed = [line for r in results for line in ruletests_run.describe(r) if not line.endswith(": ok")]
    assert failed == []
