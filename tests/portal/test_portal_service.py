"""The portal service's answers where the database, not the code's own check, decides."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.db import unit_of_work
from engine.portal import service as portal
from engine.portal.models import ClientLogin
from engine.values import utcnow

PASSWORD = "correct horse battery staple 42"


def test_an_email_taken_after_the_check_gets_the_plain_refusal(database):
    """What the losing registration of a race meets: its look-up found no login, the
    insert then hits the unique e-mail. It answers what a later duplicate answers, and its
    transaction stays usable (the insert ran in a savepoint)."""
    with unit_of_work(database) as s:
        portal.register(
            s, email="ana@example.com", password=PASSWORD, first_name="Ana", last_name="Lopez", country="ES"
        )
    with unit_of_work(database) as s:
        late = ClientLogin(
            client_ref="W00000001",
            email="ana@example.com",
            created_at=utcnow(),
            failed_logins=0,
            password_hash="x",
            session_generation=1,
        )
        with pytest.raises(portal.PortalError) as raced:
            portal._insert_login(s, late)
        assert s.scalar(select(func.count()).select_from(ClientLogin)) == 1
    with unit_of_work(database) as s, pytest.raises(portal.PortalError) as later:
        portal.register(
            s, email="ana@example.com", password=PASSWORD, first_name="Ana", last_name="Lopez", country="ES"
        )
    assert str(raced.value) == str(later.value) == portal.TAKEN


def test_another_unique_clash_is_not_called_a_taken_email(database):
    """Only the e-mail's clash is the client's answer; any other stays an error."""
    from sqlalchemy.exc import IntegrityError

    with unit_of_work(database) as s:
        login, _ = portal.register(
            s, email="ana@example.com", password=PASSWORD, first_name="Ana", last_name="Lopez", country="ES"
        )
        ref = login.client_ref
    with unit_of_work(database) as s, pytest.raises(IntegrityError):
        portal._insert_login(
            s,
            ClientLogin(
                client_ref=ref,
                email="bo@example.com",
                created_at=utcnow(),
                failed_logins=0,
                password_hash="x",
                session_generation=1,
            ),
        )
