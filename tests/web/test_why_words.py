"""'Why this task' in plain words: one sentence per known situation or fact, a generic fallback."""

from datetime import datetime, timezone

from web.why_words import duration_words, fact_sentence, plain_words
from datetime import timedelta

DOCS_OVERDUE = {  # as the runtime records kyc-documents-overdue when its 7-day timer fires
    "rule": "kyc-documents-overdue",
    "description": "After 7 days without the documents, compliance calls the client.",
    "events": [47],
    "event_ids": ["backoffice/C6-1"],
    "facts": {
        "client.kyc.documents.missing_count": 3,
        "client.kyc.result_is_current": True,
        "client.kyc.status": "not_started",
        "client.status": "pending",
        "event.type": "client.registered",
    },
    "conditions": [
        {
            "text": "client.kyc.result_is_current == true",
            "result": "true",
            "read": "client.kyc.result_is_current = true",
        },
        {
            "text": "client.kyc.documents.missing_count > 0",
            "result": "true",
            "read": "client.kyc.documents.missing_count = 3",
        },
    ],
    "timer": {
        "id": 21,
        "started": "2026-12-05T12:30:42+00:00",
        "due_at": "2026-11-07T12:45:00+00:00",
        "started_with": {},
    },
}
REGISTERED = {"type": "client.registered", "occurred_at": "2026-10-31T12:45:00Z"}


def test_documents_still_missing_after_the_timer_names_each_document():
    words = plain_words(DOCS_OVERDUE, trigger=REGISTERED, missing_now=["id", "proof_of_address", "source_of_funds"])
    assert words["summary"][0] == (
        "After 7 days the client still had not sent 3 documents: identity document, proof of address, source of funds."
    )
    assert "The client had not started KYC." in words["summary"]
    assert not any("result is current" in s.lower() for s in words["summary"])  # a guard only
    assert words["timer"] == (
        "A 7-day timer started when the client registered on "
        "2026-10-31 12:45 UTC; it fell due on 2026-11-07 12:45 UTC and the "
        "condition still held, so the rule acted."
    )


def test_documents_sent_since_are_told_apart_from_the_recorded_count():
    words = plain_words(DOCS_OVERDUE, trigger=REGISTERED, missing_now=["selfie"])
    assert words["summary"][0] == ("After 7 days the client still had not sent 3 documents (missing now: selfie).")


def test_a_timer_without_its_event_counts_from_when_it_was_started():
    exp = dict(DOCS_OVERDUE, timer={"started": "2026-11-01T00:00:00+00:00", "due_at": "2026-11-02T00:00:00+00:00"})
    words = plain_words(exp, when=lambda at: at.strftime("%d.%m. %H:%M"))
    assert words["summary"][0] == "After 24 hours the client still had not sent 3 documents."
    assert words["timer"].startswith("A 24-hour timer started when an event on 01.11. 00:00;")


def test_first_deposit_without_an_account():
    exp = {
        "rule": "funded-no-account",
        "facts": {"client.accounts.count": 0, "client.deposits.completed.count": 1},
        "timer": {"started": "2026-11-05T10:00:00+00:00", "due_at": "2026-11-06T10:00:00+00:00"},
    }
    words = plain_words(
        exp, trigger={"type": "payment.deposit_completed", "occurred_at": "2026-11-05T10:00:00Z"}, missing_now=["id"]
    )  # missing today, but not what this rule read
    assert words["summary"] == ["The client still had no trading account 24 hours after the first completed deposit."]
    assert words["timer"].startswith("A 24-hour timer started when a deposit completed on 2026-11-05 10:00 UTC")


def test_withdrawal_waiting_for_compliance_is_read_from_the_conditions():
    exp = {
        "rule": "withdrawal-kyc-not-approved",
        "facts": {"client.kyc.status": "not_started"},
        "conditions": [
            {
                "text": "client.withdrawals.waiting_for has compliance",
                "result": "true",
                "read": "client.withdrawals.waiting_for:has:compliance = true",
            }
        ],
    }
    assert plain_words(exp) == {
        "summary": ["A withdrawal was waiting for the compliance step.", "The client had not started KYC."],
        "timer": None,
    }


def test_kyc_on_hold_and_failed_deposit_and_event_amount():
    on_hold = plain_words({"facts": {"client.kyc.result_is_current": True, "client.kyc.status": "on_hold"}})
    assert on_hold["summary"] == ["The KYC provider had put the review on hold."]
    failed = plain_words({"facts": {"client.deposits.failed.unresolved": True, "event.amount": "250 USD"}})
    assert failed["summary"] == ["A deposit failed and no deposit has succeeded since.", "The amount was 250 USD."]


def test_unknown_facts_get_a_generic_sentence_and_no_facts_the_description():
    assert fact_sentence("client.trades.lots:within=30d", "2.5") == "Trades lots: 2.5."
    assert fact_sentence("client.custom_flag", True) == "Custom flag: yes."
    assert fact_sentence("client.kyc.labels", ["BAD_PHOTO", "FORGERY"]) == (
        "The KYC provider flagged: BAD PHOTO, FORGERY."
    )
    assert plain_words({"rule": "r1", "description": "Finance checks it."})["summary"] == ["Finance checks it."]
    assert plain_words({"rule": "r1"})["summary"] == ["Rule r1 created this task."]
    assert plain_words(None)["summary"] == ["No reason was recorded for this task."]


def test_durations_in_words():
    assert duration_words(timedelta(days=7)) == "7 days"
    assert duration_words(timedelta(hours=72)) == "3 days"
    assert duration_words(timedelta(hours=24)) == "24 hours"
    assert duration_words(timedelta(minutes=90)) == "90 minutes"
    assert duration_words(timedelta(hours=127)) == "5.3 days"


def test_a_count_over_a_window_reads_as_words_not_seconds():
    assert fact_sentence("count(staff.login_failed within 3600s)", 3) == (
        "Staff login failed events in the last 1 hour: 3."
    )
    assert fact_sentence("count(payment.deposit_failed within 172800s)", 2) == (
        "Payment deposit failed events in the last 2 days: 2."
    )
    assert fact_sentence("count(client.logged_in)", 4) == "Client logged in events: 4."
