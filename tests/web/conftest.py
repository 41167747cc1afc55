"""Web test helpers: one user per role, logged-in clients, bearer tokens, sample tasks."""

from __future__ import annotations

import re

import pytest

from engine.db import unit_of_work
from engine.events.store import record
from engine.tasks import service as tasks_service
from engine.users import service as users_service
from engine.users.models import ROLES, User
from engine.values import utcnow
from tests.helpers import registered

PASSWORD = "correct horse battery"


def email(role: str) -> str:
    return f"{role}@example.com"


@pytest.fixture(scope="session")
def password_hash() -> str:
    """Hash the test password once (scrypt is slow on purpose)."""
    from werkzeug.security import generate_password_hash

    return generate_password_hash(PASSWORD, method="scrypt")


@pytest.fixture
def users(database, password_hash):
    """Create one user per role; return {role: email}."""
    with unit_of_work(database) as s:
        for role in ROLES:
            s.add(
                User(
                    email=email(role),
                    role=role,
                    password_hash=password_hash,
                    active=True,
                    failed_logins=0,
                    created_at=utcnow(),
                    ib_id="IB-1" if role == "partner" else None,
                )
            )
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
            task, _ = tasks_service.create(
                s,
                queue=queue,
                title=f"{queue} follow-up",
                client_ref="C1",
                rule_id=f"{queue}-rule",
                ruleset_version="abc123def4567890",
                explanation={
                    "rule": f"{queue}-rule",
                    "description": f"Why {queue} acts",
                    "ruleset_version": "abc123def4567890",
                    "events": [seq],
                    "facts": {"client.status": "pending", "event.amount": "250 USD"},
                },
            )
            ids[queue] = task.id
    return ids
