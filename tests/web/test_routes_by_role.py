"""Every staff route answers each role as the matrix says (pages and API)."""

import pytest

from engine.users.models import ROLES

STAFF = {"admin", "compliance", "finance", "support", "sales", "ib_ops"}

# (method, path, the roles that get in); everyone else gets 403.
ROUTES = [
    ("GET", "/inbox", STAFF),
    ("GET", "/inbox/counts", STAFF),
    ("GET", "/tasks/new", STAFF),
    ("GET", "/clients/C1", STAFF),
    ("GET", "/clients?q=c1", STAFF),
    ("GET", "/audit", {"admin", "compliance"}),
    ("GET", "/rules", {"admin", "compliance"}),
    ("GET", "/wires", {"admin", "compliance", "finance"}),
    ("GET", "/wires/upload", {"admin", "finance"}),
    ("GET", "/api/tasks", STAFF),
    ("GET", "/api/tasks/counts", STAFF),
    ("GET", "/api/clients/C1", STAFF),
    ("POST", "/api/events", {"admin"}),
]


@pytest.mark.parametrize("role", ROLES)
def test_routes(role, app, as_role, tokens, sample):
    page, api = as_role(role), app.test_client()
    for method, path, allowed in ROUTES:
        if path.startswith("/api/"):
            r = api.open(path, method=method, headers=tokens[role], json=[])
        else:
            r = page.open(path, method=method)
        expected = (200, 202) if role in allowed else (403,)
        assert r.status_code in expected, (role, method, path, r.status_code)


@pytest.mark.parametrize("role", ROLES)
def test_task_detail_only_in_own_queues(role, as_role, sample):
    c = as_role(role)
    for queue, task_id in sample.items():
        visible = role == "admin" or role == queue
        assert c.get(f"/tasks/{task_id}").status_code == (200 if visible else 403 if role == "partner" else 404)


def test_anonymous_api_gets_401(client, sample):
    assert client.get("/api/tasks").status_code == 401
    assert client.get("/api/tasks", headers={"Authorization": "Bearer nope"}).status_code == 401
