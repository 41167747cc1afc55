"""The event input contract (engine/events/schemas.py): each hostile value is refused with
the field and the reason, through the schema and through POST /api/events (nothing stored)."""

from __future__ import annotations

import pytest
from engine.events.schemas import InvalidEvent, validate_envelope
from tests.helpers import event


def _deposit(**data):
    base = {"payment_id": "p1", "amount": "100.00", "currency": "USD", "method": "card", "provider": "stripe"}
    return event("payment.deposit_completed", **{**base, **data})


HOSTILE = [
    (_deposit(amount="0"), "data.amount: must be above zero"),
    (_deposit(amount="0.00"), "data.amount: must be above zero"),
    (_deposit(amount="-5.00"), "data.amount: must be a positive amount string"),
    (_deposit(amount="1_000"), "data.amount: must be a positive amount string"),
    (_deposit(amount="\u0661\u0660\u0660"), "data.amount: must be a positive amount string"),
    (_deposit(amount="1e3"), "data.amount: must be a positive amount string"),
    (_deposit(amount="NaN"), "data.amount: must be a positive amount string"),
    (_deposit(amount="Infinity"), "data.amount: must be a positive amount string"),
    (_deposit(amount="+5"), "data.amount: must be a positive amount string"),
    (_deposit(amount="50000000000"), "data.amount: must be below 10,000,000,000"),
    (_deposit(amount=100), "data.amount: must be a positive amount string"),
    (_deposit(amount="200.555", currency="EUR"), "data.amount: 200.555 has more decimals than EUR has minor units (2)"),
    (_deposit(amount="100.5", currency="JPY"), "data.amount: 100.5 has more decimals than JPY has minor units (0)"),
    (_deposit(currency="XXX"), "data.currency: XXX is not an ISO 4217 currency"),
    (_deposit(currency="ABC"), "data.currency: ABC is not an ISO 4217 currency"),
    (_deposit(method="card\x00"), "data.method: contains a control character (code 0)"),
    (_deposit(reference="x" * 501), "data.reference: Longer than maximum length 500."),
    (_deposit(method=["card"]), "data.method: Not a valid string."),
    (
        {**_deposit(), "occurred_at": "9999-12-31T00:00:00Z"},
        "occurred_at: 9999-12-31T00:00:00Z is outside the accepted window",
    ),
    (
        {**_deposit(), "occurred_at": "1970-01-01T00:00:00Z"},
        "occurred_at: 1970-01-01T00:00:00Z is outside the accepted window",
    ),
    ({**_deposit(), "client": "C1\x00"}, "client: contains a control character"),
    ({**_deposit(), "id": 12}, "id: Not a valid string."),
    (
        event(
            "client.profile_updated",
            fields={
                "a": {
                    "b": {
                        "c": {
                            "d": {
                                "e": {
                                    "f": {"g": {"h": {"i": {"j": {"k": {"l": {"m": {"n": {"o": {"p": {"q": 1}}}}}}}}}}}
                                }
                            }
                        }
                    }
                }
            },
        ),
        "data: is nested more than 16 levels deep",
    ),
    (event("client.profile_updated", fields={"first_name": "A\x00"}), "data.fields: contains a control character"),
]


@pytest.mark.parametrize("payload, problem", HOSTILE, ids=[p for _, p in HOSTILE])
def test_hostile_values_are_refused_saying_where_and_what(payload, problem):
    with pytest.raises(InvalidEvent) as err:
        validate_envelope(payload)
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems


@pytest.mark.parametrize(
    "payload",
    [
        _deposit(amount="100"),
        _deposit(amount="0.01"),
        _deposit(amount="1500", currency="JPY"),
        _deposit(amount="10.125", currency="KWD"),
        _deposit(amount="0.00012345", currency="BTC"),
        _deposit(amount="9999999999.99"),
    ],
)
def test_good_amounts_pass(payload):
    assert validate_envelope(payload) == payload


def test_an_event_dated_beyond_the_configured_window_is_refused(monkeypatch):
    from datetime import timedelta

    from engine.values import clock, iso

    monkeypatch.setenv("FXCRM_EVENT_MAX_AHEAD", "1d")
    soon, later = clock.now() + timedelta(hours=23), clock.now() + timedelta(hours=25)
    assert validate_envelope({**_deposit(), "occurred_at": iso(soon)})
    with pytest.raises(InvalidEvent, match="occurred_at: .* is outside the accepted window"):
        validate_envelope({**_deposit(), "occurred_at": iso(later)})
