"""Client notes: staff add them (CSRF, validation, audit); shown on the profile and timeline."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from engine.audit.models import AuditEntry
from engine.clients.models import ClientNote
from engine.db import unit_of_work
from tests.web.conftest import csrf


def token(client, path="/clients/C1") -> str:
    """Return the CSRF token from a page the logged-in client can see."""
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))[1]


def notes(database) -> list[ClientNote]:
    with unit_of_work(database) as s:
        rows = list(s.scalars(select(ClientNote)))
        s.expunge_all()
        return rows


def test_support_adds_a_note_shown_on_profile_and_timeline_and_audited(database, as_role, sample):
    staff = as_role("support")
    response = staff.post("/clients/C1/notes", data={"text": "Called: sends ID tomorrow", "csrf_token": token(staff)})
    assert response.status_code == 303
    page = staff.get("/clients/C1").get_data(as_text=True)
    assert "Called: sends ID tomorrow" in page.split('id="client-notes"')[1].split("</ul>")[0]
    assert "Note by support@example.com: Called: sends ID tomorrow" in page
    [note] = notes(database)
    assert (note.client_ref, note.author) == ("C1", "support@example.com")
    with unit_of_work(database) as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "client.note"))
        assert (entry.actor, entry.target_id, entry.detail) == ("support@example.com", "C1", {"note_id": note.id})


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "note: write some text"),
        ("   ", "note: write some text"),
        ("a\x00b", "note: contains a NUL character"),
        ("x" * 5001, "note: 5001 characters; at most 5000"),
    ],
    ids=["empty", "blank", "nul", "too-long"],
)
def test_bad_note_is_refused_clearly_and_stores_nothing(database, as_role, sample, text, message):
    staff = as_role("sales")
    response = staff.post("/clients/C1/notes", data={"text": text, "csrf_token": token(staff)}, follow_redirects=True)
    assert message in response.get_data(as_text=True)
    assert notes(database) == []


def test_note_without_csrf_is_refused(database, as_role, sample):
    response = as_role("support").post("/clients/C1/notes", data={"text": "hello"})
    assert response.status_code in (400, 403)
    assert notes(database) == []


def test_partner_cannot_add_notes_and_unknown_client_is_404(database, as_role, sample):
    partner = as_role("partner")
    assert partner.post("/clients/C1/notes", data={"text": "x", "csrf_token": csrf(partner)}).status_code in (403, 404)
    staff = as_role("support")
    assert staff.post("/clients/NOPE/notes", data={"text": "x", "csrf_token": token(staff)}).status_code == 404
    assert notes(database) == []
