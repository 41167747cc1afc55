"""`fxcrm rules check/test/activate/status/rollback/backtest` and `fxcrm timers fire`."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from engine.rules import activation
from tests.helpers import deposit_failed, jsonl, registered

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])  # the CLI is backend-agnostic

BROKEN = Path(__file__).parent / "broken"
WARNINGS = Path(__file__).parent / "warnings"


def _expected(path: Path) -> list[str]:
    return [line[len("# expect: ") :] for line in path.read_text().splitlines() if line.startswith("# expect: ")]


RULES = """
ruleset: cli-demo
description: d
rules:
  - id: failed-deposit
    description: A task per failed deposit of at least {limit}.
    when: payment.deposit_failed
    if: ["event.amount >= {limit}"]
    then:
      - task: {{queue: finance, title: "Failed {{event.amount}}", one_open_per: client}}
  - id: nudge
    description: A named timer a day after registering.
    when: client.registered
    then:
      - start_timer: {{name: nudge, after: 24h}}
  - id: nudged
    description: The nudge counts when due.
    when: timer.fired
    if: [event.name == nudge]
    then:
      - score: {{name: nudges, points: 1, reason: nudged}}
tests:
  - name: a failed deposit opens a task
    events:
      - {{type: payment.deposit_failed, at: 0h, payment_id: p1, amount: "50", currency: USD, method: card, provider: stripe}}
    expect:
      tasks: [{{queue: finance, rule: failed-deposit, title: Failed 50}}]
