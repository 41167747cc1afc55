"""The task and client JSON API (SPEC §3) and its OpenAPI document."""

import re

import pytest

from engine.db import unit_of_work
from engine.tasks import service as tasks_service
from tests.helpers import TASK_KEYS


@pytest.fixture
def api(app):
    return app.test_client()


def test_list_filters_and_visibility(api, tokens, sample):
    r = api.get("/api/tasks", headers=tokens["finance"])
    assert [t["id"] for t in r.json["tasks"]] == [sample["finance"]]
    task = r.json["tasks"][0]
    for key in TASK_KEYS:
        assert key in task
    r = api.get("/api/tasks?rule=sales-rule&client=C1&status=open", headers=tokens["admin"])
    assert [t["id"] for t in r.json["tasks"]] == [sample["sales"]]
    assert api.get("/api/tasks?queue=sales", headers=tokens["finance"]).status_code == 403
    r = api.get("/api/tasks?status=closed", headers=tokens["admin"])
    assert r.status_code == 400 and "status: unknown value 'closed'" in r.json["error"]
    assert api.get("/api/tasks?limit=0", headers=tokens["admin"]).status_code == 400


def test_pages_with_cursor(api, tokens, sample):
    seen, after = [], None
    while True:
        r = api.get("/api/tasks?limit=2" + (f"&after={after}" if after else ""), headers=tokens["admin"])
        seen += [t["id"] for t in r.json["tasks"]]
        after = r.json["next_after"]
        if not after:
            break
    assert seen == sorted(sample.values(), reverse=True)
    r = api.get(f"/api/tasks?after={max(sample.values())}", headers=tokens["admin"])
    assert max(sample.values()) not in [t["id"] for t in r.json["tasks"]]  # a plain id works


def test_claim_comment_resolve(api, tokens, sample):
    tid, h = sample["support"], tokens["support"]
    r = api.post(f"/api/tasks/{tid}/claim", headers=h)
    assert r.status_code == 200 and r.json["assignee"] == "support@example.com"
    assert api.post(f"/api/tasks/{tid}/claim", headers=tokens["admin"]).status_code == 409
    r = api.post(f"/api/tasks/{tid}/comment", headers=h, json={"body": "rang twice"})
    assert r.json["comments"][-1]["body"] == "rang twice"
    r = api.post(f"/api/tasks/{tid}/resolve", headers=h, json={})
    assert r.status_code == 400 and "resolution is required" in r.json["error"]
    r = api.post(f"/api/tasks/{tid}/resolve", headers=h, json={"resolution": "fixed"})
    assert (r.json["status"], r.json["resolution"]) == ("done", "fixed")
    history = api.get(f"/api/tasks/{tid}", headers=h).json["history"]
    assert [e["action"] for e in history] == ["created", "claimed", "commented", "done"]


def test_release_assign_wait_dismiss(api, tokens, sample):
    tid, h = sample["sales"], tokens["sales"]
    r = api.post(f"/api/tasks/{tid}/assign", headers=h, json={"assignee": "finance@example.com"})
    assert r.status_code == 400 and "cannot see the sales queue" in r.json["error"]
    r = api.post(f"/api/tasks/{tid}/assign", headers=h, json={"assignee": "admin@example.com"})
    assert r.json["assignee"] == "admin@example.com"
    assert api.post(f"/api/tasks/{tid}/release", headers=h).json["assignee"] is None
    r = api.post(f"/api/tasks/{tid}/wait", headers=h, json={"waiting_for": "callback"})
    assert (r.json["status"], r.json["waiting_for"]) == ("waiting", "callback")
    r = api.post(f"/api/tasks/{tid}/dismiss", headers=h, json={"reason": "duplicate"})
    assert r.json["status"] == "dismissed"
    assert api.post(f"/api/tasks/{tid}/explode", headers=h).status_code == 404
    assert (
        api.post(f"/api/tasks/{tid}/comment", headers=h, data="[1]", content_type="application/json").status_code == 400
    )


def test_domain_action_refused_by_role(api, tokens, sample):
    r = api.post(f"/api/tasks/{sample['support']}/kyc_approve", headers=tokens["support"])
    assert r.status_code == 403 and "may not approve kyc" in r.json["error"]


def test_hidden_tasks_are_not_found(api, tokens, sample):
    assert api.get(f"/api/tasks/{sample['finance']}", headers=tokens["sales"]).status_code == 404
    assert api.post(f"/api/tasks/{sample['finance']}/claim", headers=tokens["sales"]).status_code == 404


