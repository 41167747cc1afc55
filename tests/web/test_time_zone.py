"""A user's time zone: set on the account page, used by every time the pages show."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.audit.models import AuditEntry
from engine.db import unit_of_work
from engine.users.models import User
from tests.web.conftest import email

AT = datetime(2026, 11, 2, 22, 10, 30, 123456, tzinfo=UTC)


def _token(page: str) -> str:
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', page)[1]


def _set(client, zone: str):
    token = _token(client.get("/account/time-zone").get_data(as_text=True))
    return client.post("/account/time-zone", data={"time_zone": zone, "csrf_token": token})


def _stored(database, role: str):
    with unit_of_work(database) as s:
        return s.query(User).filter_by(email=email(role)).one().time_zone


def _audit_row(database):
    with unit_of_work(database) as s:
        s.add(
            AuditEntry(
                at=AT,
                actor="admin@example.com",
                action="user.create",
                target_type="user",
                target_id="1",
                reason="tz test",
            )
        )


def test_times_show_in_utc_until_a_zone_is_chosen_then_in_that_zone(as_role, database):
    _audit_row(database)
    admin = as_role("admin")
    page = admin.get("/audit").get_data(as_text=True)
    assert ">2026-11-02 22:10</time>" in page and "22:10:30.123456" not in page
    assert _set(admin, "Asia/Tokyo").status_code == 302
    assert _stored(database, "admin") == "Asia/Tokyo"
    page = admin.get("/audit").get_data(as_text=True)
    assert ">2026-11-03 07:10</time>" in page
    assert as_role("compliance").get("/audit").status_code in (200, 403)
    assert _stored(database, "compliance") is None  # one user's setting, not everyone's


def test_empty_zone_means_utc_again(as_role, database):
    admin = as_role("admin")
    _set(admin, "Europe/Berlin")
    assert _set(admin, "").status_code == 302
    assert _stored(database, "admin") is None
    assert 'Now: <strong id="tz-current">UTC</strong>' in admin.get("/account/time-zone").get_data(as_text=True)


def test_an_unknown_zone_is_refused_and_nothing_stored(as_role, database):
    admin = as_role("admin")
    _set(admin, "Europe/Berlin")
    for bad in ("Mars/Olympus", "../../etc/passwd", "x" * 100):
        response = _set(admin, bad)
        assert response.status_code == 400, bad
        assert "is not an IANA zone name" in response.get_data(as_text=True)
        assert _stored(database, "admin") == "Europe/Berlin"


def test_the_setting_needs_csrf_and_a_login(app, as_role, database):
    assert app.test_client().get("/account/time-zone").status_code == 302
    admin = as_role("admin")
    assert admin.post("/account/time-zone", data={"time_zone": "Asia/Tokyo"}).status_code == 400
    assert _stored(database, "admin") is None


def test_every_role_can_choose_its_zone(as_role, database, users):
    for role in users:
        assert _set(as_role(role), "America/New_York").status_code == 302, role
        assert _stored(database, role) == "America/New_York"
