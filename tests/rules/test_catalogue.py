"""The facts catalogue (`fxcrm rules facts`, docs/rules.md) is generated from the registered facts."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from engine.facts import load_domain_facts, subject_facts
from engine.rules import catalogue
from engine.rules.cli import rules

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def test_docs_hold_the_catalogue_as_generated_from_the_code():
    page = DOCS.read_text(encoding="utf-8")
    assert catalogue.replace_section(page) == page, (
        "docs/rules.md's facts catalogue is out of date: run `python -m engine.rules.catalogue --markdown --write`"
    )


def test_every_registered_fact_is_documented_with_meaning_and_cost():
    page = DOCS.read_text(encoding="utf-8")
    section = page[page.index(catalogue.BEGIN) : page.index(catalogue.END)]
    for name, spec in load_domain_facts().items():
        assert f"| `client.{name}` |" in section
        assert spec.doc.strip(), f"client.{name} has no docstring to show as its meaning"
        assert spec.cost


def test_cli_lists_the_facts_as_text_and_json():
    result = CliRunner().invoke(rules, ["facts", "--json"])
    assert result.exit_code == 0, result.output
    listed = {e["name"]: e for e in json.loads(result.output)}
    assert set(listed) == {f"client.{n}" for n in load_domain_facts()} | {
        f"{kind}.{n}" for kind, found in subject_facts().items() for n in found
    }
    assert listed["staff.role"]["kind"].startswith("enum: admin, compliance")  # a staff member's facts too
    assert listed["client.deposits.completed.sum"] == {
        "name": "client.deposits.completed.sum",
        "kind": "money",
        "meaning": "The sum of completed deposits in one currency (default: the base currency).",
        "parameters": "currency (currency)",
        "cost": "one query on the client's rows",
    }
    text = CliRunner().invoke(rules, ["facts"]).output
    assert "client.kyc.status  [enum: not_started, pending, approved, rejected, retry, on_hold]" in text
    assert "sum(<type>.<field> within D where ...)" in text