"""


@pytest.fixture(autouse=True)
def _fresh_cache():
    activation.forget()
    yield
    activation.forget()


def rules_dir(tmp_path, limit="10 USD", name="rules") -> Path:
    path = tmp_path / name
    path.mkdir()
    (path / "demo.yaml").write_text(textwrap.dedent(RULES.format(limit=limit)))
    return path


def test_check_prints_every_error_and_exits_1(runner, tmp_path):
    shutil.copy(BROKEN / "many_errors.yaml", tmp_path / "many_errors.yaml")
    result = runner.invoke(["rules", "check", str(tmp_path)])
    assert result.exit_code == 1
    expected = [
        l[len("# expect: ") :]
        for l in (BROKEN / "many_errors.yaml").read_text().splitlines()
        if l.startswith("# expect: ")
    ]
    assert result.output.splitlines() == expected


def test_check_ok(runner, tmp_path):
    result = runner.invoke(["rules", "check", str(rules_dir(tmp_path))])
    assert result.exit_code == 0 and result.output.startswith("ok: 3 rules in 1 files, 1 tests; version ")


def test_check_prints_warnings_and_exits_0(runner, tmp_path):
    shutil.copy(WARNINGS / "loops.yaml", tmp_path / "loops.yaml")
    result = runner.invoke(["rules", "check", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:-1] == _expected(WARNINGS / "loops.yaml")
    assert result.output.splitlines()[-1].startswith("ok: 5 rules in 1 files, 0 tests, 3 warning(s); version ")


def test_activate_refuses_warnings_unless_accepted_and_records_them(runner, tmp_path, database):
    from sqlalchemy import select

    from engine.audit.models import AuditEntry
    from engine.db import unit_of_work

    shutil.copy(WARNINGS / "delay_nothing_cancels.yaml", tmp_path / "delays.yaml")
    warnings = [
        w.replace("delay_nothing_cancels.yaml", "delays.yaml")
        for w in _expected(WARNINGS / "delay_nothing_cancels.yaml")
    ]
    refused = runner.invoke(["rules", "activate", str(tmp_path), "--actor", "ana"])
    assert refused.exit_code == 1
    assert refused.output.splitlines() == warnings + [
        "refused: 2 warning(s); review them and activate with --accept-warnings to accept them; nothing was activated"
    ]
    assert "no ruleset is active" in runner.invoke(["rules", "status"]).output
    accepted = runner.invoke(["rules", "activate", str(tmp_path), "--actor", "ana", "--accept-warnings"])
    assert accepted.exit_code == 0, accepted.output
    status = json.loads(runner.invoke(["rules", "status", "--json"]).output)
    assert status["active"]["note"] == "accepted 2 warning(s)"
    with unit_of_work(database) as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "rules.activate")).one()
        assert entry.detail["accepted_warnings"] == warnings


def test_rule_tests_pass_and_fail(runner, tmp_path):
    good = runner.invoke(["rules", "test", str(rules_dir(tmp_path))])
    assert good.exit_code == 0, good.output
    assert good.output.splitlines()[-1] == "1 passed, 0 failed"
    bad = runner.invoke(["rules", "test", str(rules_dir(tmp_path, "100 USD", "strict"))])
    assert bad.exit_code == 1
    assert "demo.yaml:23: a failed deposit opens a task: FAILED" in bad.output
    assert "tasks: expected [{queue: finance, rule: failed-deposit, title: Failed 50}], got nothing" in bad.output


def test_activate_status_rollback_and_timers(runner, tmp_path):
    assert "no ruleset is active" in runner.invoke(["rules", "status"]).output
    first = runner.invoke(["rules", "activate", str(rules_dir(tmp_path)), "--actor", "ana"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(["rules", "activate", str(rules_dir(tmp_path, "20 USD", "v2")), "--actor", "bo"])
    status = json.loads(runner.invoke(["rules", "status", "--json"]).output)
    assert status["active"]["activated_by"] == "bo"
    assert second.output.split()[1] == status["active"]["version"]
    assert [h["activated_by"] for h in status["history"]] == ["bo", "ana"]
    assert runner.invoke(["rules", "rollback", "--actor", "cy"]).output.split()[1] == first.output.split()[1]
    events = tmp_path / "events.jsonl"
    events.write_text(jsonl([registered("C1", at="2026-11-01T10:00:00Z")]))
    assert runner.invoke(["events", "ingest", str(events)]).exit_code == 0
    assert runner.invoke(["timers", "fire", "--now", "2026-11-02T09:59:59Z"]).output == "fired 0 timer(s)\n"
    assert runner.invoke(["timers", "fire", "--now", "2026-11-02T10:00:00Z"]).output == "fired 1 timer(s)\n"
    assert runner.invoke(["timers", "fire", "--now", "2026-11-03T10:00:00Z"]).output == "fired 0 timer(s)\n"


def test_activate_refuses_an_invalid_ruleset(runner, tmp_path):
    shutil.copy(BROKEN / "money_vs_number.yaml", tmp_path / "r.yaml")
    result = runner.invoke(["rules", "activate", str(tmp_path)])
    assert result.exit_code == 1 and "r.yaml:8: r1: event.amount is money" in result.output
    assert "no ruleset is active" in runner.invoke(["rules", "status"]).output


def test_backtest_shows_what_a_changed_ruleset_would_do_differently(runner, tmp_path):
    runner.invoke(["rules", "activate", str(rules_dir(tmp_path, "10 USD"))])
    events = tmp_path / "events.jsonl"
    events.write_text(jsonl([deposit_failed("C1", amount="50"), deposit_failed("C2", amount="5")]))
    runner.invoke(["events", "ingest", str(events)])
    result = runner.invoke(["rules", "backtest", str(rules_dir(tmp_path, "1 USD", "candidate"))])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1] == "outcomes: 3 same, 1 different"  # C1's task, the state of C1 and of C2
    assert (
        lines[2].startswith("C2 task failed-deposit (test/")
        and ": added: queue=finance, title=Failed 5, "
        "priority=normal; rule failed-deposit changed; candidate: because test/"
        in lines[2]
    )
    assert "event.amount=5 USD" in lines[2]
    data = json.loads(runner.invoke(["rules", "backtest", "--json", str(tmp_path / "candidate")]).output)
    assert [(d["client"], d["kind"], d["rule"], d["change"]) for d in data["differences"]] == [
        ("C2", "task", "failed-deposit", "added")
    ]


def test_cli_activation_and_rollback_are_audited_as_the_os_user(runner, tmp_path, database):
    import getpass

    from sqlalchemy import select

    from engine.audit.models import AuditEntry
    from engine.db import unit_of_work

    first = runner.invoke(["rules", "activate", str(rules_dir(tmp_path))])
    runner.invoke(["rules", "activate", str(rules_dir(tmp_path, "20 USD", "v2")), "--actor", "bo"])
    runner.invoke(["rules", "rollback"])
    with unit_of_work(database) as s:
        rows = [
            (a.actor, a.action, a.target_id)
            for a in s.scalars(select(AuditEntry).where(AuditEntry.target_type == "ruleset").order_by(AuditEntry.id))
        ]
    version = first.output.split()[1]
    me = f"cli:{getpass.getuser()}"
    assert rows[0] == (me, "rules.activate", version)
    assert rows[1][:2] == ("bo", "rules.activate")
    assert rows[2] == (me, "rules.rollback", version)


def test_activation_runs_the_rule_tests_and_refuses_when_one_fails(runner, tmp_path):
    refused = runner.invoke(["rules", "activate", str(rules_dir(tmp_path, "100 USD", "strict")), "--actor", "ana"])
    assert refused.exit_code == 1
    assert "demo.yaml:23: a failed deposit opens a task: FAILED" in refused.output
    assert refused.output.splitlines()[-1] == "refused: 1 rule test(s) fail; nothing was activated"
    assert "no ruleset is active" in runner.invoke(["rules", "status"]).output
    accepted = runner.invoke(["rules", "activate", str(rules_dir(tmp_path)), "--actor", "ana"])
    assert accepted.exit_code == 0 and accepted.output.startswith("active: ")


AT_TESTS = """
ruleset: cli-demo
tests:
  - name: the task opens when the deposit fails and the nudge is due a day after registering
    events:
      - {type: client.registered, at: 0h, email: a@example.com, country: DE, client_type: individual}
      - {type: payment.deposit_failed, at: 3h, payment_id: p1, amount: "50", currency: USD, method: card, provider: stripe}
    expect:
      tasks: [{queue: finance, rule: failed-deposit, at: 3h}]
      timers: [{name: nudge, at: WHEN}]
