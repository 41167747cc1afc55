"""Transfers from platform events: failed then completed, completed then failed."""

from __future__ import annotations

from tests.payments.builders import account, deposit, ingest, profile, registered, transfer


def test_a_transfer_failed_then_completed_posts_once_and_the_reverse_keeps_it(database):
    ingest(
        database,
        registered("C1"),
        account(minute=1),
        deposit("completed", minute=2, amount="100.00"),
        transfer("failed", minute=3, tid="t1", amount="40.00", reason="timeout"),
        transfer("completed", minute=4, tid="t1", amount="40.00"),
        transfer("completed", minute=5, tid="t2", amount="10.00"),
        transfer("failed", minute=6, tid="t2", amount="10.00", reason="late report"),
    )
    data = profile(database, "C1")
    assert data["wallets"] == {"USD": "50.00"}
    assert {t["id"]: (t["status"], t["reason"]) for t in data["payments"]["transfers"]} == {
        "t1": ("completed", None),
        "t2": ("completed", None),
    }
