"""A NUL typed into any filter, address or form is a clear 400 (or the form's own message),
never a 500: PostgreSQL cannot store NUL in text. Each case was a 500 on PostgreSQL."""

from __future__ import annotations

import pytest

from tests.web.conftest import csrf

FILTERS = [
    "/inbox?queue=a%00b",
    "/inbox?assignee=a%00b",
    "/audit?actor=a%00b",
    "/clients/a%00b",
    "/clients?country=a%00b",
    "/clients?q=a%00b",
    "/tasks/1?x=%00",
]
API_FILTERS = ["/api/tasks?client=a%00b", "/api/tasks?rule=a%00b", "/api/tasks?assignee=a%00b", "/api/clients/a%00b"]


@pytest.mark.parametrize("path", FILTERS)
def test_a_nul_in_an_address_or_filter_is_a_clear_400(as_role, sample, path):
    response = as_role("admin").get(path)
    assert response.status_code == 400, response.status_code
    assert "contains a NUL character" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", API_FILTERS)
def test_a_nul_in_an_api_filter_is_a_clear_400(client, tokens, sample, path):
    response = client.get(path, headers=tokens["admin"])
    assert response.status_code == 400 and "contains a NUL character" in response.json["error"]


@pytest.mark.parametrize(
    "path, data, message",
    [
        ("/tasks/new", {"queue": "support", "title": "a\x00b"}, "title: contains a NUL character"),
        (
            "/tasks/new",
            {"queue": "support", "title": "ok", "description": "a\x00b"},
            "description: contains a NUL character",
        ),
        ("/admin/users", {"email": "a\x00b@x.io", "role": "support"}, "not an email address"),
        ("/inbox/views", {"name": "a\x00b"}, "a view needs a name"),
    ],
)
def test_a_nul_in_a_form_is_said_on_the_form(as_role, sample, path, data, message):
    staff = as_role("admin")
    response = staff.post(path, data={"csrf_token": csrf(staff), **data}, follow_redirects=True)
    assert response.status_code in (200, 400), response.status_code
    assert message in response.get_data(as_text=True).replace("&#39;", "'")
