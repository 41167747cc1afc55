"""camt.054 import: booked credits, references, and errors that name line and element.

anz_payto_settlement.xml is the bank-published sample [DOC B1] with its second entry
(AUD 0.01, "same structure") written out. incoming_wires.xml and
old_version_status_text.xml are [CONSTRUCTED] from the documented XPaths: they add
remittance information, a debit, a pending entry, a batch booking and bad entries.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from connectors import MalformedPayload, bank_camt054
from tests.connectors.helpers import canonical, raw

UTC = timezone.utc


def test_bank_sample_credits():
    result = bank_camt054.parse(raw("camt054/anz_payto_settlement.xml"))
    assert result.message_id == "10002005 LSS120240716"
    assert result.errors == [] and result.skipped == []
    first, second = result.credits
    assert (first.amount, first.currency, second.amount) == (Decimal("100.01"), "AUD", Decimal("0.01"))
    assert first.booked_at == datetime(2024, 7, 16, tzinfo=UTC)
    assert (first.debtor_name, first.entry_ref) == ("Rocky", "Credit Ref1")
    # No remittance information in a PayTo report: the end-to-end id is the reference.
    assert first.reference == first.end_to_end_id == "4u9eML38Fd167UGyDNC1xkD3z690HHDcLbr"
    assert first.id == "014650108109622:Credit Ref1"
    assert first.line == 20


def wires():
    return bank_camt054.parse(raw("camt054/incoming_wires.xml"))


def by_ref(entry_ref: str):
    return [c for c in wires().credits if c.entry_ref == entry_ref]


def test_unstructured_remittance_is_the_reference():
    (credit,) = by_ref("E-0001")
    assert credit.reference == "FXCRM DEP-7Q2K9 thank you"
    assert credit.remittance == ("FXCRM DEP-7Q2K9", "thank you")
    assert credit.end_to_end_id is None  # NOTPROVIDED is a placeholder, not a reference
    assert (credit.amount, credit.debtor_name) == (Decimal("1500.00"), "Maria Muster")
    assert credit.id == "DE89370400440532013000:2024080100001"


def test_candidate_references_for_matching():
    (credit,) = by_ref("E-0001")
    assert credit.references() == ["FXCRM DEP-7Q2K9", "thank you", "FXCRM", "DEP-7Q2K9", "thank", "you"]
    (structured,) = by_ref("E-0002")
    assert structured.references() == ["RF18DEP4K8P1", "E2E-8891"]


def test_structured_creditor_reference_wins_and_booking_time_is_utc():
    (credit,) = by_ref("E-0002")
    assert credit.reference == "RF18DEP4K8P1"
    assert credit.booked_at == datetime(2024, 8, 1, 7, 30, tzinfo=UTC)
    assert credit.debtor_name == "John Smith"  # the older Dbtr/Nm form


def test_batch_booking_gives_one_credit_per_transaction():
    first, second = by_ref("E-0006")
    assert (first.amount, first.reference, first.id.endswith("/1")) == (Decimal("100.00"), "DEP-AAA111", True)
    assert (second.amount, second.reference, second.id.endswith("/2")) == (Decimal("200.00"), "DEP-BBB222", True)


def test_debits_and_pending_entries_are_skipped_with_a_reason():
    skipped = {str(p) for p in wires().skipped}
    assert skipped == {"line 43: Ntry: debit entry", "line 50: Ntry: status PDNG, not BOOK"}


def test_bad_entries_are_reported_and_good_ones_kept():
    result = wires()
    assert [str(e) for e in result.errors] == [
        "line 38: Amt: Amt@Ccy: is missing",
        "line 81: Dt: not a date: '2024-08-32'",
    ]
    assert sorted(c.entry_ref for c in result.credits) == ["E-0001", "E-0002", "E-0006", "E-0006"]


def test_old_version_with_status_as_text():
    (credit,) = bank_camt054.parse(raw("camt054/old_version_status_text.xml")).credits
    assert (credit.amount, credit.currency, credit.reference) == (Decimal("42.35"), "CHF", "INV-2019-0042")
    assert credit.id == "CH9300762011623852957:ZKB-20190304-77"


def test_deposit_event_of_a_matched_credit_is_canonical():
    (credit,) = by_ref("E-0001")
    event = bank_camt054.deposit_event(credit, client="C-1001", payment_id="dep_7Q2K9")
    canonical([event])
    assert event["type"] == "payment.deposit_completed"
    assert event["id"] == credit.id and event["occurred_at"] == "2024-08-01T00:00:00+00:00"
    assert event["data"]["amount"] == "1500.00" and event["data"]["currency"] == "EUR"


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "line 1: not well-formed"),
        (b"<Document><unclosed></Document>", "line 1: not well-formed"),
        (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>', "not a camt.054"),
        (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"/>', "no BkToCstmrDbtCdtNtfctn"),
        (b'<!DOCTYPE d [<!ENTITY a "aaaa">]><Document/>', "DTD is not allowed"),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">\n'
            b"<BkToCstmrDbtCdtNtfctn><GrpHdr/></BkToCstmrDbtCdtNtfctn></Document>",
            "GrpHdr/MsgId is missing",
        ),
    ],
)
def test_file_level_problems_raise(data, message):
    with pytest.raises(MalformedPayload, match=message):
        bank_camt054.parse(data)
