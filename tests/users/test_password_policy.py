"""Password policy: length, variety, common and personal passwords refused; existing users unaffected."""

import pytest
from werkzeug.security import generate_password_hash

from engine.db import unit_of_work
from engine.users import service as users_service
from engine.users.models import User
from engine.values import utcnow


@pytest.mark.parametrize(
    "password, reason",
    [
        ("aaaaaaaaaa", "at least 12 characters"),
        ("aaaaaaaaaaaaaaaa", "5 different characters"),
        ("password1234", "common passwords"),
        ("Password2024!", "common passwords"),
        ("qwertyuiop123", "common passwords"),
        ("jane.doe-is-great", "e-mail address"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password, reason):
    with pytest.raises(users_service.UserError, match=reason):
        users_service.check_password_policy(password, "jane.doe@broker.test")


def test_a_long_uncommon_password_is_accepted():
    users_service.check_password_policy("tidal-orbit-mosaic-41", "jane.doe@broker.test")


@pytest.mark.parametrize("password", ["aaaaaaaaaa", "password1234"])
def test_create_refuses_weak_passwords_for_any_role_and_stores_nothing(database, password):
    with unit_of_work(database) as s:
        with pytest.raises(users_service.UserError, match="the password is refused"):
            users_service.create(s, email="boss@broker.test", role="admin", password=password)
    with unit_of_work(database) as s:
        assert users_service.get_by_email(s, "boss@broker.test") is None


def test_existing_users_with_older_passwords_still_log_in(database):
    with unit_of_work(database) as s:
        s.add(
            User(
                email="old@broker.test",
                role="support",
                active=True,
                failed_logins=0,
                created_at=utcnow(),
                password_hash=generate_password_hash("short-pw1", method="scrypt"),
            )
        )
    with unit_of_work(database) as s:
        assert users_service.authenticate(s, "old@broker.test", "short-pw1") is not None
