"""Hostile input against the web layer: cross-site requests to the cookie-authenticated API."""
from engine.db import unit_of_work
from engine.tasks import service as tasks_service
from tests.web.conftest import csrf


def _task(database) -> int:
    with unit_of_work(database) as s:
        return tasks_service.create(s, queue="support", title="Call back")[0].id


def test_cross_site_form_post_to_api_with_session_cookie_is_refused(as_role, database):
    tid = _task(database)
    page = as_role("support")
    # What an empty <form method=post action=https://crm/api/...> on another site sends.
    r = page.post(f"/api/tasks/{tid}/claim", data="",
                  content_type="application/x-www-form-urlencoded",
                  headers={"Origin": "https://evil.example"})
    assert r.status_code == 400 and "CSRF" in r.get_data(as_text=True)
    with unit_of_work(database) as s:
        assert tasks_service.get(s, tid).assignee is None


def test_api_post_with_session_cookie_and_csrf_header_works(as_role, database):
    tid = _task(database)
    page = as_role("support")
    r = page.post(f"/api/tasks/{tid}/claim", headers={"X-CSRF-Token": csrf(page)})
    assert r.status_code == 200, r.get_data(as_text=True)


def test_bearer_request_needs_no_csrf_token(app, tokens, database):
    tid = _task(database)
    r = app.test_client().post(f"/api/tasks/{tid}/claim", headers=tokens["support"])
    assert r.status_code == 200, r.get_data(as_text=True)


def test_wrong_bearer_token_with_session_cookie_is_not_a_bypass(as_role, database):
    tid = _task(database)
    page = as_role("support")
    r = page.post(f"/api/tasks/{tid}/claim", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code in (400, 401)
    with unit_of_work(database) as s:
        assert tasks_service.get(s, tid).assignee is None


def test_authenticated_answers_are_not_stored_by_caches(as_role, app, tokens, sample):
    assert as_role("support").get("/clients/C1").headers["Cache-Control"] == "no-store"
    api = app.test_client().get("/api/tasks", headers=tokens["support"])
    assert api.status_code == 200 and api.headers["Cache-Control"] == "no-store"


def test_path_ids_beyond_bigint_answer_404(as_role, app, tokens):
    page = as_role("admin")
    for path in (f"/tasks/{2**63}", f"/tasks/{10**30}"):
        assert page.get(path).status_code == 404, path
    assert app.test_client().get(f"/api/tasks/{2**63}", headers=tokens["admin"]).status_code == 404
