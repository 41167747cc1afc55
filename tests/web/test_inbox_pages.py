"""The inbox, task detail, client profile and manual task pages, as staff use them."""

import re

from engine.db import unit_of_work
from engine.tasks import service as tasks_service
from engine.values import clock, parse_datetime
from tests.web.conftest import csrf


def _post(c, path, **data):
    return c.post(path, data={"csrf_token": csrf(c), **data})


def _rows(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr class="[^"]*" id="task-(\d+)"', html)]


def test_inbox_shows_only_own_queues_with_counts(as_role, sample):
    html = as_role("finance").get("/inbox").get_data(as_text=True)
    assert _rows(html) == [sample["finance"]]
    assert 'hx-get="/inbox/counts' in html and 'id="count-finance"' not in html
    html = as_role("finance").get("/inbox/counts").get_data(as_text=True)
    assert 'id="count-finance">1<' in html and 'id="count-compliance"' not in html
    assert 'id="count-unassigned">1<' in html
    html = as_role("admin").get("/inbox").get_data(as_text=True)
    assert sorted(_rows(html)) == sorted(sample.values())
    assert as_role("finance").get("/inbox?queue=compliance").status_code == 403


def test_filters_sort_and_bad_filter_message(as_role, sample):
    c = as_role("admin")
    assert _rows(c.get("/inbox?rule=sales-rule").get_data(as_text=True)) == [sample["sales"]]
    assert _rows(c.get("/inbox?sort=oldest").get_data(as_text=True))[0] == sample["compliance"]
    html = c.get("/inbox?sort=sideways").get_data(as_text=True)
    assert "sort: unknown value &#39;sideways&#39;" in html


def test_overdue_is_highlighted_and_counted(database, as_role, sample):
    clock.freeze(parse_datetime("2026-11-02T12:00:00Z"))
    with unit_of_work(database) as s:
        task = tasks_service.get(s, sample["support"])
        task.due_at = parse_datetime("2026-11-02T11:00:00Z")
    html = as_role("support").get("/inbox").get_data(as_text=True)
    assert 'class="prio-normal is-overdue" id="task-%d"' % sample["support"] in html
    assert 'id="count-overdue">1<' in as_role("support").get("/inbox/counts").get_data(as_text=True)
    assert _rows(as_role("support").get("/inbox?view=overdue").get_data(as_text=True)) == [sample["support"]]


def test_keyset_pages(database, as_role):
    with unit_of_work(database) as s:
        ids = [tasks_service.create(s, queue="sales", title=f"t{n}")[0].id for n in range(55)]
    c = as_role("sales")
    html = c.get("/inbox").get_data(as_text=True)
    assert _rows(html) == ids[::-1][:50]
    next_url = re.search(r'href="([^"]+)" rel="next"', html)[1].replace("&amp;", "&")
    assert _rows(c.get(next_url).get_data(as_text=True)) == ids[::-1][50:]


def test_work_a_task_to_done(as_role, sample):
    c = as_role("compliance")
    tid = sample["compliance"]
    assert _post(c, f"/tasks/{tid}/claim").status_code == 302
    html = c.get(f"/tasks/{tid}").get_data(as_text=True)
    assert "compliance@example.com" in html and "claim lease until" in html
    _post(c, f"/tasks/{tid}/comment", body="Called the client")
    _post(c, f"/tasks/{tid}/wait", waiting_for="new passport scan")
    assert "waiting for new passport scan" in c.get(f"/tasks/{tid}").get_data(as_text=True)
    _post(c, f"/tasks/{tid}/resume")
    _post(c, f"/tasks/{tid}/resolve", resolution="Documents verified")
    html = c.get(f"/tasks/{tid}").get_data(as_text=True)
    assert 'id="task-status">done' in html and "Documents verified" in html
    assert "Called the client" in html
    r = _post(c, f"/tasks/{tid}/claim")
    assert r.status_code == 409 and "already done" in r.get_data(as_text=True)


def test_claim_held_by_someone_else_is_refused(as_role, sample, database):
    tid = sample["finance"]
    with unit_of_work(database) as s:
        tasks_service.claim(s, tasks_service.get(s, tid), actor="someone@example.com")
    c = as_role("finance")
    r = _post(c, f"/tasks/{tid}/claim")
    assert r.status_code == 409 and "held by someone@example.com" in r.get_data(as_text=True)
    clock.freeze(parse_datetime("2099-01-01T00:00:00Z"))  # the lease has long lapsed
    html = c.get("/inbox").get_data(as_text=True)
    with unit_of_work(database) as s:
        assert tasks_service.get(s, tid).assignee is None
    assert "someone@example.com" not in html


