"""POST /api/events: bearer tokens, validation, duplicates."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.db import unit_of_work
from engine.events.models import Event
from engine.users import service as users
from tests.helpers import deposit_failed, registered


@pytest.fixture
def tokens(database):
    out = {}
    with unit_of_work(database) as s:
        for role in ("admin", "support"):
            user, _ = users.create(s, email=f"{role}@broker.test", role=role, password="a-long-password")
            out[role] = users.create_token(s, user)
    return out


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def stored(database):
    with unit_of_work(database) as s:
        return s.scalar(select(func.count()).select_from(Event))


def test_posting_needs_a_valid_token(client, tokens, database):
    assert client.post("/api/events", json=registered()).status_code == 401
    assert client.post("/api/events", json=registered(), headers=auth("fxc_wrong")).status_code == 401
    assert client.post("/api/events", json=registered(), headers=auth(tokens["support"])).status_code == 403
    assert stored(database) == 0


def test_events_are_accepted_once(client, tokens, database):
    batch = [registered("C1"), deposit_failed("C1")]
    first = client.post("/api/events", json=batch, headers=auth(tokens["admin"]))
    assert first.status_code == 202
    assert [e["status"] for e in first.json["events"]] == ["accepted", "accepted"]
    again = client.post("/api/events", json=batch[0], headers=auth(tokens["admin"]))
    assert again.json["events"][0]["status"] == "duplicate"
    assert stored(database) == 2


def test_one_bad_event_stores_none_and_says_which(client, tokens, database):
    batch = [registered("C1"), deposit_failed("C1", amount="12,50")]
    resp = client.post("/api/events", json=batch, headers=auth(tokens["admin"]))
    assert resp.status_code == 400
    assert resp.json["events"] == [
        {
            "index": 1,
            "problems": [
                "data.amount: must be a positive amount string like \"100.50\" (ASCII digits only), not '12,50'"
            ],
        }
    ]
    assert stored(database) == 0


def test_non_json_body_is_a_400(client, tokens):
    resp = client.post("/api/events", data="nope", headers=auth(tokens["admin"]), content_type="application/json")
    assert resp.status_code == 400 and "must be JSON" in resp.json["error"]


def test_health_and_readiness(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["checks"] == {"database": "ok"}


def test_security_headers_and_csrf(client):
    resp = client.get("/login")
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert client.post("/login", data={"email": "a", "password": "b"}).status_code == 400


def test_a_repeat_inside_one_request_is_a_duplicate(client, tokens, database):
    env = registered("C4")
    resp = client.post("/api/events", json=[env, env], headers=auth(tokens["admin"]))
    assert [e["status"] for e in resp.json["events"]] == ["accepted", "duplicate"]
    assert stored(database) == 1
