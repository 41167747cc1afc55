"""Events through the real pipeline (projections of every domain) show up in the reports."""

from decimal import Decimal as D

from engine import processing
from engine.db import unit_of_work
from engine.events.store import record
from engine.values import clock
from tests.helpers import event, registered
from tests.reports.dataset import NOW
from tests.reports.helpers import pick_cols, section_rows


def _history() -> list[dict]:
    pay = {"currency": "USD", "method": "card", "provider": "stripe"}
    trade = {
        "account_id": "R-1",
        "ticket": "1",
        "symbol": "EURUSD",
        "side": "buy",
        "volume_lots": "0.10",
        "open_time": "2026-01-05T19:00:00Z",
    }
    return [
        registered("R1", "2026-01-05T10:00:00Z", source="google"),
        event("kyc.review_completed", "R1", "2026-01-05T14:00:00Z", provider="sumsub", result="approved"),
        event("payment.deposit_completed", "R1", "2026-01-05T16:00:00Z", payment_id="p1", amount="100.00", **pay),
        event(
            "account.created",
            "R1",
            "2026-01-05T18:00:00Z",
            account_id="R-1",
            platform="mt5",
            account_type="standard",
            currency="USD",
            leverage=100,
        ),
        event("trade.opened", "R1", "2026-01-05T19:00:00Z", **trade),
        registered("R2", "2026-01-06T10:00:00Z", country="FR"),
        event(
            "payment.deposit_failed",
            "R2",
            "2026-01-06T11:00:00Z",
            payment_id="p2",
            amount="30.00",
            reason_code="card_declined",
            reason="Declined.",
            **pay,
        ),
    ]


def test_reports_read_what_the_projections_wrote(database):
    clock.freeze(NOW)
    with unit_of_work(database) as s:
        for envelope in _history():
            record(s, envelope)
    processing.process_all_pending(database)
    stages = section_rows(database, "funnel", "stages")
    assert pick_cols(stages, "clients", "median_hours") == [
        (2, None),
        (1, D("4.00")),
        (1, D("2.00")),
        (1, D("2.00")),
        (1, D("1.00")),
    ]
    stuck = section_rows(database, "funnel", "stuck")
    assert pick_cols(stuck, "client", "stage", "next_step") == [("R2", "registered", "KYC approval")]
    assert pick_cols(section_rows(database, "payments", "failures"), "reason_code", "currency", "count", "amount") == [
        ("card_declined", "USD", 1, D("30.00"))
    ]
    assert pick_cols(section_rows(database, "payments", "net"), "currency", "net") == [("USD", D("100.00"))]
