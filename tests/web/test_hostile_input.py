"""Hostile input through the web: each refused with 4xx naming the field, nothing stored."""
from __future__ import annotations

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
