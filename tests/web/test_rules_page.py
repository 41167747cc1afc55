"""The rules page: active version and its rules, the candidate's errors and tests, activation."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.audit.models import AuditEntry
from engine.db import unit_of_work
from engine.rules import activation
from engine.rules.models import RulesetActivation
from tests.web.conftest import csrf, login

SHIPPED = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture
def rules_dir(tmp_path):
    """A candidate rules directory: the account rules, their tests and the policies."""
    root = tmp_path / "rules"
    for part in ("accounts", "policy", "templates"):
        shutil.copytree(SHIPPED / part, root / part)
    return root


@pytest.fixture
def rules_app(database, rules_dir, users):
    from web import create_app

    config = dataclasses.replace(database.config, rules_dir=str(rules_dir))
    return create_app({"TESTING": True, "FXCRM_CONFIG": config, "TICKER": False})


def _as(app, role):
    return login(app.test_client(), role)


def _post(c, path, **data):
    return c.post(path, data={"csrf_token": csrf(c), **data})


def _candidate_version(html: str) -> str:
    return re.search(r'name="version" value="([0-9a-f]{64})"', html)[1]


def _activations(database) -> list[str]:
    with unit_of_work(database) as s:
        return list(s.scalars(select(RulesetActivation.version).order_by(RulesetActivation.id)))


@pytest.mark.parametrize(
    "role,status",
    [
        ("admin", 200),
        ("compliance", 200),
        ("finance", 403),
        ("support", 403),
        ("sales", 403),
        ("ib_ops", 403),
        ("partner", 403),
    ],
)
def test_who_may_see_the_rules_page(rules_app, role, status):
    assert _as(rules_app, role).get("/rules").status_code == status


def test_activate_the_candidate_then_see_its_rules(rules_app, database):
    c = _as(rules_app, "compliance")
    html = c.get("/rules").get_data(as_text=True)
    assert "No ruleset is active" in html
    assert "accounts/status.yaml: added" in html
    version = _candidate_version(html)

    r = _post(c, "/rules/activate", version=version, note="first rules")
    assert r.status_code == 302
    assert _activations(database) == [version]
    html = c.get("/rules").get_data(as_text=True)
    assert version in html and "compliance@example.com" in html and "first rules" in html
    assert 'id="rule-account-locked"' in html  # each rule with its description
    assert "Same as the active version" in html
    assert 'action="/rules/activate"' not in html  # nothing new to activate
    with unit_of_work(database) as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "rules.activate"))
        assert (entry.actor, entry.target_id, entry.reason) == ("compliance@example.com", version, "first rules")

    # The policies and templates were activated with the rules, and are shown.
    assert f"/rules/versions/{version}/policy/kyc.yaml" in html
    policy = c.get(f"/rules/versions/{version}/policy/kyc.yaml")
    assert policy.status_code == 200 and "required" in policy.get_data(as_text=True)
    source = c.get(f"/rules/versions/{version}/accounts/status.yaml")
    assert source.status_code == 200 and "account-locked" in source.get_data(as_text=True)
    assert c.get(f"/rules/versions/{version}/nope.yaml").status_code == 404


def test_a_broken_candidate_shows_its_errors_and_cannot_be_activated(rules_app, database, rules_dir):
    c = _as(rules_app, "admin")
    version = _candidate_version(c.get("/rules").get_data(as_text=True))
    path = rules_dir / "accounts" / "status.yaml"
    path.write_text(path.read_text().replace("on: ", "on_event: ", 1))
    html = c.get("/rules").get_data(as_text=True)
    assert "Does not validate" in html
    assert re.search(r"accounts/status\.yaml:\d+: ", html), html
    assert 'action="/rules/activate"' not in html
    r = _post(c, "/rules/activate", version=version)
    assert r.status_code == 302 and _activations(database) == []
    assert "does not validate" in c.get("/rules").get_data(as_text=True)


def test_a_broken_policy_in_the_candidate_is_shown_and_not_activated(rules_app, database, rules_dir):
    c = _as(rules_app, "compliance")
    path = rules_dir / "policy" / "kyc.yaml"
    path.write_text(path.read_text().replace("documents: [id, proof_of_address]", "documents: [id, passport]", 1))
    html = c.get("/rules").get_data(as_text=True)
    assert "Does not validate" in html and "policy/kyc.yaml:8: -: required.individual" in html
    assert 'action="/rules/activate"' not in html


def test_files_changed_after_the_page_was_shown_are_not_activated(rules_app, database, rules_dir):
    c = _as(rules_app, "admin")
    shown = _candidate_version(c.get("/rules").get_data(as_text=True))
    path = rules_dir / "accounts" / "status.yaml"
    path.write_text(path.read_text() + "\n# edited\n")
    r = _post(c, "/rules/activate", version=shown)
    assert r.status_code == 302 and _activations(database) == []
    assert "changed since the page was shown" in c.get("/rules").get_data(as_text=True)


def test_rule_tests_of_the_candidate(rules_app, rules_dir):
    c = _as(rules_app, "compliance")
    html = _post(c, "/rules/candidate/test").get_data(as_text=True)
    passed = re.search(r"(\d+) passed, 0 failed", html)
    assert passed and int(passed[1]) >= 3, html

    tests = rules_dir / "accounts" / "status.test.yaml"
    tests.write_text(
        tests.read_text().replace(
            'Negative balance after stop-out", status: open', 'Negative balance after stop-out", status: done', 1
        )
    )
    html = _post(c, "/rules/candidate/test").get_data(as_text=True)
    assert re.search(r"\d+ passed, 1 failed", html), html
    assert "a locked account opens a support task" in html and "FAILED" in html


def test_rollback_returns_to_the_previous_version(rules_app, database, rules_dir):
    c = _as(rules_app, "admin")
    first = _candidate_version(c.get("/rules").get_data(as_text=True))
    _post(c, "/rules/activate", version=first)
    path = rules_dir / "accounts" / "status.yaml"
    path.write_text(path.read_text() + "\n# second\n")
    second = _candidate_version(c.get("/rules").get_data(as_text=True))
    _post(c, "/rules/activate", version=second)
    assert _post(c, "/rules/rollback").status_code == 302
    assert _activations(database) == [first, second, first]
    with unit_of_work(database) as s:
        assert activation.active(s).version == first
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "rules.rollback")) == 1


def test_changes_need_the_csrf_token_and_the_right_role(rules_app, database):
    admin = _as(rules_app, "admin")
    version = _candidate_version(admin.get("/rules").get_data(as_text=True))
    assert admin.post("/rules/activate", data={"version": version}).status_code in (400, 403)
    finance = _as(rules_app, "finance")
    assert _post(finance, "/rules/activate", version=version).status_code == 403
    assert _post(finance, "/rules/rollback").status_code == 403
    assert _post(finance, "/rules/candidate/test").status_code == 403
    assert _activations(database) == []


def test_a_candidate_whose_rule_tests_fail_is_not_activated(rules_app, database, rules_dir):
    tests = rules_dir / "accounts" / "status.test.yaml"
    tests.write_text(
        tests.read_text().replace(
            'Negative balance after stop-out", status: open', 'Negative balance after stop-out", status: done', 1
        )
    )
    c = _as(rules_app, "compliance")
    version = _candidate_version(c.get("/rules").get_data(as_text=True))
    r = _post(c, "/rules/activate", version=version)
    assert r.status_code == 302 and _activations(database) == []
    html = c.get("/rules").get_data(as_text=True)
    assert "rule tests fail; nothing was activated" in html
    assert "a locked account opens a support task with the platform&#39;s reason: FAILED" in html


def test_the_page_shows_the_facts_catalogue(rules_app):
    """Every fact of `fxcrm rules facts` is listed with its type, meaning, parameters and cost."""
    from markupsafe import escape

    from engine.rules import catalogue

    html = _as(rules_app, "compliance").get("/rules").get_data(as_text=True)
    assert "<title>Rules · fxcrm</title>" in html and html.count('id="facts-h"') == 1
    assert html.index('id="hist-h"') < html.index('id="facts-h"')  # below the history, folded
    section = html[html.index('id="facts-h"') :]
    rows = catalogue.entries() + catalogue.aggregate_entries()
    assert len(rows) > 40
    for entry in rows:
        row = (
            f"<tr><td><code>{escape(entry['name'])}</code></td><td>{escape(entry['kind'])}</td>"
            f"<td>{escape(entry['meaning'])}</td>"
        )
        assert row in section, entry["name"]
        assert str(escape(entry["cost"])) in section
    assert "held_at_least (duration), within (duration)" in section


def test_absence_and_scheduled_rules_show_what_starts_them(rules_app, database, rules_dir):
    (rules_dir / "quiet.yaml").write_text(
        "ruleset: quiet\ndescription: d\nrules:\n"
        "  - id: quiet\n    description: Nobody traded.\n"
        "    absent: {events: [trade.opened, trade.closed], for: 90d, since: payment.deposit_completed}\n"
        "    then: [{task: {queue: sales, title: Quiet}}]\n"
        "  - id: morning\n    description: Every morning.\n    schedule: daily at 06:00 Europe/London\n"
        "    if: [client.status == approved]\n    then: [{task: {queue: sales, title: Morning, one_open_per: client}}]\n"
    )
    c = _as(rules_app, "compliance")
    version = _candidate_version(c.get("/rules").get_data(as_text=True))
    assert _post(c, "/rules/activate", version=version).status_code == 302
    html = c.get("/rules").get_data(as_text=True)
    quiet = html[html.index('id="rule-quiet"') :]
    assert "<td>none of trade.opened, trade.closed for 90d; started by payment.deposit_completed</td>" in quiet
    morning = html[html.index('id="rule-morning"') :]
    assert "<td>daily at 06:00 Europe/London</td>" in morning


DELAYED = """\
ruleset: extra
description: A reminder nothing cancels.
rules:
  - id: late-welcome
    description: Tells the client a day after registering, whatever happened.
    when: client.registered
    after: 24h
    then:
      - notify: kyc-approved
