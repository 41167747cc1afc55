"""Trading accounts from platform events: status and lock reason, snapshots, trades, updates."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.accounts import service
from engine.accounts.service import AccountError
from engine.db import unit_of_work
from engine.values import clock
from tests.helpers import event
from tests.payments.builders import account, at, ingest, profile, registered


def trade(client="C1", minute=0, aid="A1", ticket="t1", closed=None):
    data = dict(account_id=aid, ticket=ticket, symbol="EURUSD", side="buy", volume_lots="1.5", open_time=at(minute))
    if closed is None:
        return event("trade.opened", client, at(minute), **data)
    return event("trade.closed", client, at(closed), close_time=at(closed), profit="12.50", **data)


def test_the_profile_shows_status_lock_reason_snapshot_and_first_trade(database):
    ingest(
        database,
        registered("C1"),
        account(minute=1, aid="A1", leverage=200),
        event("account.status_changed", "C1", at(5), account_id="A1", status="locked", reason="margin call unpaid"),
        event("account.balance_updated", "C1", at(6), account_id="A1", balance="1000.50", equity="990.25"),
        event(
            "account.balance_updated", "C1", at(3), account_id="A1", balance="1.00", equity="1.00"
        ),  # older snapshot: ignored
        trade(minute=7, ticket="t1"),
        trade(minute=4, ticket="t0", closed=8),
    )
    [acc] = profile(database, "C1")["accounts"]
    assert {
        k: acc[k]
        for k in (
            "id",
            "platform",
            "type",
            "currency",
            "leverage",
            "status",
            "lock_reason",
            "balance",
            "equity",
            "first_trade_at",
            "last_trade_at",
        )
    } == {
        "id": "A1",
        "platform": "mt5",
        "type": "standard",
        "currency": "USD",
        "leverage": 200,
        "status": "locked",
        "lock_reason": "margin call unpaid",
        "balance": "1000.50",
        "equity": "990.25",
        "first_trade_at": "2026-11-01T10:04:00Z",
        "last_trade_at": "2026-11-01T10:08:00Z",
    }
    data = profile(database, "C1")
    assert data["funnel_stage"] == "first_trade"
    titles = [i["title"] for i in data["timeline"] if i["kind"] == "account"]
    assert titles == [
        "account A1 locked: margin call unpaid",
        "first trade on A1 (ticket t0)",
        "mt5 standard account A1 opened (USD, 1:200)",
    ]


def test_a_late_status_is_history_and_reactivation_clears_the_reason(database):
    ingest(
        database,
        registered("C1"),
        account(minute=1),
        event("account.status_changed", "C1", at(10), account_id="A1", status="active"),
    )
    ingest(database, event("account.status_changed", "C1", at(5), account_id="A1", status="disabled", reason="old"))
    [acc] = profile(database, "C1")["accounts"]
    assert (acc["status"], acc["lock_reason"]) == ("active", None)


def test_trades_reported_before_the_account_still_count(database):
    ingest(database, registered("C1"), trade(minute=2, ticket="t9"))
    assert profile(database, "C1")["funnel_stage"] == "registered"
    ingest(database, account(minute=1))
    data = profile(database, "C1")
    assert data["accounts"][0]["first_trade_at"] == "2026-11-01T10:02:00Z"
    assert data["funnel_stage"] == "first_trade"


def test_activity_follows_the_policy_period(database):
    ingest(
        database, registered("C1"), account(minute=1, aid="A1"), account(minute=1, aid="A2"), trade(minute=2, aid="A1")
    )
    clock.freeze(datetime(2026, 11, 30, tzinfo=timezone.utc))
    assert [a["activity"] for a in profile(database, "C1")["accounts"]] == ["active", "active"]
    clock.freeze(datetime(2026, 12, 2, tzinfo=timezone.utc))
    assert [a["activity"] for a in profile(database, "C1")["accounts"]] == ["inactive", "inactive"]
    with unit_of_work(database) as s:
        acc = service.get(s, "A1")
        assert service.activity(acc, timedelta(days=31)) == "active"


def test_manual_updates_keep_before_and_after_and_refuse_bad_input(database):
    ingest(database, registered("C1"), account(minute=1, leverage=100))
    with unit_of_work(database) as s:
        service.update(
            s,
            account_id="A1",
            actor="ops@example.com",
            changes={"leverage": 30, "status": "locked", "status_reason": "ESMA retail limit"},
            reason="regulatory",
        )
    for changes, reason, message in [
        ({"leverage": 0}, "x", "leverage must be a whole number from 1 to 3000"),
        ({"balance": "1"}, "x", "cannot change balance"),
        ({"status": "frozen"}, "x", "status must be one of active, locked, disabled"),
        ({"leverage": 50}, " ", "a manual update needs a reason"),
    ]:
        with unit_of_work(database) as s, pytest.raises(AccountError, match=message):
            service.update(s, account_id="A1", actor="ops@example.com", changes=changes, reason=reason)
    data = profile(database, "C1")
    acc = data["accounts"][0]
    assert (acc["leverage"], acc["status"], acc["lock_reason"]) == (30, "locked", "ESMA retail limit")
    with unit_of_work(database) as s:
        [manual] = [h for h in service.history(s, "C1") if h.kind == "manual_update"]
        assert manual.detail["before"] == {"leverage": 100, "status": "active", "status_reason": None}
        assert manual.actor == "ops@example.com"
        with pytest.raises(AccountError, match="A1 belongs to another client"):
            service.owned(s, "C2", "A1")
        service.update(
            s, account_id="A1", actor="ops2@example.com", changes={"status": "active"}, reason="limit lifted"
        )
        assert (service.get(s, "A1").status, service.get(s, "A1").status_reason) == ("active", None)


def test_account_type_and_last_trade_facts(database):
    """client.accounts.types lists the active accounts' types once; last_trade_at is the latest trade."""
    from engine.clients.models import Client
    from engine.facts import load_domain_facts

    ingest(
        database,
        registered("C1"),
        account(minute=1),
        account(minute=2, aid="A2", account_type="pro"),
        account(minute=3, aid="A3", account_type="pro"),
        trade(minute=4, ticket="t1", closed=9),
        trade(minute=5, aid="A2", ticket="t2", closed=6),
        event("account.status_changed", "C1", at(7), account_id="A1", status="disabled"),
    )
    facts = load_domain_facts()
    with unit_of_work(database) as s:
        client = s.query(Client).filter_by(ref="C1").one()
        assert facts["accounts.types"].loader(s, client) == ["pro"]  # A1 (standard) is disabled
        assert facts["accounts.last_trade_at"].loader(s, client) == datetime(2026, 11, 1, 10, 9, tzinfo=timezone.utc)
