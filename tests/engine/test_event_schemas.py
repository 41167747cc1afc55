"""Canonical event validation: every problem is reported with its path."""

import pytest

from engine.events import catalogue
from engine.events.schemas import InvalidEvent, validate_envelope
from tests.helpers import deposit_failed, event, registered


def test_valid_events_pass_unchanged():
    for env in (registered(), deposit_failed()):
        assert validate_envelope(env) == env


def test_every_problem_is_reported_at_once():
    bad = event("payment.deposit_failed", at="2026-11-01T10:00:00", amount=10.5, currency="usd", colour="red")
    with pytest.raises(InvalidEvent) as err:
        validate_envelope(bad)
    problems = err.value.problems
    assert "occurred_at: time has no UTC offset: '2026-11-01T10:00:00'" in problems
    assert 'data.amount: must be a positive amount string like "100.50" (ASCII digits only)' in problems
    assert "data.currency: must be an ISO 4217 code like USD" in problems
    assert "data.colour: Unknown field." in problems
    assert "data.payment_id: Missing data for required field." in problems


@pytest.mark.parametrize(
    "payload, problem",
    [
        ([], "event must be a JSON object"),
        ({**registered(), "type": "client.deleted"}, "type: unknown event type 'client.deleted'"),
        ({**registered(), "extra": 1}, "extra: Unknown field."),
        (
            event(
                "trade.closed",
                account_id="A",
                ticket="1",
                symbol="EURUSD",
                side="buy",
                volume_lots="1e400",
                open_time="2026-11-01T10:00:00Z",
                close_time="2026-11-01T10:00:00Z",
                profit="1",
            ),
            "data.volume_lots",
        ),
        (
            event(
                "account.created", account_id="A", platform="mt5", account_type="std", currency="USD", leverage="100"
            ),
            "data.leverage: Not a valid integer.",
        ),
        (event("timer.fired", timer_id="t", name="n"), "type: timer.fired is internal"),
    ],
)
def test_bad_events_say_where_and_what(payload, problem):
    with pytest.raises(InvalidEvent) as err:
        validate_envelope(payload)
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems


def test_amount_with_too_many_decimals_is_refused():
    with pytest.raises(InvalidEvent) as err:
        validate_envelope(deposit_failed(amount="1.123456789"))
    assert "more than 8 decimal places" in str(err.value)


def test_catalogue_covers_the_spec_types():
    spec_types = {
        "client.registered",
        "client.profile_updated",
        "kyc.document_submitted",
        "kyc.document_rejected",
        "kyc.review_completed",
        "kyc.on_hold",
        "payment.deposit_requested",
        "payment.deposit_completed",
        "payment.deposit_failed",
        "payment.deposit_refunded",
        "payment.deposit_charged_back",
        "payment.withdrawal_requested",
        "payment.withdrawal_approved",
        "payment.withdrawal_rejected",
        "payment.withdrawal_paid",
        "payment.withdrawal_failed",
        "wallet.transfer_completed",
        "wallet.transfer_failed",
        "account.created",
        "account.status_changed",
        "account.balance_updated",
        "trade.opened",
        "trade.closed",
        "ib.registered",
        "ib.referral_attributed",
        "timer.fired",
    }
    assert spec_types <= set(catalogue.EVENT_TYPES)


def test_events_doc_is_current():
    from pathlib import Path

    from engine.events.docs import render

    doc = Path(__file__).resolve().parents[2] / "docs" / "events.md"
    assert doc.read_text() == render(), "run: python -m engine.events.docs > docs/events.md"
