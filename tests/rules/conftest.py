"""Fixtures for the rule language tests: a fact registry with test-only facts."""

from __future__ import annotations

import textwrap

import pytest

from engine.facts import FactSpec, load_domain_facts
from engine.rules.compiler import compile_ruleset


def _loader(session, client, **params):
    raise AssertionError("test facts are given as values, never loaded")


TEST_FACTS = {
    name: FactSpec(name, kind, _loader, tuple(choices), dict(params))
    for name, kind, choices, params in [
        ("ib", "string", (), {}),
        ("deposits.completed.count", "integer", (), {}),
        ("deposits.completed.sum", "money", (), {}),
        ("accounts.count", "integer", (), {}),
        ("trades.lots", "decimal", (), {"held_at_least": "duration"}),
        ("tags", "list", (), {}),
        ("email", "string", (), {}),
        ("balance", "decimal", (), {}),
    ]
}


def all_facts() -> dict:
    """Return the registered domain facts plus the test-only ones."""
    return {**load_domain_facts(), **TEST_FACTS}


@pytest.fixture
def facts():
    return all_facts()


def one_rule_errors(rule: str) -> list[str]:
    """Compile a ruleset of one rule `r1` (its lines `rule`, then a sales task) that must be
    invalid; return its errors without the file name."""
    from engine.rules.errors import RulesetInvalid

    text = (
        f"ruleset: b\ndescription: d\nrules:\n  - id: r1\n    description: d\n    {rule}\n"
        f"    then: [{{task: {{queue: sales, title: t}}}}]\n"
    )
    with pytest.raises(RulesetInvalid) as info:
        compile_text(text)
    return [str(e).split(":", 1)[1].strip() for e in info.value.errors]


def compile_text(text: str, file: str = "rules.yaml", **more_files):
    """Compile one rule file given as (dedented) text, plus optional other files."""
    files = {file: textwrap.dedent(text)}
    files.update({k.replace("__", "/") + ".yaml": textwrap.dedent(v) for k, v in more_files.items()})
    return compile_ruleset(files, facts=all_facts())
