"""Events fxcrm records about its own actions (portal sign-ins, status changes by people,
task outcomes) and the scores rules add to: stored in the change's own transaction,
once per change, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.clients import service as clients_service
from engine.db import unit_of_work
from engine.events.models import Event
from engine.kyc import service as kyc_service
from engine.portal import service as portal
from engine.portal.models import ClientLogin
from engine.scores import service as scores
from engine.scores.policy import PolicyError, parse
from engine.tasks import service as tasks_service
from engine.values import utcnow
from tests.helpers import aml_points, registered
from tests.kyc.helpers import ingest, profile
from tests.portal.test_portal_pages import PASSWORD, portal as portal_app, sign_in, smtp  # noqa: F401


def _events(database, type_: str) -> list[Event]:
    with unit_of_work(database) as s:
        rows = list(s.scalars(select(Event).where(Event.type == type_).order_by(Event.seq)))
        s.expunge_all()
        return rows


def _login(database, email="ana@example.com") -> str:
    with unit_of_work(database) as s:
        login, _token = portal.register(
            s, email=email, password=PASSWORD, first_name="Ana", last_name="Lopez", country="ES"
        )
        login.email_verified_at = utcnow()
        return login.client_ref


def test_portal_sign_ins_are_the_clients_events(database):
    ref = _login(database)
    with unit_of_work(database) as s:
        portal.authenticate(s, "ana@example.com", PASSWORD)
    with unit_of_work(database) as s:
        with pytest.raises(portal.PortalError):
            portal.authenticate(s, "ana@example.com", "wrong password")
    with unit_of_work(database) as s:  # an unknown e-mail belongs to no client
        with pytest.raises(portal.PortalError):
            portal.authenticate(s, "nobody@example.com", "wrong password")
    (ok,) = _events(database, "client.logged_in")
    (failed,) = _events(database, "client.login_failed")
    assert (ok.client_ref, ok.source, ok.via, ok.data) == (ref, "fxcrm.app", "app", {"email": "ana@example.com"})
    assert (failed.client_ref, failed.data) == (ref, {"email": "ana@example.com", "reason": "wrong_password"})


def test_a_failed_sign_in_over_http_keeps_its_counter_and_event(portal_app, database):  # noqa: F811
    ref = _login(database)
    assert sign_in(portal_app, password="not the password").status_code == 401
    with unit_of_work(database) as s:
        assert s.scalar(select(ClientLogin.failed_logins).where(ClientLogin.client_ref == ref)) == 1
    assert [e.data["reason"] for e in _events(database, "client.login_failed")] == ["wrong_password"]


def test_a_status_change_by_a_person_is_an_event_a_rules_change_is_not(database):
    ingest(database, registered("C1", "2026-11-01T10:00:00Z"))
    with unit_of_work(database) as s:
        client = clients_service.get_by_ref(s, "C1")
        change = kyc_service.change_status(
            s, client=client, status="blocked", reason="chargeback ring", actor="ann@broker.test"
        )
        change_id = change.id
    with unit_of_work(database) as s:
        kyc_service.set_status(
            s,
            client=clients_service.get_by_ref(s, "C1"),
            status="pending",
            reason="rule says so",
            actor="rule:r1",
            rule_id="r1",
        )
    (event,) = _events(database, "client.status_changed")
    assert event.event_id == f"status-change-{change_id}"
    assert event.data == {
        "status": "blocked",
        "previous_status": "pending",
        "actor": "ann@broker.test",
        "reason": "chargeback ring",
    }


@pytest.mark.parametrize("how, outcome", [("resolve", "done"), ("dismiss", "dismissed")])
def test_a_task_a_person_closes_records_its_outcome(database, how, outcome):
    with unit_of_work(database) as s:
        task, _ = tasks_service.create(s, queue="compliance", title="check", client_ref="C9", rule_id="odd-deposit")
        lone, _ = tasks_service.create(s, queue="finance", title="no client")
        ids = task.id, lone.id
    with unit_of_work(database) as s:
        for task_id in ids:
            kwargs = {"resolution": "fraud"} if how == "resolve" else {"reason": "fraud"}
            getattr(tasks_service, how)(s, tasks_service.get(s, task_id), actor="ann@broker.test", **kwargs)
    (event,) = _events(database, "task.closed")  # the task about no client records nothing
    assert (event.client_ref, event.event_id) == ("C9", f"task-{ids[0]}-closed")
    assert event.data == {
        "task_id": str(ids[0]),
        "queue": "compliance",
        "outcome": outcome,
        "resolution": "fraud",
        "actor": "ann@broker.test",
        "rule_id": "odd-deposit",
    }


def test_score_contributions_add_once_per_trigger_and_show_in_the_profile(database):
    ingest(database, registered("C1", "2026-11-01T10:00:00Z"))
    with unit_of_work(database) as s:
        first = aml_points(s, 20, "high-risk country", "r1", "api/e1:r1:0")
        again = aml_points(s, 20, "high-risk country", "r1", "api/e1:r1:0")
        aml_points(s, -5, "verified source of funds", "r2", "api/e2:r2:0")
        assert first is not None and again is None
        assert scores.total(s, "C1", "aml_risk") == 15 and scores.total(s, "C1", "other") == 0
    section = profile(database, "C1")["scores"]
    assert section["aml_risk"]["total"] == 15
    assert [(c["rule_id"], c["points"], c["reason"]) for c in section["aml_risk"]["contributions"]] == [
        ("r1", 20, "high-risk country"),
        ("r2", -5, "verified source of funds"),
    ]
    with unit_of_work(database) as s, pytest.raises(scores.ScoreError, match="need a reason"):
        scores.add(s, client_ref="C1", name="aml_risk", points=5, reason=" ", trigger_key="k")


def test_scores_policy_errors_name_the_line(tmp_path):
    path = tmp_path / "scores.yaml"
    path.write_text("scores:\n  aml_risk:\n    risk_category: {medium: 60, high: 30}\n")
    with pytest.raises(PolicyError, match=r"scores.yaml:3: aml_risk: high \(30\) must start above medium \(60\)"):
        parse(path)
    path.write_text("scores:\n  aml_risk:\n    risk_category: {severe: 90}\n")
    with pytest.raises(PolicyError, match=r"scores.yaml:3: aml_risk: 'severe' is not a risk category"):
        parse(path)
    path.write_text("scores:\n  aml_risk:\n    risk_category: {medium: 30, high: 60}\n")
    declared = parse(path)["aml_risk"]
    assert [declared.risk_category(n) for n in (0, 29, 30, 59, 60)] == ["low", "low", "medium", "medium", "high"]
