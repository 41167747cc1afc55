"""A staff sign-in with the old password racing an admin's password reset (PostgreSQL).

The sign-in checks the password before it locks the user's row; if the reset commits in
between, the row it locks carries the new password and the new session generation. Without
a second check the old password would open a session the reset was meant to end.
"""

import pytest

from engine.db import unit_of_work
from engine.users import service as users
from tests.concurrency.race import ROUNDS, together

EMAIL, PASSWORD = "dealer@broker.test", "an old but long password 1"


def _sign_in(database):
    def run():
        with unit_of_work(database) as s:
            user = users.authenticate(s, EMAIL, PASSWORD)
            return user.session_generation if user else "refused"

    return run


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_the_old_password_opens_no_session_after_a_reset_it_raced(pg_database, round_):
    with unit_of_work(pg_database) as s:
        users.create(s, email=EMAIL, role="finance", password=PASSWORD)

    def reset():
        with unit_of_work(pg_database) as s:
            user = users.get_by_email(s, EMAIL)
            users.reset_password(s, user, actor="admin@broker.test", reason="lost")
            return user.session_generation

    outcomes = together(reset, *[_sign_in(pg_database)] * 4)
    new_generation = outcomes[0]
    assert isinstance(new_generation, int), outcomes
    # Before the reset: a session of the old generation (the reset ends it); after: refused.
    assert all(o in (new_generation - 1, "refused") for o in outcomes[1:]), outcomes
