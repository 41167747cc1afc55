"""The staff users page, the own password page and the error pages."""

import re

import pytest
from sqlalchemy import select

from engine.audit.models import AuditEntry
from engine.db import unit_of_work
from engine.users import service as users_service
from engine.users.models import ROLES
from tests.web.conftest import PASSWORD, csrf, email, login


def user_id(database, role: str) -> int:
    with unit_of_work(database) as s:
        return users_service.get_by_email(s, email(role)).id


def audit_actions(database, target: str) -> list[tuple[str, str, str | None]]:
    """The administrative changes audited for `target` (its own sign-ins left out)."""
    with unit_of_work(database) as s:
        return [
            (e.actor, e.action, e.reason)
            for e in s.scalars(
                select(AuditEntry)
                .where(AuditEntry.target_id == target, AuditEntry.action.not_like("user.login%"))
                .order_by(AuditEntry.id)
            )
        ]


def post(client, url: str, **data):
    return client.post(url, data={"csrf_token": csrf(client), **data})


ADMIN_POSTS = [
    "/admin/users",
    "/admin/users/{id}/deactivate",
    "/admin/users/{id}/activate",
    "/admin/users/{id}/role",
    "/admin/users/{id}/reset-password",
    "/admin/users/{id}/tokens",
    "/admin/users/{id}/tokens/1/revoke",
    "/admin/users/{id}/reset-2fa",
]


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_non_admins_get_403_on_every_admin_route(as_role, database, role):
    c = as_role(role)
    uid = user_id(database, "support")
    assert c.get("/admin/users").status_code == 403
    assert c.get(f"/admin/users/{uid}").status_code == 403
    for url in ADMIN_POSTS:
        assert post(c, url.format(id=uid), role="admin").status_code == 403, url
    with unit_of_work(database) as s:
        assert users_service.get_by_email(s, email("support")).role == "support"


def test_admin_routes_need_login_and_csrf(app, as_role, database):
    uid = user_id(database, "support")
    anonymous = app.test_client()
    assert anonymous.get("/admin/users").headers["Location"].startswith("/login")
    admin = as_role("admin")
    for url in ADMIN_POSTS:
        assert admin.post(url.format(id=uid), data={"role": "admin"}).status_code == 400, url
    assert admin.post("/account/password", data={}).status_code == 400


def test_admin_lists_and_creates_a_user_password_shown_once(as_role, database):
    admin = as_role("admin")
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "Staff users" in page and email("finance") in page
    r = post(admin, "/admin/users", email="New.Person@Broker.test", name="New Person", role="partner", ib_id="IB-9")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    shown = re.search(r'<code id="secret">([^<]+)</code>', r.get_data(as_text=True))[1]
    with unit_of_work(database) as s:
        user = users_service.authenticate(s, "new.person@broker.test", shown)
        assert (user.role, user.ib_id, user.name) == ("partner", "IB-9", "New Person")
    assert shown not in admin.get("/admin/users").get_data(as_text=True)
    assert audit_actions(database, "new.person@broker.test") == [(email("admin"), "user.create", None)]


def test_create_refuses_bad_input_and_stores_nothing(as_role, database):
    admin = as_role("admin")
    r = post(admin, "/admin/users", email="p@broker.test", role="partner")
    assert r.status_code == 400 and "needs the IB id" in r.get_data(as_text=True)
    r = post(admin, "/admin/users", email=email("sales"), role="sales")
    assert r.status_code == 400 and "already exists" in r.get_data(as_text=True)
    with unit_of_work(database) as s:
        assert users_service.get_by_email(s, "p@broker.test") is None


def test_deactivate_refuses_open_session_and_tokens_at_once(app, as_role, database, tokens):
    victim = as_role("support")
    assert victim.get("/inbox").status_code == 200
    admin = as_role("admin")
    uid = user_id(database, "support")
    r = post(admin, f"/admin/users/{uid}/deactivate", reason="left the company")
    assert r.status_code == 302
    assert victim.get("/inbox").status_code == 302
    assert app.test_client().get("/api/tasks", headers=tokens["support"]).status_code == 401
    assert "deactivated" in admin.get(f"/admin/users/{uid}").get_data(as_text=True)
    post(admin, f"/admin/users/{uid}/activate", reason="came back")
    assert victim.get("/inbox").status_code == 302, "old sessions stay ended"
    assert audit_actions(database, email("support")) == [
        (email("admin"), "user.deactivate", "left the company"),
        (email("admin"), "user.activate", "came back"),
    ]


def test_admin_cannot_deactivate_or_re_role_themselves(as_role, database):
    admin = as_role("admin")
    uid = user_id(database, "admin")
    r = post(admin, f"/admin/users/{uid}/deactivate")
    assert "cannot deactivate your own account" in admin.get(r.headers["Location"]).get_data(as_text=True)
    post(admin, f"/admin/users/{uid}/role", role="support")
    with unit_of_work(database) as s:
        user = users_service.get_by_email(s, email("admin"))
        assert (user.active, user.role) == (True, "admin")


def test_change_role_ends_sessions_and_is_audited(as_role, database):
    victim = as_role("sales")
    admin = as_role("admin")
    uid = user_id(database, "sales")
    post(admin, f"/admin/users/{uid}/role", role="compliance", reason="moved team")
    assert victim.get("/inbox").status_code == 302
    assert audit_actions(database, email("sales")) == [(email("admin"), "user.role", "moved team")]
    r = post(admin, f"/admin/users/{uid}/role", role="wizard")
    assert "unknown role" in admin.get(r.headers["Location"]).get_data(as_text=True)