def test_explanation_panel(as_role, sample):
    html = as_role("sales").get(f"/tasks/{sample['sales']}").get_data(as_text=True)
    assert 'id="exp-rule">sales-rule<' in html and "Why sales acts" in html
    assert "abc123def456" in html
    assert '<th scope="row">client.status</th><td>pending</td>' in html
    assert "<code>client.registered</code> test/" in html  # the stored triggering event
    assert 'href="/clients/C1"' in html  # the client panel


def test_bulk_assign_and_resolve(as_role, sample, database):
    with unit_of_work(database) as s:
        extra = tasks_service.create(s, queue="support", title="second")[0].id
    c = as_role("admin")
    r = c.post(
        "/inbox/bulk",
        data={
            "csrf_token": csrf(c),
            "op": "assign",
            "assignee": "support@example.com",
            "ids": [sample["support"], extra, sample["finance"]],
        },
    )
    html = c.get(r.headers["Location"]).get_data(as_text=True)
    assert "Bulk assign: 2 of 3 tasks done." in html
    assert f"#{sample['finance']}: no such task" in html  # support cannot see finance
    s_client = as_role("support")
    assert 'id="count-mine">2<' in s_client.get("/inbox/counts").get_data(as_text=True)
    r = s_client.post(
        "/inbox/bulk", data={"csrf_token": csrf(s_client), "op": "resolve", "resolution": "answered", "ids": [extra]}
    )
    assert "Bulk resolve: 1 of 1" in s_client.get(r.headers["Location"]).get_data(as_text=True)


def test_saved_views(as_role, sample):
    c = as_role("admin")
    r = _post(c, "/inbox/views", name="Sales only", queue="sales", sort="due")
    assert r.headers["Location"].startswith("/inbox?")
    html = c.get("/inbox").get_data(as_text=True)
    assert "Sales only" in html and "sort=due" in html
    assert "Sales only" not in as_role("sales").get("/inbox").get_data(as_text=True)
    view_id = re.search(r"/inbox/views/(\d+)/delete", html)[1]
    _post(c, f"/inbox/views/{view_id}/delete")
    assert "Sales only" not in c.get("/inbox").get_data(as_text=True)


def test_manual_task_from_client_profile(as_role, sample):
    c = as_role("support")
    html = c.get("/clients/C1").get_data(as_text=True)
    assert 'href="/tasks/new?client=C1"' in html
    assert 'value="C1"' in c.get("/tasks/new?client=C1").get_data(as_text=True)
    r = _post(
        c,
        "/tasks/new",
        queue="support",
        client="C1",
        title="Cannot log in",
        priority="high",
        description="Client says the <b>reset link</b> expired twice",
    )
    html = c.get(r.headers["Location"]).get_data(as_text=True)
    assert "Cannot log in" in html and "Created by hand by support@example.com" in html
    # what the creator wrote is on the task page, escaped
    assert '<p class="task-description' in html
    assert "Client says the &lt;b&gt;reset link&lt;/b&gt; expired twice" in html
    profile = c.get("/clients/C1").get_data(as_text=True)
    assert "task.created" in profile and "Cannot log in" in profile  # audit + open tasks
    r = _post(c, "/tasks/new", queue="finance", title="not my queue")
    assert "not a queue you may create tasks in" in r.get_data(as_text=True)
    r = _post(c, "/tasks/new", queue="support", client="NOPE", title="x")
    assert "client: no client &#39;NOPE&#39;" in r.get_data(as_text=True)


def test_client_profile_sections(as_role, sample):
    html = as_role("compliance").get("/clients/C1").get_data(as_text=True)
    for heading in (
        "Overview: needs action now",
        "KYC and documents",
        "Money",
        "Wallets",
        "Trading accounts",
        "IB chain and commissions",
        "Tasks",
        "Timeline",
        "Notes",
        "Audit of manual changes",
    ):
        assert heading in html
    open_tasks = html.split('id="open-tasks"')[1].split("</ul>")[0]
    assert open_tasks.count('href="/tasks/') == 1  # compliance sees its own queue's task only
    everything = as_role("admin").get("/clients/C1").get_data(as_text=True)
    assert everything.split('id="open-tasks"')[1].split("</ul>")[0].count('href="/tasks/') == 5
    assert as_role("compliance").get("/clients/NOPE").status_code == 404


def test_audit_page_lists_manual_changes(database, as_role):
    from engine.audit import service as audit_service

    with unit_of_work(database) as s:
        audit_service.record(
            s,
            actor="admin@example.com",
            action="client.status",
            target_type="client",
            target_id="C1",
            reason="fraud check",
        )
    html = as_role("compliance").get("/audit?target_id=C1").get_data(as_text=True)
    assert "fraud check" in html and 'href="/clients/C1"' in html
    assert "fraud check" not in as_role("admin").get("/audit?target_id=C2").get_data(as_text=True)
