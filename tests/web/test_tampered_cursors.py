"""Tampered page cursors answer 400 saying so, never 500 (inbox, task API, client list)."""

from __future__ import annotations

import base64
import json

import pytest


def _b64(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


TAMPERED = [
    "not-a-cursor",
    "%%%",
    _b64("x"),
    _b64([]),
    _b64(["a"]),
    _b64([2**70]),
    _b64([-1]),
    _b64([1.5]),
    _b64([True]),
    _b64({"id": 1}),
    "9" * 30,
    "\u0661\u0662",
    base64.urlsafe_b64encode(b"c" + b"9" * 40).decode(),
]
SORTED = [
    ("due", _b64(["not a time", 1])),
    ("due", _b64(["2026-01-01T00:00:00Z", 2**64])),
    ("priority", _b64(["high", 1])),
    ("priority", _b64([2**70, 1])),
]


@pytest.mark.parametrize("after", TAMPERED)
def test_task_api(client, tokens, sample, after):
    response = client.get("/api/tasks", query_string={"after": after}, headers=tokens["admin"])
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "after" in response.get_json()["error"]


@pytest.mark.parametrize("sort, after", SORTED)
def test_task_api_sorted(client, tokens, sample, sort, after):
    response = client.get("/api/tasks", query_string={"after": after, "sort": sort}, headers=tokens["admin"])
    assert response.status_code == 400, response.get_data(as_text=True)


@pytest.mark.parametrize("after", TAMPERED)
def test_inbox_page(as_role, sample, after):
    response = as_role("admin").get("/inbox", query_string={"after": after})
    assert response.status_code == 400, response.status_code


@pytest.mark.parametrize("after", TAMPERED)
def test_client_list(as_role, sample, after):
    response = as_role("admin").get("/clients", query_string={"after": after})
    assert response.status_code == 400, response.status_code
