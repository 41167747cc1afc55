"""Web test helpers: one user per role, logged-in clients, bearer tokens, sample tasks."""

from __future__ import annotations

import re

import pytest

from engine.db import unit_of_work
from engine.events.store import record
from engine.tasks import service as tasks_service
from engine.users import service as users_service
from engine.users.models import ROLES
from tests.helpers import add_staff, registered, rule_task
from tests.helpers import staff_email as email

PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def password_hash() -> str:
    """Hash the test password once (scrypt is slow on purpose)."""
    from werkzeug.security import generate_password_hash

    return generate_password_hash(PASSWORD, method="scrypt")


@pytest.fixture
def users(database, password_hash):
    """Create one user per role; return {role: email}."""
    with unit_of_work(database) as s:
        add_staff(s, password_hash)
    return {role: email(role) for role in ROLES}


def csrf(client) -> str:
    """Return the session's CSRF token (loading the login page creates it)."""
    html = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html)[1]


def login(client, role: str):
    """Log `client` in as the user of `role`."""
    response = client.post("/login", data={"email": email(role), "password": PASSWORD, "csrf_token": csrf(client)})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def as_role(app, users):
    """Return a factory of test clients logged in as a role."""
    return lambda role: login(app.test_client(), role)


@pytest.fixture
def tokens(database, users):
    """Return {role: bearer header} for every role."""
    with unit_of_work(database) as s:
        return {
            role: {"Authorization": "Bearer " + users_service.create_token(s, users_service.get_by_email(s, mail))}
            for role, mail in users.items()
        }


@pytest.fixture
def sample(database):
    """A client C1 with a registration event and one rule task per queue; return their ids."""
    ids = {}
    with unit_of_work(database) as s:
        seq, _ = record(s, registered("C1"), via="api")
        for queue in ("compliance", "finance", "support", "sales", "ib_ops"):
            why = {"description": f"Why {queue} acts", "facts": {"client.status": "pending", "event.amount": "250 USD"}}
            ids[queue] = rule_task(s, queue, "C1", f"{queue} follow-up", seq, version="abc123def4567890", why=why).id
    return ids
