"""A client's whole journey in the client area, with compliance and finance in the staff app.

The client registers, confirms the e-mail from the link it receives, sends three
documents and sees them under review; compliance views and approves each in the
viewer and approves the KYC on the review task the rules opened; the client's
withdrawal waits for finance, finance approves it, the provider pays it and the
client sees it paid. The client cannot reach staff pages or another client's files.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from engine.db import get_database, unit_of_work
from engine.documents import samples
from engine.documents.models import DocumentFile
from engine.events.store import record
from engine.portal.models import ClientLogin
from engine.processing.ingest import schedule_touched
from engine.rules import activation
from engine.rules.loader import load_dir
from engine.tasks.models import Task
from engine.values import iso, utcnow
from tests.browser.conftest import login, serve, shot
from tests.helpers import event
from tests.notifications.smtp_server import SmtpServer

pytestmark = pytest.mark.browser
PASSWORD = "my own long passphrase 2026"


@pytest.fixture(scope="module")
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory, sqlite_template, smtp):
    for served in serve(tmp_path_factory, sqlite_template, smtp_url=smtp.url):
        with unit_of_work(get_database(served[2])) as s:
            files = {f"onboarding/{n}": t for n, t in load_dir("rules/onboarding").items()}
            activation.activate_files(s, files, actor="test")
        yield served


def mailed_link(smtp, kind: str) -> str:
    body = smtp.messages[-1]["message"].get_payload(decode=True).decode()
    return re.search(rf"http://127\.0\.0\.1:\d+(/portal/{kind}/\S+)", body)[1]


def provider_reports(database, ref: str, event_id: str, type_: str, **data) -> None:
    """The payment provider reports a change of the client's money (as its webhook would)."""
    with unit_of_work(database) as s:
        record(s, event(type_, ref, iso(utcnow()), source="stripe", id=event_id, **data), via="test")
        schedule_touched(s, database)


def credit(database, ref: str, amount: str) -> None:
    """The payment provider reports a completed deposit."""
    paid_in = {"payment_id": f"pi-{ref}", "amount": amount, "currency": "USD", "method": "card", "provider": "stripe"}
    provider_reports(database, ref, f"dep-{ref}", "payment.deposit_completed", **paid_in)


def paid(database, ref: str, wid: str) -> None:
    paid_out = {"withdrawal_id": wid, "amount": "150.00", "currency": "USD"}
    provider_reports(database, ref, f"paid-{wid}", "payment.withdrawal_paid", **paid_out)


def test_a_clients_journey_through_the_portal_and_the_back_office(page, server, smtp, tmp_path):
    database = get_database(server[2])
    page.goto("/portal/register")
    for label, value in (
        ("First name", "Lena"),
        ("Last name", "Vogel"),
        ("E-mail", "lena@example.com"),
        ("Country of residence (2 letters, e.g. DE)", "DE"),
        ("Password (12 characters or more)", PASSWORD),
    ):
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Open my account").click()
    expect(page.locator("#message")).to_contain_text("We sent a link to lena@example.com")
    page.goto(mailed_link(smtp, "verify"))
    expect(page.get_by_text("Your e-mail is confirmed")).to_be_visible()
    page.get_by_label("E-mail").fill("lena@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#kyc-words")).to_have_text("We need your documents")
    expect(page.locator("#kyc-missing")).to_contain_text("identity document, proof of address")

    for kind, name, data in (
        ("id", "passport.png", samples.png()),
        ("proof_of_address", "bill.pdf", samples.pdf()),
        ("selfie", "selfie.png", samples.png(200, 200)),
    ):
        path = tmp_path / name
        path.write_bytes(data)
        page.locator("#document_type").select_option(kind)
        page.locator("#file").set_input_files(str(path))
        page.get_by_role("button", name="Send document").click()
        expect(page.get_by_text(f"Thank you: {name} is sent and under review.")).to_be_visible()
    expect(page.locator("#my-documents li")).to_have_count(3)
    expect(page.locator("#my-documents")).to_contain_text("Under review")
    expect(page.locator("#kyc-missing")).to_have_count(0)
    expect(page.locator("#kyc-words")).to_have_text("Under review")
    shot(page, "portal-documents-sent")
    with unit_of_work(database) as s:
        ref = s.scalar(select(ClientLogin.client_ref))
        review = s.scalar(select(Task).where(Task.rule_id == "kyc-documents-to-review"))
    assert review is not None and review.client_ref == ref and review.queue == "compliance"

    staff = page.context.browser.new_context(viewport={"width": 1280, "height": 800}, base_url=server[0]).new_page()
    login(staff, "compliance")
    staff.goto(f"/clients/{ref}#documents")
    cards = staff.locator("#document-files .document-file")
    expect(cards).to_have_count(3)
    for _ in range(3):
        staff.get_by_role("button", name="Approve document").first.click()
        staff.wait_for_load_state()
    expect(staff.get_by_role("button", name="Approve document")).to_have_count(0)
    shot(staff, "portal-compliance-approved-documents")
    staff.goto(f"/tasks/{review.id}")
    staff.get_by_role("button", name=re.compile("^Approve KYC")).first.click()
    staff.wait_for_load_state()

    page.reload()
    expect(page.locator("#kyc-words")).to_have_text("Verified")
    expect(page.locator("#my-documents")).not_to_contain_text("Under review")
    credit(database, ref, "500.00")
    page.reload()
    page.get_by_label("Amount").fill("150")
    page.get_by_role("button", name="Request withdrawal").click()
    words = page.locator("#my-withdrawals .withdrawal-words").first
    expect(words).to_have_text("Requested, waiting for finance")
    wid = re.search(r"PW-[0-9A-F]{12}", page.locator("#my-withdrawals").inner_text())[0]

    staff.context.clear_cookies()
    login(staff, "finance")
    staff.goto(f"/withdrawals/{wid}")
    staff.locator("#w-approve").click()
    staff.wait_for_load_state()
    page.reload()
    expect(words).to_have_text("Requested, being paid out")
    paid(database, ref, wid)
    page.reload()
    expect(words).to_have_text("Paid")
    shot(page, "portal-withdrawal-paid")

    # Nothing of the back office or of other clients is reachable from the client's session.
    with unit_of_work(database) as s:
        other = s.scalar(select(DocumentFile.public_id).where(DocumentFile.client_ref != ref))
        mine = s.scalar(select(DocumentFile.public_id).where(DocumentFile.client_ref == ref))
    for path in [
        f"/documents/{mine}",
        "/clients/C100",
        f"/clients/{ref}",
        "/inbox",
        "/withdrawals",
        f"/tasks/{review.id}",
        "/admin/users",
    ] + ([f"/documents/{other}"] if other else []):
        response = page.request.get(path, max_redirects=0)
        assert response.status in (302, 401, 403), (path, response.status)
        assert "/portal" not in response.headers.get("location", "/login"), path
