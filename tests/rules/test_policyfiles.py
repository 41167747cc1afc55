"""The one policy-file reader (engine/rules/policyfiles.py): YAML with lines, errors as Problems,
parsed once per version or per change of the file, used by every domain's policy."""

from __future__ import annotations

import dataclasses
import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from engine.accounts import policy as accounts_policy
from engine.db import unit_of_work
from engine.ib import config as ib_config
from engine.ib.yamlconf import IbConfigError
from engine.kyc import policy as kyc_policy
from engine.notifications import templates
from engine.rules import activation
from engine.rules import api as rules_api
from engine.rules import files as rule_files
from engine.rules.errors import RulesetInvalid
from engine.rules.loader import load_tree
from engine.rules.problems import Problem
from engine.tasks import sla

SHIPPED = Path(__file__).resolve().parents[2] / "rules"


class Counted:
    """A parser that counts its calls: `value: <int>` -> the int."""

    def __init__(self):
        self.calls = 0

    def __call__(self, text: str, file: str) -> int:
        self.calls += 1
        data = rules_api.read_mapping(file, text)
        if not isinstance(data.get("value"), int):
            rules_api.fail(file, data, ("value",), "value must be a whole number", "value")
        return data["value"]


def test_an_error_names_the_file_the_line_of_the_key_and_where():
    with pytest.raises(rules_api.PolicyError) as caught:
        Counted()("# a comment\nother: 1\nvalue: ten\n", "policy/x.yaml")
    assert caught.value.problems == [Problem("policy/x.yaml", 3, "value", "value must be a whole number")]
    assert str(caught.value) == "policy/x.yaml:3: value: value must be a whole number"


def test_yaml_syntax_and_duplicate_keys_are_problems_at_their_line():
    with pytest.raises(rules_api.PolicyError) as caught:
        rules_api.read_mapping("policy/x.yaml", "a: 1\nb: [1, 2\n")
    assert caught.value.problems[0].file == "policy/x.yaml"
    assert "YAML syntax" in caught.value.problems[0].message
    with pytest.raises(rules_api.PolicyError, match=r"policy/x.yaml:3: duplicate key 'a'"):
        rules_api.read_mapping("policy/x.yaml", "a: 1\nb: 2\na: 3\n")


def test_a_folder_file_is_parsed_again_only_when_it_changes(tmp_path):
    parse = Counted()
    policy = rules_api.PolicyFile("policy/x.yaml", parse)
    (tmp_path / "policy").mkdir()
    path = tmp_path / "policy" / "x.yaml"
    path.write_text("value: 1\n")
    assert policy.from_folder(tmp_path) == 1 and policy.from_folder(tmp_path) == 1
    assert parse.calls == 1
    path.write_text("value: 22\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert policy.from_folder(tmp_path) == 22 and parse.calls == 2
    # A sub-folder of a rules tree reads the tree's policy.
    (tmp_path / "onboarding").mkdir()
    assert policy.from_folder(tmp_path / "onboarding") == 22 and parse.calls == 2


def test_a_missing_file_is_an_error_or_the_default(tmp_path):
    with pytest.raises(rules_api.PolicyError, match=r"x.yaml:1: the x policy file is missing"):
        rules_api.PolicyFile("policy/x.yaml", Counted(), missing="the x policy file is missing").from_folder(tmp_path)
    assert rules_api.PolicyFile("policy/x.yaml", Counted(), default=lambda: 7).from_folder(tmp_path) == 7
    # With no policy/ folder at all, the fallback rules tree applies.
    fallback = tmp_path / "repo"
    (fallback / "policy").mkdir(parents=True)
    (fallback / "policy" / "x.yaml").write_text("value: 5\n")
    (tmp_path / "empty").mkdir()
    assert rules_api.PolicyFile("policy/x.yaml", Counted(), fallback=fallback).from_folder(tmp_path / "empty") == 5


def test_a_version_is_parsed_once_and_checked_at_activation():
    parse = Counted()
    policy = rules_api.PolicyFile("policy/x.yaml", parse)
    good = rule_files.of({"policy/x.yaml": "value: 3\n"}, "v-policyfiles-1")
    assert policy.from_files(good) == 3 and policy.from_files(good) == 3 and parse.calls == 1
    bad = rule_files.of({"policy/x.yaml": "value: [3]\n"}, "v-policyfiles-2")
    assert policy.check(bad) == [Problem("policy/x.yaml", 1, "value", "value must be a whole number")]
    assert policy.check(rule_files.of({}, "v-policyfiles-3")) == []


def test_every_domain_policy_reports_the_line_of_the_bad_key():
    """KYC, task queues, templates and IB used their own YAML readers; they now share one."""
    kyc = "required:\n  individual:\n    documents:\n      - id\n      - passport\nreason_codes: {x: y}\n"
    with pytest.raises(kyc_policy.PolicyError) as caught:
        kyc_policy.parse(kyc, "policy/kyc.yaml")
    assert str(caught.value).startswith("policy/kyc.yaml:5: required.individual.documents.1: Must be one of")
    with pytest.raises(kyc_policy.PolicyError, match=r"policy/kyc.yaml:3: duplicate key 'required'"):
        kyc_policy.parse("required: {}\nreason_codes: {x: y}\nrequired: {}\n", "policy/kyc.yaml")

    queues = rule_files.of(
        {"policy/queues.yaml": "business_hours: Mon-Fri 09:00-18:00 UTC\nqueues:\n  finance: Mon-Fri 9-5 UTC\n"}
    )
    [problem] = sla.check_config(queues)
    assert (problem.file, problem.line, problem.where) == ("policy/queues.yaml", 3, "queues.finance")

    template = rule_files.of({"templates/hello.yaml": "subject: Hi\nbody: Hello\ncolour: red\n"})
    [problem] = templates.check_config(template)
    assert (problem.line, problem.message) == (3, "unknown key 'colour' (allowed: subject, body, description)")

    with pytest.raises(IbConfigError) as caught:
        ib_config.parse_texts("policy/ib", {"profiles.yaml": "a: [1\n", "qualification.yaml": "x: 1\n"})
    assert any(p.file == "policy/ib/profiles.yaml" and "YAML syntax" in p.message for p in caught.value.problems)
    assert isinstance(caught.value, rules_api.PolicyError)


def test_the_accounts_own_their_inactivity_policy(database, tmp_path):
    tree = tmp_path / "rules"
    shutil.copytree(SHIPPED, tree)
    database.config = dataclasses.replace(database.config, rules_dir=str(tree))
    activation.forget()
    try:
        with unit_of_work(database) as s:
            activation.activate_files(s, load_tree(tree), actor="test")
        with unit_of_work(database) as s:
            assert accounts_policy.inactive_after(s) == timedelta(days=30)
        path = tree / "policy" / "accounts.yaml"
        path.write_text(path.read_text().replace("inactive_after: 30d", "inactive_after: soon"))
        with pytest.raises(RulesetInvalid) as caught, unit_of_work(database) as s:
            activation.activate_files(s, load_tree(tree), actor="test")
        assert any(
            str(e).startswith("policy/accounts.yaml:3: -: inactive_after: not a duration") for e in caught.value.errors
        ), caught.value.errors
    finally:
        activation.forget()
