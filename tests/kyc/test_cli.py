"""`fxcrm kyc ...` commands and `fxcrm clients show --json` with the KYC profile."""

from __future__ import annotations

import json

from click.testing import CliRunner

from engine.cli import main
from engine.db import unit_of_work
from engine.users import service as users_service
from tests.kyc.helpers import ingest, registered, submitted


def _users(database):
    with unit_of_work(database) as session:
        users_service.create(session, email="kyc@b.test", role="compliance", password="pw-123456789")
        users_service.create(session, email="sales@b.test", role="sales", password="pw-123456789")


def test_policy_check_shows_requirements_and_reports_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("FXCRM_RULES_DIR", "rules")
    runner = CliRunner()
    result = runner.invoke(main, ["kyc", "policy"])
    assert result.exit_code == 0
    assert "individual: documents id, proof_of_address; fields email" in result.output
    assert "NG adds source_of_funds" in result.output
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "kyc.yaml").write_text("required:\n  robot: {documents: [id]}\nreason_codes: {x: y}\n")
    result = runner.invoke(main, ["kyc", "policy", "--rules-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "kyc.yaml:2: required.robot: Must be one of: individual, corporate" in result.output


def test_manual_status_change_from_the_command_line(database, runner):
    _users(database)
    ingest(database, registered("C1"))
    result = runner.invoke(["kyc", "set-status", "C1", "blocked", "--reason", "fraud ring", "--actor", "sales@b.test"])
    assert result.exit_code == 1 and "not an active admin or compliance user" in result.output
    result = runner.invoke(["kyc", "set-status", "C1", "blocked", "--actor", "kyc@b.test"])
    assert result.exit_code == 2  # --reason is required
    result = runner.invoke(["kyc", "set-status", "C1", "blocked", "--reason", "fraud ring", "--actor", "kyc@b.test"])
    assert result.exit_code == 0, result.output
    shown = json.loads(runner.invoke(["clients", "show", "C1", "--json"]).output)
    assert (shown["status"], shown["status_reason"]) == ("blocked", "fraud ring")


def test_clients_show_json_has_kyc_documents_risk_notifications_and_next_step(database, runner):
    _users(database)
    ingest(
        database, registered("C1", first_name="Ana", last_name="Lopez"), submitted("C1", "id", "2026-11-01T11:00:00Z")
    )
    assert runner.invoke(["kyc", "reject", "C1", "--code", "nope", "--actor", "kyc@b.test"]).exit_code == 1
    result = runner.invoke(
        ["kyc", "request", "C1", "--documents", "id", "--message", "Both sides please", "--actor", "kyc@b.test"]
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(runner.invoke(["clients", "show", "C1", "--json"]).output)
    assert shown["kyc"]["status"] == "retry"
    assert [(d["type"], d["state"]) for d in shown["kyc"]["documents"]] == [
        ("id", "rejected"),
        ("id", "missing"),
        ("proof_of_address", "missing"),
    ]
    assert shown["kyc"]["documents"][0]["reason"] == "Both sides please"
    assert shown["risk"] == {"category": None, "reason": None}
    assert isinstance(shown["notifications"], list)
    assert shown["next_step"] == "Upload documents: identity document, proof of address"
    text = runner.invoke(["clients", "show", "C1"]).output
    assert "next step: Upload documents: identity document, proof of address" in text
