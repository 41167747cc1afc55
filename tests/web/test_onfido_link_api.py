"""Linking an Onfido applicant to a client through the API (kyc.link: admin, compliance)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.audit.models import AuditEntry
from engine.db import unit_of_work
from engine.events import store

APPLICANT = "61f659cb-c90b-4067-808a-6136b5c01351"
PATH = f"/api/onfido/applicants/{APPLICANT}"


@pytest.fixture
def api(app, database, tokens):
    with unit_of_work(database) as session:
        store.ensure_clients(session, {"C-1001", "C-2002"})
    return app.test_client()


def test_link_read_and_move(api, tokens, database):
    head = tokens["compliance"]
    assert api.get(PATH, headers=head).status_code == 404
    r = api.put(PATH, headers=head, json={"client": "C-1001"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json() | {"linked_at": None} == {
        "applicant_id": APPLICANT,
        "client": "C-1001",
        "source": "api",
        "linked_by": "compliance@example.com",
        "linked_at": None,
    }
    assert api.get(PATH, headers=head).get_json()["client"] == "C-1001"
    # The same link again is fine; another client needs "replace": true.
    assert api.put(PATH, headers=head, json={"client": "C-1001"}).status_code == 200
    moved = api.put(PATH, headers=head, json={"client": "C-2002"})
    assert moved.status_code == 409 and '"replace": true' in moved.get_json()["error"]
    assert api.get(PATH, headers=head).get_json()["client"] == "C-1001"
    moved = api.put(PATH, headers=head, json={"client": "C-2002", "replace": True})
    assert moved.status_code == 200 and moved.get_json()["client"] == "C-2002"
    with unit_of_work(database) as s:
        audit = [
            (e.actor, e.target_id, e.detail["previous_client"])
            for e in s.scalars(
                select(AuditEntry).where(AuditEntry.action == "onfido.applicant_linked").order_by(AuditEntry.id)
            )
        ]
    assert audit[0] == ("compliance@example.com", "C-1001", None)
    assert audit[-1] == ("compliance@example.com", "C-2002", "C-1001")


@pytest.mark.parametrize(
    "body,says",
    [
        ({"client": "C-404"}, "no such client"),
        ({"client": 7}, '"client"'),
        ({"client": "C-1001", "replace": "yes"}, '"replace"'),
        ([], '"client"'),
    ],
)
def test_bad_requests_say_what(api, tokens, body, says):
    r = api.put(PATH, headers=tokens["admin"], json=body)
    assert r.status_code == 400 and says in r.get_json()["error"]
    assert api.get(PATH, headers=tokens["admin"]).status_code == 404


def test_not_an_applicant_id(api, tokens):
    r = api.put("/api/onfido/applicants/not-a-uuid", headers=tokens["admin"], json={"client": "C-1001"})
    assert r.status_code == 400 and "expected an Onfido applicant id" in r.get_json()["error"]


@pytest.mark.parametrize("role", ["finance", "support", "sales", "ib_ops", "partner"])
def test_other_roles_may_not_link(api, tokens, role):
    assert api.put(PATH, headers=tokens[role], json={"client": "C-1001"}).status_code == 403
    assert api.get(PATH, headers=tokens[role]).status_code == 403
    assert api.get(PATH, headers=tokens["admin"]).status_code == 404


def test_anonymous_gets_401(api):
    assert api.put(PATH, json={"client": "C-1001"}).status_code == 401
