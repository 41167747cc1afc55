"""Support finds a client by part of the e-mail and by name, reads why a withdrawal waits,
adds a note and opens a ticket, in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from engine.clients.models import ClientNote
from engine.db import get_database, unit_of_work
from engine.tasks.models import Task
from tests.browser.conftest import login, shot
from tests.payments.builders import account, deposit, ingest, registered, set_kyc, withdrawal

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def seeded(server):
    """Three registered clients; Zoe Brandt has an account and a withdrawal waiting for finance."""
    db = get_database(server[2])
    ingest(
        db,
        registered("C-ZOE", email="Zoe.Brandt@Mailbox.example", first_name="Zoe", last_name="Brandt"),
        registered("C-ZED", email="zed@other.example", first_name="Zed", last_name="Brandtner"),
        registered("C-AMY", email="amy@other.example", first_name="Amy", last_name="Ng"),
        account("C-ZOE", minute=1, aid="MT5-4455"),
        deposit("completed", "C-ZOE", minute=2, pid="pz1", amount="1000.00"),
    )
    set_kyc(db, "C-ZOE", "approved")
    ingest(db, withdrawal("requested", "C-ZOE", minute=3, wid="wz1", amount="100.00"))
    return db


def test_support_finds_a_client_reads_the_withdrawal_adds_a_note_and_opens_a_ticket(page, seeded):
    login(page, "support")
    page.get_by_role("link", name="Clients").click()
    page.get_by_label("Search").fill("other.EXAMPLE")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#client-list tbody tr")).to_have_count(2)
    shot(page, "clients-search-results")
    page.get_by_label("Country").fill("de")
    page.get_by_label("Search").fill("brandt")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#client-list tbody tr")).to_have_count(2)
    shot(page, "clients-search-with-filters")

    page.get_by_label("Find a client").fill("zoe.brandt@mail")
    page.get_by_label("Find a client").press("Enter")
    expect(page).to_have_url(re.compile(r"/clients/C-ZOE$"))
    expect(page.locator("#pending-withdrawals")).to_contain_text("waiting for finance")

    page.get_by_label("Find a client").fill("Zoe Brandt")
    page.get_by_label("Find a client").press("Enter")
    expect(page).to_have_url(re.compile(r"/clients/C-ZOE$"))
    page.get_by_label(re.compile("Add a note")).fill("Asked about wz1: finance reviews today.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#client-notes")).to_contain_text("Asked about wz1: finance reviews today.")
    expect(page.locator("ol.timeline")).to_contain_text("Note by support@example.com")
    shot(page, "client-profile-with-note")

    page.get_by_role("link", name="New task for this client").click()
    page.get_by_label("Title").fill("Client asks when wz1 is paid")
    page.get_by_role("button", name=re.compile("Create")).click()
    page.wait_for_load_state()

    with unit_of_work(seeded) as s:
        [note] = s.scalars(select(ClientNote).where(ClientNote.client_ref == "C-ZOE")).all()
        assert note.author == "support@example.com"
        task = s.scalar(select(Task).where(Task.title == "Client asks when wz1 is paid"))
        assert task is not None and task.client_ref == "C-ZOE"


def test_no_match_is_said_in_words(page, seeded):
    login(page, "support")
    page.get_by_label("Find a client").fill("nobody-at-all")
    page.get_by_label("Find a client").press("Enter")
    expect(page.get_by_role("status")).to_contain_text("No client matches “nobody-at-all”")