"""


def test_rule_tests_say_when_a_task_opened_and_a_timer_fires(runner, tmp_path):
    path = rules_dir(tmp_path)
    (path / "demo.yaml").write_text((path / "demo.yaml").read_text().split("tests:")[0])
    (path / "demo.test.yaml").write_text(AT_TESTS.replace("WHEN", "24h"))
    good = runner.invoke(["rules", "test", str(path)])
    assert good.exit_code == 0, good.output
    (path / "demo.test.yaml").write_text(AT_TESTS.replace("WHEN", "25h"))
    bad = runner.invoke(["rules", "test", str(path)])
    assert bad.exit_code == 1
    assert (
        "timers: expected [{at: 25h, name: nudge}], got [{name: nudge, rule: nudge, "
        "due_in: 86400s, at: 24h}]" in bad.output
    )


def test_timers_schedule_runs_the_scheduled_rules_once_a_day(runner, tmp_path):
    path = tmp_path / "sched"
    path.mkdir()
    (path / "daily.yaml").write_text(
        textwrap.dedent("""
        ruleset: daily
        description: d
        rules:
          - id: german-clients
            description: German clients, every morning.
            schedule: daily at 06:00
            if: [client.country == DE]
            then:
              - task: {queue: sales, title: "Call", one_open_per: client}
    """)
    )
    events = tmp_path / "events.jsonl"
    events.write_text(
        jsonl([registered("C1", at="2026-11-01T10:00:00Z"), registered("C2", at="2026-11-01T10:00:00Z", country="GB")])
    )
    assert runner.invoke(["events", "ingest", str(events)]).exit_code == 0
    assert runner.invoke(["rules", "activate", str(path)]).exit_code == 0
    once = runner.invoke(["timers", "schedule", "--now", "2026-11-02T06:00:00Z"])
    assert once.output == "scheduled rules acted for 1 client(s)\n", once.output
    again = runner.invoke(["timers", "schedule", "--now", "2026-11-02T12:00:00Z"])
    assert again.output == "scheduled rules acted for 0 client(s)\n"