"""
DELAY_WARNING = (
    "extra.yaml:4: late-welcome: warning: after: without unless: nothing cancels the "
    "delay, the actions run when it falls due whatever happened meanwhile (add unless: "
    "with what should cancel it, or drop after:)"
)


def test_a_candidate_with_warnings_is_activated_only_when_they_are_accepted(rules_app, database, rules_dir):
    (rules_dir / "extra.yaml").write_text(DELAYED)
    c = _as(rules_app, "compliance")
    html = c.get("/rules").get_data(as_text=True)
    assert "1 warning(s)" in html and DELAY_WARNING in html
    assert 'name="accept_warnings" value="yes" required' in html
    version = _candidate_version(html)
    r = _post(c, "/rules/activate", version=version, note="with the reminder")
    assert r.status_code == 302 and _activations(database) == []
    assert "has 1 warning(s)" in c.get("/rules").get_data(as_text=True)
    r = _post(c, "/rules/activate", version=version, note="with the reminder", accept_warnings="yes")
    assert r.status_code == 302 and _activations(database) == [version]
    with unit_of_work(database) as s:
        row = s.scalars(select(RulesetActivation)).one()
        assert row.note == "with the reminder (accepted 1 warning(s))"
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "rules.activate"))
        assert entry.detail["accepted_warnings"] == [DELAY_WARNING]


def test_rollback_says_what_happened_to_each_pending_timer(rules_app, database, tmp_path):
    from tests.rules.test_settlement import V2, _dir, _started

    _started(database, tmp_path)  # the timers of V1 are pending
    activation.activate_dir(database, _dir(tmp_path, "v2", V2), actor="test")
    c = _as(rules_app, "admin")
    page = c.post("/rules/rollback", data={"csrf_token": csrf(c)}, follow_redirects=True).get_data(as_text=True)
    assert "Pending timers: 1 kept, 1 rescheduled, 0 cancelled" in page
    assert re.search(
        r"rescheduled: timer \d+ \(remind\) of C1, due 2026-11-01T22:00:00Z -&gt; "
        r"2026-11-02T10:00:00Z: rule remind now waits 86400s after client.registered",
        page,
    )
    history = c.get("/rules").get_data(as_text=True)
    assert "<summary>timers: 1 kept, 1 rescheduled, 2 cancelled</summary>" in history  # V2's activation
    assert "cancelled: timer" in history and "(gone) of C1" in history
