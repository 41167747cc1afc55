"""Policies and notification templates are part of a ruleset version: edits count once activated."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.accounts import policy as accounts_policy
from engine.clients.models import Client
from engine.db import unit_of_work
from engine.events import store
from engine.ib import service as ib_service
from engine.kyc import policy as kyc_policy
from engine.notifications import service as notifications
from engine.rules import activation, ruletests_run
from engine.rules import files as rule_files
from engine.rules.compiler import compile_ruleset
from engine.rules.errors import RulesetInvalid
from engine.rules.loader import load_dir, load_tree
from engine.rules.problems import Problem

SHIPPED = Path(__file__).resolve().parents[2] / "rules"
KYC = "policy/kyc.yaml"
NEEDED = "documents: [id, proof_of_address]"


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "rules"
    shutil.copytree(SHIPPED, root)
    return root


@pytest.fixture
def db(database, tree):
    """The test database, configured to read the copied rules tree."""
    database.config = dataclasses.replace(database.config, rules_dir=str(tree))
    activation.forget()
    yield database
    activation.forget()


def _edit(tree: Path, relative: str, old: str, new: str) -> None:
    path = tree / relative
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _activate(db, tree) -> str:
    with unit_of_work(db) as s:
        return activation.activate_files(s, load_tree(tree), actor="test").version


def _required(db) -> list[str]:
    with unit_of_work(db) as s:
        return kyc_policy.for_session(s).documents_for("individual", "DE")


def test_the_configuration_counts_towards_the_version_but_is_not_compiled(tree):
    files = load_tree(tree)
    assert KYC in files and "templates/kyc-approved.yaml" in files
    assert "policy/ib/profiles.yaml" in files
    ruleset = compile_ruleset(files)
    assert not any(f.startswith(("policy/", "templates/")) for f in ruleset.files)
    _edit(tree, KYC, NEEDED, "documents: [id, proof_of_address, selfie]")
    edited = compile_ruleset(load_tree(tree))
    assert edited.version != ruleset.version and edited.rules == ruleset.rules
    # A sub-folder run takes the configuration of the tree it is in.
    assert KYC in load_tree(tree / "onboarding") and KYC not in load_dir(tree)


def test_a_policy_edit_applies_only_once_activated(db, tree):
    _activate(db, tree)
    assert _required(db) == ["id", "proof_of_address"]
    _edit(tree, KYC, NEEDED, "documents: [id, proof_of_address, selfie]")
    assert _required(db) == ["id", "proof_of_address"]  # the active version's policy
    _activate(db, tree)
    assert _required(db) == ["id", "proof_of_address", "selfie"]
    with unit_of_work(db) as s:
        activation.rollback(s, actor="test")
    assert _required(db) == ["id", "proof_of_address"]  # a rollback takes its policy back


def test_withdrawal_and_account_policies_follow_the_version(db, tree):
    _activate(db, tree)
    _edit(tree, "policy/accounts.yaml", "inactive_after: 30d", "inactive_after: 7d")
    with unit_of_work(db) as s:
        assert accounts_policy.inactive_after(s) == timedelta(days=30)
    _activate(db, tree)
    with unit_of_work(db) as s:
        assert accounts_policy.inactive_after(s) == timedelta(days=7)


def test_templates_follow_the_version(db, tree):
    _activate(db, tree)
    _edit(tree, "templates/kyc-approved.yaml", "subject: ", "subject: EDITED ")
    with unit_of_work(db) as s:
        store.ensure_clients(s, {"C-1"})
    with unit_of_work(db) as s:
        client = s.scalar(select(Client).where(Client.ref == "C-1"))
        first = notifications.send(s, client=client, template="kyc-approved").subject
    _activate(db, tree)
    with unit_of_work(db) as s:
        client = s.scalar(select(Client).where(Client.ref == "C-1"))
        second = notifications.send(s, client=client, template="kyc-approved").subject
    assert not first.startswith("EDITED") and second.startswith("EDITED")


def test_a_version_stored_without_configuration_reads_the_rules_directory(db, tree):
    rules_only = load_dir(tree)
    with unit_of_work(db) as s:
        activation.activate_files(s, rules_only, actor="test")
    assert _required(db) == ["id", "proof_of_address"]
    _edit(tree, KYC, NEEDED, "documents: [id]")
    assert _required(db) == ["id"]


@pytest.mark.parametrize(
    "relative,old,new,where",
    [
        (KYC, NEEDED, "documents: [id, passport]", "policy/kyc.yaml:8: -: required.individual.documents"),
        ("policy/withdrawals.yaml", "chain:", "chains:", "policy/withdrawals.yaml:"),
        ("policy/ib/profiles.yaml", "commission_profiles:", "commission_profile:", "policy/ib/profiles.yaml:"),
        ("templates/kyc-approved.yaml", "body:", "bod:", "templates/kyc-approved.yaml:"),
    ],
)
def test_broken_configuration_is_refused_at_activation(db, tree, relative, old, new, where):
    good = _activate(db, tree)
    _edit(tree, relative, old, new)
    with pytest.raises(RulesetInvalid) as caught:
        _activate(db, tree)
    assert any(str(e).startswith(where) for e in caught.value.errors), caught.value.errors
    with unit_of_work(db) as s:
        assert activation.active(s).version == good  # the active version keeps running


def test_activation_and_its_readers_write_no_folder(db, tree, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a temporary folder was made")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    monkeypatch.setattr(tempfile, "TemporaryDirectory", refuse)
    _edit(tree, KYC, NEEDED, "documents: [id, selfie]")
    _activate(db, tree)
    assert _required(db) == ["id", "selfie"]
    with unit_of_work(db) as s:
        assert accounts_policy.inactive_after(s) == timedelta(days=30)
        assert ib_service.config_for(s).default_profile
        store.ensure_clients(s, {"C-1"})
    with unit_of_work(db) as s:
        client = s.scalar(select(Client).where(Client.ref == "C-1"))
        assert notifications.send(s, client=client, template="kyc-approved").body
    files = load_tree(tree)
    ruleset = activation.validate(files)
    assert ruleset.tests and ruletests_run.run_one(ruleset.tests[0], files, str(tree)).passed


def test_a_broken_policy_is_reported_as_a_problem_with_file_and_line(tree):
    _edit(tree, KYC, NEEDED, "documents: [id, passport]")
    problems = kyc_policy.check_config(rule_files.of(load_tree(tree)))
    assert [(p.file, p.line, p.where) for p in problems] == [(KYC, 8, "required.individual.documents.1")]
    assert isinstance(problems[0], Problem) and problems[0].message.startswith("Must be one of: id,")


def test_queue_hours_for_a_queue_no_one_works_are_an_error(tree):
    _edit(tree, "policy/queues.yaml", "  finance: Mon-Fri", "  finanse: Mon-Fri")
    with pytest.raises(RulesetInvalid) as caught:
        activation.validate(load_tree(tree))
    assert [str(e) for e in caught.value.errors] == [
        "policy/queues.yaml:8: -: queues: unknown queue 'finanse' (did you mean finance?)"
    ]
