"""Hostile input through the web: each refused with 4xx naming the field, nothing stored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.db import unit_of_work
from engine.events.models import Event
from tests.engine.test_input_contracts import HOSTILE


def test_the_api_refuses_them_all_and_stores_nothing(database, client, tokens):
    for payload, problem in HOSTILE:
        response = client.post("/api/events", json=payload, headers=tokens["admin"])
        assert response.status_code == 400, (problem, response.get_data(as_text=True))
        problems = response.get_json()["events"][0]["problems"]
        assert any(p.startswith(problem) for p in problems), (problem, problems)
    with unit_of_work(database) as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 0


DEEP = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000


def test_json_nested_a_thousand_deep_is_a_clean_400(client, tokens, sample):
    for path in ("/api/events", f"/api/tasks/{sample['support']}/comment", "/api/tasks/bulk"):
        for body in (DEEP, DEEP_OBJECT):
            response = client.post(path, data=body, content_type="application/json", headers=tokens["admin"])
            assert response.status_code == 400, (path, response.status_code)
            assert "nested" in response.get_json()["error"], response.get_json()


@pytest.mark.parametrize("field, value", [("body", 12), ("body", ["x"]), ("body", {"a": 1}), ("body", None)])
def test_non_string_fields_are_a_clean_400(client, tokens, sample, field, value):
    response = client.post(f"/api/tasks/{sample['support']}/comment", json={field: value}, headers=tokens["admin"])
    assert response.status_code == 400, response.get_data(as_text=True)
    assert field in response.get_json()["error"]


@pytest.mark.parametrize("field, size, problem", [("title", 301, "title"), ("description", 20_001, "description")])
def test_manual_task_text_is_limited(client, tokens, database, field, size, problem):
    from engine.tasks.models import Task

    body = {"queue": "support", "title": "Call back", field: "x" * size}
    response = client.post("/api/tasks", json=body, headers=tokens["admin"])
    assert response.status_code == 400 and problem in response.get_json()["error"]
    with unit_of_work(database) as s:
        assert s.scalar(select(func.count()).select_from(Task)) == 0


def test_a_chunked_webhook_body_over_the_limit_is_refused(client, database):
    from web.webhooks import MAX_BODY

    def chunks():
        for _ in range(MAX_BODY // 65536 + 2):
            yield b"x" * 65536

    import io

    stream = io.BytesIO(b"".join(chunks()))
    response = client.post(
        "/webhooks/stripe",
        input_stream=stream,
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413, response.get_data(as_text=True)
    from engine.deliveries.models import Delivery

    with unit_of_work(database) as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == 0


@pytest.mark.parametrize("role", ["support", "sales", "compliance"])
def test_profile_lists_only_tasks_of_queues_the_viewer_can_open(as_role, sample, role, tokens):
    from engine.users.permissions import can_see_queue

    page = as_role(role).get("/clients/C1").get_data(as_text=True)
    api = as_role(role).get("/api/clients/C1")
    for queue in ("compliance", "finance", "support", "sales", "ib_ops"):
        title = f"{queue} follow-up"
        assert (title in page) == can_see_queue(role, queue), (role, queue)
    if api.status_code == 200:
        assert {t["queue"] for t in api.get_json()["tasks"]} <= {
            q for q in ("compliance", "finance", "support", "sales", "ib_ops") if can_see_queue(role, q)
        }


def test_nul_bytes_in_forms_and_query_strings_never_reach_the_database(client, as_role, sample):
    """PostgreSQL cannot store NUL: each form refuses it (400) or treats it as a failed
    sign-in, never a 500."""
    assert client.post("/login", data={"email": "a\x00@x.io", "password": "x"}).status_code in (302, 400)
    support = as_role("support")
    assert support.get("/clients", query_string={"q": "ab\x00c"}).status_code == 400
    assert support.get("/inbox", query_string={"q": "ab\x00c"}).status_code in (200, 400)
