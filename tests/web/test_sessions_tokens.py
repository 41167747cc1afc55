"""Sessions end when they should; API tokens expire and can be revoked (issue 16)."""

from datetime import timedelta

import pytest

from engine.db import unit_of_work
from engine.users import service as users_service
from engine.users.models import ApiToken
from engine.values import utcnow
from tests.web.conftest import PASSWORD, csrf, email, login


def copy_of_cookie(app, client):
    """Return a fresh client carrying a copy of `client`'s session cookie."""
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    return copy


def signed_in(client) -> bool:
    return client.get("/inbox").status_code == 200


def test_copied_cookie_fails_after_logout(app, users):
    c = login(app.test_client(), "support")
    stolen = copy_of_cookie(app, c)
    assert signed_in(stolen)
    c.post("/logout", data={"csrf_token": csrf(c)})
    assert not signed_in(stolen)


def test_copied_cookie_fails_after_deactivation_and_stays_dead(app, database, users):
    c = login(app.test_client(), "finance")
    assert signed_in(c)
    with unit_of_work(database) as s:
        users_service.deactivate(s, users_service.get_by_email(s, email("finance")), actor="ops")
    assert not signed_in(c)
    with unit_of_work(database) as s:
        users_service.activate(s, users_service.get_by_email(s, email("finance")), actor="ops")
    assert not signed_in(c), "reactivation must not revive an old session"
    assert signed_in(login(app.test_client(), "finance"))


@pytest.mark.parametrize("change", ["password", "reset", "role"])
def test_copied_cookie_fails_after_credential_change(app, database, users, change):
    c = login(app.test_client(), "sales")
    stolen = copy_of_cookie(app, c)
    with unit_of_work(database) as s:
        user = users_service.get_by_email(s, email("sales"))
        if change == "password":
            users_service.change_password(s, user, current=PASSWORD, new="a new long passphrase")
        elif change == "reset":
            users_service.reset_password(s, user, actor="ops")
        else:
            users_service.set_role(s, user, role="support", actor="ops")
    assert not signed_in(stolen)


def test_change_password_needs_the_current_one(database, users):
    with unit_of_work(database) as s:
        user = users_service.get_by_email(s, email("admin"))
        with pytest.raises(users_service.UserError, match="current password is wrong"):
            users_service.change_password(s, user, current="not it at all", new="x" * 12)
        generation = user.session_generation
    with unit_of_work(database) as s:
        assert users_service.get_by_email(s, email("admin")).session_generation == generation


def test_reset_password_forces_a_change_and_logs_in_with_the_temporary(app, database, users):
    with unit_of_work(database) as s:
        temporary = users_service.reset_password(s, users_service.get_by_email(s, email("ib_ops")), actor="ops")
    with unit_of_work(database) as s:
        user = users_service.get_by_email(s, email("ib_ops"))
        assert user.must_change_password
        assert users_service.authenticate(s, email("ib_ops"), temporary) is not None
        assert users_service.authenticate(s, email("ib_ops"), PASSWORD) is None


def test_tokens_expire(app, database, users, tokens):
    api = app.test_client()
    assert api.get("/api/tasks", headers=tokens["support"]).status_code == 200
    with unit_of_work(database) as s:
        user = users_service.get_by_email(s, email("support"))
        for row in users_service.list_tokens(s, user):
            assert row.expires_at - row.created_at == users_service.TOKEN_LIFETIME
            row.expires_at = utcnow() - timedelta(seconds=1)
    assert api.get("/api/tasks", headers=tokens["support"]).status_code == 401


def test_token_lifetime_is_configurable_and_last_use_recorded(app, database, users):
    with unit_of_work(database) as s:
        user = users_service.get_by_email(s, email("compliance"))
        token = users_service.create_token(s, user, lifetime=timedelta(days=7))
        with pytest.raises(users_service.UserError, match="lifetime must be positive"):
            users_service.create_token(s, user, lifetime=timedelta(0))
    r = app.test_client().get("/api/tasks", headers={"Authorization": "Bearer " + token})
    assert r.status_code == 200
    with unit_of_work(database) as s:
        [row] = users_service.list_tokens(s, users_service.get_by_email(s, email("compliance")))
        assert row.expires_at - row.created_at == timedelta(days=7)
        assert row.last_used_at is not None


def test_revoked_and_deactivated_tokens_answer_401(app, database, users, tokens):
    api = app.test_client()
    with unit_of_work(database) as s:
        [row] = users_service.list_tokens(s, users_service.get_by_email(s, email("finance")))
        users_service.revoke_token(s, token_id=row.id, actor="ops")
        users_service.deactivate(s, users_service.get_by_email(s, email("sales")), actor="ops")
    assert api.get("/api/tasks", headers=tokens["finance"]).status_code == 401
    assert api.get("/api/tasks", headers=tokens["sales"]).status_code == 401
    assert api.get("/api/tasks", headers=tokens["support"]).status_code == 200
    with unit_of_work(database) as s:
        with pytest.raises(users_service.UserError, match="no API token with id 999999"):
            users_service.revoke_token(s, token_id=999999, actor="ops")
        assert s.get(ApiToken, row.id).revoked_at is not None
