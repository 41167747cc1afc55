"""The permission matrix, table-driven: every role x every action, allowed and refused."""

import pytest

from engine.users import permissions
from engine.users.models import ROLES

A, C, F, S, SA, I, P = "admin", "compliance", "finance", "support", "sales", "ib_ops", "partner"
STAFF = {A, C, F, S, SA, I}

# The expected matrix, written out by hand so a change to permissions.py must change it too.
EXPECTED = {
    "events.post": {A},
    "tasks.view": STAFF,
    "tasks.work": STAFF,
    "tasks.assign": STAFF,
    "tasks.bulk": STAFF,
    "tasks.create": STAFF,
    "clients.view": STAFF,
    "clients.note": STAFF,
    "documents.review": {A, C},
    "documents.request": {A, C, S},
    "kyc.link": {A, C},
    "documents.view": {A, C},
    "documents.upload": {A, C, S},
    "withdrawals.approve": {A, C, F},
    "withdrawals.view": {A, C, F, S},
    "wires.view": {A, C, F},
    "wires.match": {A, F},
    "rules.view": {A, C},
    "rules.activate": {A, C},
    "reports.view": {A, C, F, SA, I, P},
    "audit.view": {A, C},
    "users.manage": {A},
}
QUEUES = {
    A: set(permissions.ALL_QUEUES),
    C: {"compliance"},
    F: {"finance"},
    S: {"support"},
    SA: {"sales"},
    I: {"ib_ops"},
    P: set(),
}


def test_matrix_lists_exactly_the_expected_actions():
    assert set(permissions.ACTIONS) == set(EXPECTED)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_role_action(role, action):
    assert permissions.can(role, action) is (role in EXPECTED[action])


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("queue", permissions.ALL_QUEUES)
def test_role_queue(role, queue):
    assert permissions.can_see_queue(role, queue) is (queue in QUEUES[role])


def test_unknown_role_and_action_are_refused():
    assert not permissions.can(None, "tasks.view")
    assert not permissions.can("admin", "tasks.explode")
    assert not permissions.can("root", "tasks.view")


@pytest.mark.parametrize("role", ROLES)
def test_maker_checker(role):
    allowed = role in EXPECTED["withdrawals.approve"]
    assert permissions.can_check(role, "withdrawals.approve", "maker@x.io", "checker@x.io") is allowed
    assert not permissions.can_check(role, "withdrawals.approve", "same@x.io", "same@x.io")
    # Document review is a single-step decision.
    assert permissions.can_check(role, "documents.review", "same@x.io", "same@x.io") is (
        role in EXPECTED["documents.review"]
    )