def test_reset_password_forces_change_before_anything_else(app, as_role, database):
    admin = as_role("admin")
    uid = user_id(database, "finance")
    r = post(admin, f"/admin/users/{uid}/reset-password", reason="forgot it")
    temporary = re.search(r'<code id="secret">([^<]+)</code>', r.get_data(as_text=True))[1]
    c = app.test_client()
    r = c.post("/login", data={"email": email("finance"), "password": temporary, "csrf_token": csrf(c)})
    assert r.status_code == 302
    assert c.get("/inbox").headers["Location"] == "/account/password"
    assert c.get("/clients/C1").headers["Location"] == "/account/password"
    assert c.get("/account/password").status_code == 200
    r = post(
        c,
        "/account/password",
        current_password=temporary,
        new_password="my own passphrase",
        confirm_password="my own passphrase",
    )
    assert r.status_code == 302
    assert c.get("/inbox").status_code == 200, "the session that changed it stays valid"
    assert [a for _, a, _ in audit_actions(database, email("finance"))] == [
        "user.reset_password",
        "user.change_password",
    ]


def test_own_password_change_keeps_this_session_and_ends_others(as_role, database):
    here, elsewhere = as_role("compliance"), as_role("compliance")

    def change(current: str, new: str, confirm: str):
        form = {"current_password": current, "new_password": new, "confirm_password": confirm}
        return post(here, "/account/password", **form)

    r = change("wrong one", "x" * 12, "x" * 12)
    assert r.status_code == 400 and "current password is wrong" in r.get_data(as_text=True)
    r = change(PASSWORD, "another passphrase", "different")
    assert r.status_code == 400 and "differ" in r.get_data(as_text=True)
    assert change(PASSWORD, "another passphrase", "another passphrase").status_code == 302
    assert here.get("/inbox").status_code == 200
    assert elsewhere.get("/inbox").status_code == 302


def test_issue_and_revoke_a_token_in_the_page(app, as_role, database):
    admin = as_role("admin")
    uid = user_id(database, "ib_ops")
    r = post(admin, f"/admin/users/{uid}/tokens", days="30")
    token = re.search(r'<code id="secret">([^<]+)</code>', r.get_data(as_text=True))[1]
    bearer = {"Authorization": "Bearer " + token}
    assert app.test_client().get("/api/tasks", headers=bearer).status_code == 200
    assert post(admin, f"/admin/users/{uid}/tokens", days="0").status_code == 302
    with unit_of_work(database) as s:
        [row] = users_service.list_tokens(s, users_service.get(s, uid))
        token_id = row.id
    other = user_id(database, "sales")
    assert post(admin, f"/admin/users/{other}/tokens/{token_id}/revoke").status_code == 404
    assert post(admin, f"/admin/users/{uid}/tokens/{token_id}/revoke").status_code == 302
    assert app.test_client().get("/api/tasks", headers=bearer).status_code == 401
    assert [a for _, a, _ in audit_actions(database, email("ib_ops"))] == ["token.create", "token.revoke"]


def test_unknown_user_is_404(as_role):
    admin = as_role("admin")
    assert admin.get("/admin/users/999999").status_code == 404
    assert post(admin, "/admin/users/999999/deactivate").status_code == 404


def test_error_pages_in_layout_and_json_for_api(as_role, sample):
    support = as_role("support")
    r = support.get("/admin/users")
    assert r.status_code == 403 and "Not allowed" in r.get_data(as_text=True)
    assert 'class="top"' in r.get_data(as_text=True) and "Back to the start page" in r.get_data(as_text=True)
    missing = support.get("/tasks/999999")
    hidden = support.get(f"/tasks/{sample['finance']}")
    assert missing.status_code == hidden.status_code == 404
    assert missing.get_data(as_text=True).replace("999999", str(sample["finance"])) == hidden.get_data(as_text=True)
    r = support.get("/no/such/page")
    assert r.status_code == 404 and "Not found" in r.get_data(as_text=True)
    r = support.get("/api/no-such-thing")
    assert r.status_code == 404 and r.is_json and "error" in r.get_json()


def test_500_is_a_page_without_the_cause(app, as_role):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError("secret internal detail")

    r = as_role("support").get("/boom-for-test")
    assert r.status_code == 500
    body = r.get_data(as_text=True)
    assert "Something went wrong" in body and "secret internal detail" not in body


def test_admin_resets_a_lost_second_factor_with_a_reason(as_role, database):
    from engine.users import totp

    uid = user_id(database, "finance")
    with unit_of_work(database) as s:
        user = users_service.get_by_email(s, email("finance"))
        row = totp.begin(s, user)
        row.confirmed_at = row.created_at
    finance = as_role("finance")
    admin = as_role("admin")
    assert "Reset two-factor login" in admin.get(f"/admin/users/{uid}").get_data(as_text=True)
    refused = post(admin, f"/admin/users/{uid}/reset-2fa", reason="")
    assert "needs a reason" in admin.get(refused.headers["Location"]).get_data(as_text=True)
    with unit_of_work(database) as s:
        assert totp.is_enrolled(s, uid)
    post(admin, f"/admin/users/{uid}/reset-2fa", reason="phone lost, ticket 881")
    with unit_of_work(database) as s:
        assert not totp.is_enrolled(s, uid)
    assert audit_actions(database, email("finance"))[-1] == (email("admin"), "user.reset_2fa", "phone lost, ticket 881")
    assert finance.get("/inbox").status_code == 302  # the session ended
    assert "Two-factor login is off" in admin.get(f"/admin/users/{uid}").get_data(as_text=True)
