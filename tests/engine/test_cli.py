"""The `fxcrm` command on the test database."""

from __future__ import annotations

import json

from engine.db import unit_of_work
from engine.tasks import service as tasks_service
from tests.helpers import TASK_KEYS, deposit_failed, jsonl, registered


def test_events_ingest_reports_bad_lines_and_exits_1(runner, tmp_path):
    path = tmp_path / "events.jsonl"
    good = jsonl([registered("C1"), deposit_failed("C1")])
    path.write_text(good.splitlines()[0] + "\n{broken\n" + good.splitlines()[1] + "\n")
    result = runner.invoke(["events", "ingest", str(path)])
    assert result.exit_code == 1
    assert "accepted: 2, duplicate: 0, rejected: 1" in result.output
    assert f"{path}:2: not valid JSON" in result.output
    again = runner.invoke(["events", "ingest", str(path)])
    assert "accepted: 0, duplicate: 2, rejected: 1" in again.output


def test_events_ingest_clean_file_exits_0(runner, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(jsonl([registered("C1")]))
    result = runner.invoke(["events", "ingest", str(path)])
    assert result.exit_code == 0, result.output
    assert "accepted: 1, duplicate: 0, rejected: 0" in result.output


def test_usage_error_exits_2(runner):
    assert runner.invoke(["events", "ingest"]).exit_code == 2
    assert runner.invoke(["tasks", "list", "--bogus"]).exit_code == 2


def test_tasks_list_json_has_the_spec_fields(runner, database):
    with unit_of_work(database) as s:
        tasks_service.create(
            s, queue="support", title="Call back", client_ref="C7", priority="high", created_by="agent@x"
        )
    result = runner.invoke(["tasks", "list", "--json", "--queue", "support"])
    rows = json.loads(result.output)
    assert len(rows) == 1
    task = rows[0]
    for key in TASK_KEYS:
        assert key in task
    assert (task["status"], task["priority"], task["rule_id"]) == ("open", "high", None)
    bad = runner.invoke(["tasks", "list", "--status", "closed"])
    assert bad.exit_code == 1 and "unknown status 'closed'" in bad.output


def test_clients_show_json_and_unknown_client(runner, tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text(jsonl([registered("C3", first_name="Ines")]))
    runner.invoke(["events", "ingest", str(path)])
    profile = json.loads(runner.invoke(["clients", "show", "C3", "--json"]).output)
    for key in ("ref", "status", "kyc", "wallets", "accounts", "ib", "commissions", "notifications", "tasks"):
        assert key in profile
    assert (profile["ref"], profile["status"], profile["first_name"]) == ("C3", "pending", "Ines")
    assert "status" in profile["kyc"] and "documents" in profile["kyc"]
    missing = runner.invoke(["clients", "show", "NOPE"])
    assert missing.exit_code == 1 and "no client NOPE" in missing.output


def test_users_and_tokens(runner):
    created = runner.invoke(["users", "create", "ops@broker.test", "--role", "admin", "--password", "long-enough-pass"])
    assert created.exit_code == 0
    dup = runner.invoke(["users", "create", "ops@broker.test", "--role", "admin"])
    assert dup.exit_code == 1 and "already exists" in dup.output
    bad_role = runner.invoke(["users", "create", "x@broker.test", "--role", "wizard"])
    assert bad_role.exit_code == 1 and "unknown role" in bad_role.output
    token = runner.invoke(["tokens", "create", "ops@broker.test"]).output.strip()
    assert token.startswith("fxc_") and len(token) > 40


def test_users_lifecycle_and_token_revocation_are_audited_with_the_os_user(runner, database):
    import getpass

    from engine.audit.models import AuditEntry
    from engine.db import unit_of_work
    from engine.users import service
    from sqlalchemy import select

    runner.invoke(["users", "create", "sam@broker.test", "--role", "support", "--password", "long-enough-pass"])
    assert runner.invoke(["tokens", "create", "sam@broker.test", "--days", "7"]).exit_code == 0
    listed = runner.invoke(["tokens", "list", "sam@broker.test"]).output
    token_id = listed.split("\t")[0]
    assert "active" in listed and "fxc_" in listed
    assert runner.invoke(["tokens", "revoke", token_id]).exit_code == 0
    assert "revoked" in runner.invoke(["tokens", "list", "sam@broker.test"]).output
    assert runner.invoke(["users", "role", "sam@broker.test", "finance"]).exit_code == 0
    reset = runner.invoke(["users", "reset-password", "sam@broker.test"])
    assert reset.exit_code == 0 and "temporary password" in reset.output
    assert runner.invoke(["users", "deactivate", "sam@broker.test", "--reason", "left"]).exit_code == 0
    assert runner.invoke(["users", "activate", "sam@broker.test"]).exit_code == 0
    missing = runner.invoke(["users", "deactivate", "nobody@broker.test"])
    assert missing.exit_code == 1 and "no user nobody@broker.test" in missing.output
    with unit_of_work(database) as s:
        user = service.get_by_email(s, "sam@broker.test")
        assert (user.role, user.active, user.must_change_password) == ("finance", True, True)
        entries = s.scalars(
            select(AuditEntry).where(AuditEntry.target_id == "sam@broker.test").order_by(AuditEntry.id)
        ).all()
        assert [e.action for e in entries] == [
            "user.create",
            "token.create",
            "token.revoke",
            "user.role",
            "user.reset_password",
            "user.deactivate",
            "user.activate",
        ]
        assert {e.actor for e in entries} == {f"cli:{getpass.getuser()}"}
        assert entries[5].reason == "left"
