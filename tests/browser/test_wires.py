"""Finance matches an unmatched bank wire by hand and imports a camt.054 file in the browser."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from engine.db import get_database, unit_of_work
from engine.deliveries import replay as replay_mod
from engine.deliveries import wires as wires_service
from engine.payments import ledger
from engine.values import utcnow
from tests.browser.conftest import ARTIFACTS, login, shot
from tests.connectors import helpers as fx
from tests.helpers import record_and_process
from tests.web.test_webhooks_replay import wire_request, wire_requests

pytestmark = pytest.mark.browser
WIRES = fx.raw("camt054/incoming_wires.xml")
SMALL = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">
  <BkToCstmrDbtCdtNtfctn>
    <GrpHdr><MsgId>BROWSER-UPLOAD-1</MsgId><CreDtTm>2024-08-05T18:00:00Z</CreDtTm></GrpHdr>
    <Ntfctn>
      <Id>BROWSER-NTF-1</Id>
      <Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>
      <Ntry>
        <NtryRef>U-1</NtryRef><Amt Ccy="EUR">42.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
        <Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2024-08-05</Dt></BookgDt>
        <AcctSvcrRef>UP-0001</AcctSvcrRef>
        <NtryDtls><TxDtls><RmtInf><Ustrd>DEP-UP1</Ustrd></RmtInf></TxDtls></NtryDtls>
      </Ntry>
      <Ntry>
        <NtryRef>U-2</NtryRef><Amt Ccy="EUR">13.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
        <Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2024-08-05</Dt></BookgDt>
        <AcctSvcrRef>UP-0002</AcctSvcrRef>
        <NtryDtls><TxDtls><RmtInf><Ustrd>no idea</Ustrd></RmtInf></TxDtls></NtryDtls>
      </Ntry>
    </Ntfctn>
  </BkToCstmrDbtCdtNtfctn>
</Document>
"""


def wallet(database, ref: str) -> Decimal:
    with unit_of_work(database) as s:
        return ledger.balance(s, ledger.wallet(ref, "EUR"), "EUR")


def seed(database) -> list[int]:
    """Two clients with deposit requests, a statement with two unmatched wires; return their ids."""
    requested = wire_request("C-1001", "2024-08-01T09:00:00Z", "dep_up1", "42.00", "DEP-UP1")
    record_and_process(database, [*wire_requests(), requested])
    replay_mod.replay_camt054(database, WIRES, utcnow())
    with unit_of_work(database) as s:
        return [row.id for row in wires_service.list_unmatched(s)]


@pytest.fixture(scope="module")
def seeded(server) -> list[int]:
    """The module's clients, deposit requests and unmatched wires (each test may run alone)."""
    return seed(get_database(server[2]))


def test_finance_matches_a_wire_by_hand_and_the_wallet_is_credited_once(page, server, seeded):
    database = get_database(server[2])
    first, _second = seeded
    before = wallet(database, "C-1002")
    login(page, "finance")
    page.get_by_role("link", name="Wires").click()
    expect(page.get_by_role("heading", name="Unmatched bank wires and deliveries")).to_be_visible()
    expect(page.locator("main")).to_contain_text("2 deliveries wait")
    shot(page, "wires-queue")
    page.get_by_role("link", name=f"#{first}", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile(r"Bank wire of 100.00 EUR"))).to_be_visible()
    page.get_by_label("Reference, client ref or name").fill("C-1002")
    page.get_by_role("button", name="Search").click()
    shot(page, "wires-candidates")
    page.get_by_role("button", name="Match to C-1002").click()
    expect(page.locator(".flashes")).to_contain_text(f"Wire #{first} matched to client C-1002")
    expect(page.locator("main")).to_contain_text("1 delivery waits")
    shot(page, "wires-matched")
    assert wallet(database, "C-1002") == before + Decimal("100.00")
    # A second submit of the same form (a double click, a resent page) credits nothing.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    again = page.request.post(f"/wires/{first}/match", form={"client_ref": "C-1002", "csrf_token": token})
    assert again.ok and "no longer unmatched" in again.text()
    # And so does a replay of the bank's file.
    replay_mod.replay_camt054(database, WIRES, utcnow())
    assert wallet(database, "C-1002") == before + Decimal("100.00")


def test_upload_a_statement_and_see_each_entry(page, server, seeded, tmp_path):
    database = get_database(server[2])
    before = wallet(database, "C-1001")
    login(page, "finance")
    page.goto("/wires")
    page.get_by_role("link", name="Upload a camt.054 file").click()
    path = tmp_path / "statement.xml"
    path.write_bytes(SMALL)
    page.get_by_label("camt.054 XML file").set_input_files(str(path))
    page.get_by_role("button", name="Import").click()
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("matched")
    expect(rows.nth(0)).to_contain_text("42.00 EUR ref DEP-UP1 matched to client C-1001")
    expect(rows.nth(1)).to_contain_text("unmatched")
    expect(page.locator("main")).to_contain_text("statement.xml: accepted: 1, unmatched: 1")
    shot(page, "wires-upload")
    assert wallet(database, "C-1001") == before + Decimal("42.00")
    bad = tmp_path / "broken.xml"
    bad.write_bytes(b"<Document>")
    page.get_by_label("camt.054 XML file").set_input_files(str(bad))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("alert")).to_contain_text("broken.xml")
    expect(page.get_by_role("alert")).to_contain_text("nothing was imported")
    shot(page, "wires-upload-malformed")
    assert (ARTIFACTS / "wires-upload.png").exists()
