"""Withdrawals in a real browser: compliance and finance decide their steps, four eyes hold."""

import pytest
from playwright.sync_api import expect

from engine.db import get_database, unit_of_work
from engine.payments import withdrawals
from tests.browser.conftest import email, login, shot
from tests.payments.builders import deposit, ingest, registered, set_kyc, withdrawal

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def db(server):
    """W1 waits for compliance (KYC pending); W2, W3 and W4 for finance; W4 raised by finance."""
    database = get_database(server[2])
    ingest(
        database,
        registered("C201", first_name="Lena", last_name="Vogel"),
        deposit("completed", "C201", 1, pid="p201", amount="5000.00"),
        registered("C202", first_name="Omar", last_name="Haddad"),
        deposit("completed", "C202", 1, pid="p202", amount="5000.00"),
    )
    set_kyc(database, "C202", "approved")
    ingest(
        database,
        withdrawal("requested", "C201", 2, wid="W1", amount="300.00", method="bank_wire"),
        withdrawal("requested", "C202", 3, wid="W2", amount="250.00", method="card"),
        withdrawal("requested", "C202", 4, wid="W3", amount="120.00", method="card"),
        withdrawal("requested", "C202", 5, wid="W4", amount="80.00", method="card"),
    )
    with unit_of_work(database) as s:  # raised by finance on the client's behalf
        withdrawals.get(s, "W4").requested_by = email("finance")
    return database


def decisions(database, wid):
    with unit_of_work(database) as s:
        w = withdrawals.get(s, wid)
        return w.status, w.waiting_for, [(d.step, d.decision, d.actor, d.reason) for d in w.decisions]


def test_compliance_then_finance_approve_their_steps(page, db):
    login(page, "compliance")
    page.get_by_role("link", name="Withdrawals").click()
    expect(page.locator("#w-W1")).to_contain_text("waiting for compliance")
    shot(page, "withdrawals-list")
    page.locator("#w-W1").get_by_role("link", name="W1").click()
    expect(page.locator("#w-answer")).to_contain_text("waiting for compliance")
    page.get_by_label("Note (optional)").fill("ID and address checked")
    page.get_by_role("button", name="Approve compliance step").click()
    expect(page.locator("#w-answer")).to_contain_text("waiting for finance")
    page.get_by_role("button", name="Log out").click()

    login(page, "finance")
    page.goto("/withdrawals/W1")
    expect(page.locator("#w-chain")).to_contain_text(f"approved by {email('compliance')}")
    shot(page, "withdrawal-detail")
    page.get_by_role("button", name="Approve finance step").click()
    expect(page.locator("#w-answer")).to_contain_text("waiting for the payment provider")
    status, waiting, steps = decisions(db, "W1")
    assert (status, waiting) == ("pending", "payment_provider")
    assert [(s[0], s[1], s[2]) for s in steps] == [
        ("compliance", "approved", email("compliance")),
        ("finance", "approved", email("finance")),
    ]


def test_finance_cannot_approve_its_own_request_or_a_second_step(page, db):
    login(page, "finance")
    page.goto("/withdrawals/W4")
    page.get_by_role("button", name="Approve finance step").click()
    expect(page.locator("#w-error")).to_contain_text("requested withdrawal W4 and so cannot approve")
    shot(page, "withdrawal-own-request-refused")
    assert decisions(db, "W4")[2] == []
    page.goto("/withdrawals/W2")
    page.get_by_role("button", name="Approve finance step").click()
    expect(page.locator("#w-answer")).to_contain_text("waiting for the payment provider")
    with unit_of_work(db) as s:  # W2 back at an approval step after finance approved one
        w = withdrawals.get(s, "W2")
        w.step, w.waiting_for = "finance", "finance"
    page.goto("/withdrawals/W2")
    page.get_by_role("button", name="Approve finance step").click()
    expect(page.locator("#w-error")).to_contain_text("already approved a step of withdrawal W2")
    assert len(decisions(db, "W2")[2]) == 1


def test_finance_rejects_from_the_list_with_a_reason(page, db):
    login(page, "finance")
    page.goto("/withdrawals?waiting_for=finance")
    row = page.locator("#w-W3")
    row.get_by_label("Reason").fill("Card holder name does not match")
    row.get_by_role("button", name="Reject").click()
    expect(page.locator(".flash")).to_contain_text("Withdrawal W3 rejected")
    expect(page.locator("#w-W3")).to_have_count(0)
    status, waiting, steps = decisions(db, "W3")
    assert (status, waiting) == ("rejected", None)
    assert steps == [("finance", "rejected", email("finance"), "Card holder name does not match")]


def test_support_sees_why_a_withdrawal_waits_but_cannot_decide(page, db):
    login(page, "support")
    page.goto("/withdrawals/W4")
    expect(page.locator("#w-answer")).to_contain_text("waiting for finance")
    expect(page.get_by_role("button", name="Approve finance step")).to_have_count(0)
