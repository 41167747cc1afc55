"""Support adds a client's scan, compliance views it on the profile and decides each document."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from engine.db import get_database, unit_of_work
from engine.documents import samples
from engine.kyc.models import KycDocument
from tests.browser.conftest import ARTIFACTS, login, shot

pytestmark = pytest.mark.browser


def test_support_adds_files_and_compliance_views_and_decides_them(page, server, tmp_path):
    card, bill = tmp_path / "id-card.png", tmp_path / "bill.pdf"
    card.write_bytes(samples.png())
    bill.write_bytes(samples.pdf())
    login(page, "support")
    page.goto("/clients/C100")
    for kind, path in (("id", card), ("proof_of_address", bill)):
        page.locator("#add-document summary").click()
        page.locator("#doc-type").select_option(kind)
        page.locator("#doc-file").set_input_files(str(path))
        page.get_by_role("button", name="Add document file").click()
        page.wait_for_load_state()
        expect(page.get_by_text(f"{path.name} added to C100's documents")).to_be_visible()
    assert page.locator("#document-files").count() == 0  # support does not open them

    page.context.clear_cookies()
    login(page, "compliance")
    page.goto("/clients/C100#documents")
    files = page.locator("#document-files .document-file")
    expect(files).to_have_count(2)
    image = page.locator("img.document-preview")
    expect(image).to_be_visible()
    assert image.evaluate("i => i.complete && i.naturalWidth") == 320  # the bytes were served
    expect(page.locator("iframe.document-preview")).to_have_count(1)
    image_card = files.filter(has_text="Identity document")
    image_card.get_by_role("button", name="Zoom in").click()
    image_card.get_by_role("button", name="Rotate").click()
    assert image.evaluate("i => [i.style.width, i.style.transform]") == ["150%", "rotate(90deg)"]
    expect(image_card.locator(".document-zoom")).to_have_attribute("aria-label", "zoom 150%, turned 90 degrees")
    shot(page, "documents-viewer")
    image_card.get_by_role("button", name="Reset").click()
    pdf_card = files.filter(has_text="Proof of address")
    pdf_card.get_by_label("Reason (the client reads a rejection)").fill("The bill is older than 3 months")
    pdf_card.get_by_role("button", name="Reject document").click()
    page.wait_for_load_state()
    files.filter(has_text="Identity document").get_by_role("button", name="Approve document").click()
    page.wait_for_load_state()
    expect(page.get_by_text("Reason: The bill is older than 3 months")).to_be_visible()
    expect(page.get_by_role("button", name="Approve document")).to_have_count(0)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    shot(page, "documents-decided")
    with unit_of_work(get_database(server[2])) as s:
        states = sorted(
            (d.document_type, d.state) for d in s.scalars(select(KycDocument).where(KycDocument.client_ref == "C100"))
        )
    assert states == [("id", "approved"), ("proof_of_address", "rejected")]
    assert (ARTIFACTS / "documents-viewer.png").exists()
