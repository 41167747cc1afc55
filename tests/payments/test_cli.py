"""`fxcrm withdrawals` and `fxcrm wallets` commands."""

from __future__ import annotations

import json

from engine.db import unit_of_work
from engine.users import service as users_service
from tests.payments.builders import account, deposit, ingest, registered, set_kyc, withdrawal


def test_staff_work_withdrawals_and_transfers_from_the_command_line(database, runner):
    ingest(database, registered("C1"), account(minute=1))
    set_kyc(database, "C1", "approved")
    ingest(
        database,
        deposit("completed", minute=2, amount="500.00"),
        withdrawal("requested", minute=3, wid="w1", amount="100.00"),
    )
    with unit_of_work(database) as s:
        users_service.create(s, email="fin@x.com", role="finance", password="pw-123456789")
        users_service.create(s, email="sales@x.com", role="sales", password="pw-123456789")
    listed = runner.invoke(["withdrawals", "list", "--waiting-for", "finance", "--json"])
    assert [w["id"] for w in json.loads(listed.output)] == ["w1"]
    refused = runner.invoke(["withdrawals", "approve", "w1", "--as", "sales@x.com"])
    assert refused.exit_code == 1
    assert "step finance of withdrawal w1 is decided by finance, admin, not sales" in refused.output
    ok = runner.invoke(["withdrawals", "approve", "w1", "--as", "fin@x.com"])
    assert ok.exit_code == 0 and ok.output == "withdrawal w1: pending, waits for payment_provider\n"
    moved = runner.invoke(
        [
            "wallets",
            "transfer",
            "C1",
            "--id",
            "m1",
            "--from",
            "wallet",
            "--to",
            "A1",
            "--amount",
            "400.01",
            "--currency",
            "usd",
            "--as",
            "fin@x.com",
        ]
    )
    assert moved.exit_code == 1
    assert "insufficient funds: wallet:C1:USD holds 400.00000000 USD" in moved.output
    runner.invoke(
        [
            "wallets",
            "transfer",
            "C1",
            "--id",
            "m2",
            "--from",
            "wallet",
            "--to",
            "A1",
            "--amount",
            "150",
            "--currency",
            "USD",
            "--as",
            "fin@x.com",
        ]
    )
    shown = json.loads(runner.invoke(["wallets", "show", "C1", "--json"]).output)
    assert shown == {"wallet": {"USD": "250.00"}, "hold": {"USD": "100.00"}, "debt": {}}
