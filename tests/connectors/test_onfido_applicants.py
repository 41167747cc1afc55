"""Onfido applicant links: `fxcrm connectors link onfido`, learnt from tags, used without one."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.audit import service as audit_service
from engine.db import unit_of_work
from engine.deliveries import applicants, fetches, intake
from engine.deliveries.models import OnfidoApplicant
from engine.events import store
from engine.values import utcnow
from tests.connectors import helpers as fx
from tests.web.test_webhooks import (
    FakeOnfido,
    deliveries,
    events,
    onfido_api,  # noqa: F401
    onfido_app,
)

APPLICANT = "61f659cb-c90b-4067-808a-6136b5c01351"  # the applicant of api_check_clear.json


@pytest.fixture
def clients(database):
    with unit_of_work(database) as session:
        store.ensure_clients(session, {"C-1001", "C-2002"})
    return database


def links(db) -> list[tuple[str, str, str]]:
    with unit_of_work(db) as s:
        return [(r.applicant_id, r.client_ref, r.source) for r in s.scalars(select(OnfidoApplicant))]


def check_without_tag() -> dict:
    return {**fx.load("onfido/api_check_clear.json"), "tags": []}


def receive(db) -> str:
    outcome = intake.accept(db, provider="onfido", body=fx.raw("onfido/check_completed.json"), now=utcnow())
    assert outcome.status == "pending"
    fetches.run_due(db)
    (row,) = deliveries(db)
    return row.status


def test_cli_links_an_applicant_and_audits_it(runner, clients):
    result = runner.invoke(["connectors", "link", "onfido", APPLICANT.upper(), "C-1001"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"linked: onfido applicant {APPLICANT} -> C-1001"
    assert links(clients) == [(APPLICANT, "C-1001", "cli")]
    with unit_of_work(clients) as s:
        (entry,) = audit_service.list_for(s, target_type="client", target_id="C-1001")
        assert (entry.actor, entry.action, entry.detail) == (
            "cli",
            "onfido.applicant_linked",
            {"applicant_id": APPLICANT, "previous_client": None},
        )


@pytest.mark.parametrize(
    "args, message",
    [
        (["not-an-applicant", "C-1001"], "expected an Onfido applicant id"),
        ([APPLICANT, "C-9999"], "client 'C-9999': no such client"),
    ],
)
def test_cli_refuses_bad_input(runner, clients, args, message):
    result = runner.invoke(["connectors", "link", "onfido", *args])
    assert result.exit_code == 1 and message in result.output
    assert links(clients) == []


def test_moving_a_linked_applicant_needs_replace(runner, clients):
    runner.invoke(["connectors", "link", "onfido", APPLICANT, "C-1001"])
    moved = runner.invoke(["connectors", "link", "onfido", APPLICANT, "C-2002"])
    assert moved.exit_code == 1 and "is linked to client C-1001" in moved.output
    assert "--replace" in moved.output and links(clients)[0][1] == "C-1001"
    moved = runner.invoke(["connectors", "link", "onfido", APPLICANT, "C-2002", "--replace"])
    assert moved.exit_code == 0 and links(clients) == [(APPLICANT, "C-2002", "cli")]
    with unit_of_work(clients) as s:
        (entry,) = audit_service.list_for(s, target_type="client", target_id="C-2002")
        assert entry.detail["previous_client"] == "C-1001"


def test_a_check_tag_fills_the_link(clients, onfido_api):  # noqa: F811
    _client, db = onfido_app(clients, onfido_api)
    assert receive(db) == "done"
    assert links(db) == [(APPLICANT, "C-1001", "tag")]


def test_a_check_without_tag_uses_the_link(clients, onfido_api):  # noqa: F811
    _client, db = onfido_app(clients, onfido_api)
    FakeOnfido.answer = (200, check_without_tag())
    with unit_of_work(db) as session:
        applicants.link(session, applicant_id=APPLICANT, client_ref="C-2002", actor="test")
    assert receive(db) == "done"
    (event,) = events(db)
    assert (event.type, event.client_ref) == ("kyc.review_completed", "C-2002")


def test_unlinked_check_waits_as_unmatched_until_linked_and_retried(runner, clients, onfido_api):  # noqa: F811
    _client, db = onfido_app(clients, onfido_api)
    FakeOnfido.answer = (200, check_without_tag())
    assert receive(db) == "unmatched" and events(db) == [] and links(db) == []
    (row,) = deliveries(db)
    runner.invoke(["connectors", "link", "onfido", APPLICANT, "C-1001"])
    result = runner.invoke(
        ["connectors", "retry", str(row.id)],
        env={"FXCRM_ONFIDO_API_TOKEN": "api_sandbox.token", "FXCRM_ONFIDO_BASE_URL": onfido_api},
    )
    assert result.exit_code == 0, result.output
    assert [(e.type, e.client_ref) for e in events(db)] == [("kyc.review_completed", "C-1001")]


def test_a_tag_that_contradicts_the_link_is_unmatched(clients, onfido_api):  # noqa: F811
    _client, db = onfido_app(clients, onfido_api)
    with unit_of_work(db) as session:
        applicants.link(session, applicant_id=APPLICANT, client_ref="C-2002", actor="test")
    assert receive(db) == "unmatched"
    (row,) = deliveries(db)
    assert "linked to client C-2002 but the check's tag names C-1001" in row.reason
    assert events(db) == [] and links(db) == [(APPLICANT, "C-2002", "cli")]