def test_create_manual_task(api, tokens, sample):
    r = api.post(
        "/api/tasks",
        headers=tokens["support"],
        json={"queue": "support", "title": "Password reset", "client": "C1", "priority": "urgent"},
    )
    assert r.status_code == 201
    assert (r.json["rule_id"], r.json["client"], r.json["priority"]) == (None, "C1", "urgent")
    assert r.json["due_at"] is not None
    r = api.post("/api/tasks", headers=tokens["support"], json={"queue": "support"})
    assert r.status_code == 400 and r.json["error"] == "title is required"
    r = api.post("/api/tasks", headers=tokens["support"], json={"queue": "support", "title": "x", "priority": "asap"})
    assert "priority: unknown 'asap'" in r.json["error"]


def test_bulk_and_counts(api, tokens, sample, database):
    with unit_of_work(database) as s:
        extra = tasks_service.create(s, queue="finance", title="more")[0].id
    r = api.post(
        "/api/tasks/bulk",
        headers=tokens["finance"],
        json={"op": "claim", "ids": [sample["finance"], extra, sample["sales"]]},
    )
    assert r.json["results"] == {str(sample["finance"]): "ok", str(extra): "ok", str(sample["sales"]): "no such task"}
    counts = api.get("/api/tasks/counts", headers=tokens["finance"]).json
    assert counts["mine"] == 2 and counts["queues"] == {"finance": 2} and counts["unassigned"] == 0
    r = api.post(
        "/api/tasks/bulk",
        headers=tokens["finance"],
        json={"op": "assign", "ids": [extra], "assignee": "ghost@example.com"},
    )
    assert r.status_code == 400 and "no active staff user" in r.json["error"]
    assert api.post("/api/tasks/bulk", headers=tokens["finance"], json={"op": "claim", "ids": "1"}).status_code == 400


def test_client_profile_json(api, tokens, sample):
    r = api.get("/api/clients/C1", headers=tokens["compliance"])
    for key in ("ref", "status", "kyc", "wallets", "accounts", "ib", "commissions", "notifications", "tasks"):
        assert key in r.json
    from engine.users.permissions import can_see_queue

    queues = ("compliance", "finance", "support", "sales", "ib_ops")
    # only the tasks of queues compliance may open; admin sees all five
    assert sorted(t["queue"] for t in r.json["tasks"]) == sorted(q for q in queues if can_see_queue("compliance", q))
    assert len(api.get("/api/clients/C1", headers=tokens["admin"]).json["tasks"]) == 5
    assert api.get("/api/clients/NOPE", headers=tokens["compliance"]).status_code == 404


def test_partner_sees_no_tasks_and_no_profiles(api, tokens, sample, as_role):
    h = tokens["partner"]
    assert api.get("/api/tasks", headers=h).status_code == 403
    assert api.get(f"/api/tasks/{sample['sales']}", headers=h).status_code == 403
    assert api.get("/api/clients/C1", headers=h).status_code == 403
    page = as_role("partner")
    assert page.get("/clients/C1").status_code == 403
    assert page.get("/inbox").status_code == 403
    home = page.get("/")  # a partner lands on its own IB's pages
    assert home.status_code == 302 and home.headers["Location"].endswith("/partner")


def test_openapi_covers_every_api_route(app, api):
    doc = api.get("/api/openapi.json").json
    assert doc["openapi"].startswith("3.")
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        assert path in doc["paths"], f"{rule.rule} is missing from the OpenAPI document"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in doc["paths"][path], f"{method} {rule.rule} is undocumented"
    refs = re.findall(r'"\$ref": "#/components/schemas/(\w+)"', str(doc).replace("'", '"'))
    assert set(refs) <= set(doc["components"]["schemas"])


def test_openapi_bodies_are_the_schemas_the_api_validates_with(api, tokens, sample):
    """The document is generated from web/api_schemas: what it says is what is refused."""
    from web import api_schemas

    doc = api.get("/api/openapi.json").json["components"]["schemas"]
    bulk, new = doc["Bulk"], doc["NewTask"]
    assert set(bulk["properties"]) == set(api_schemas.BulkSchema().fields)
    assert sorted(bulk["required"]) == ["ids", "op"] and bulk["additionalProperties"] is False
    assert bulk["properties"]["ids"]["items"]["maximum"] == 2**63 - 1
    assert set(new["properties"]) == set(api_schemas.NewTaskSchema().fields)
    assert set(doc["Task"]["properties"]) >= set(
        api.get(f"/api/tasks/{sample['finance']}", headers=tokens["finance"]).json
    )
    r = api.post("/api/tasks/bulk", headers=tokens["finance"], json={"op": "claim", "ids": [2**64], "force": True})
    assert r.status_code == 400
    assert "ids.0:" in r.json["error"] and "force: Unknown field." in r.json["error"]
    r = api.post("/api/tasks", headers=tokens["support"], json={"queue": "support", "title": ["not", "text"]})
    assert r.status_code == 400 and r.json["error"] == "title: Not a valid string."
