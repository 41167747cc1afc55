"""IB performance figures and the `fxcrm ib list/show` commands."""

from __future__ import annotations

import json
from datetime import timedelta

from engine.db import unit_of_work
from engine.ib import performance
from engine.values import clock
from tests.helpers import event
from tests.ib.builders import T0, at, client, deposit, ib, trade


def test_figures_per_ib(database, feed, runner):
    feed(ib("P-A", "IB-A", "A") + ib("P-B", "IB-B", "B", "IB-A"))
    feed(
        client("C1", "A")
        + client("C2", "A", kyc=False)
        + client("C3", "B")
        + client("C4", "A")
        + [
            deposit("C1", "300.00", 1),
            deposit("C1", "100.00", 2, payment_id="px"),
            deposit("C1", "100.00", 3, payment_id="px", status="refunded"),
            deposit("C2", "50.00", 1, currency="EUR"),
            event("payment.withdrawal_paid", "C1", at(5), withdrawal_id="w1", amount="40.00", currency="USD"),
            trade("C1", "1.5", 2, held=600),
            trade("C1", "0.5", 20, held=600),
            trade("C3", "2", 3, held=600),
        ]
    )
    clock.freeze(T0 + timedelta(days=40))  # C1 traded 20 days ago, C3 37 days ago
    with unit_of_work(database) as s:
        a, b = performance.figures(s, ["IB-A", "IB-B"])
    assert a == {
        "ib_id": "IB-A",
        "registrations": 3,
        "kyc_approved": 2,
        "funded_clients": 2,
        "active_traders": 1,
        "volume_lots": "2.00000000",
        "net_deposits": {"EUR": "50.00000000", "USD": "260.00000000"},
        "commissions": {"USD": "214.30000000"},
    }  # 13 rebates + 200 CPA + 1.30 override
    assert (b["registrations"], b["active_traders"], b["commissions"]) == (1, 0, {"USD": "13.00000000"})
    shown = json.loads(runner.invoke(["ib", "show", "IB-A", "--json"]).output)
    assert shown["tree"] == ["IB-A", "IB-B"] and shown["sub_ibs"] == ["IB-B"]
    listed = runner.invoke(["ib", "list"]).output.splitlines()
    assert listed[1].split()[:2] == ["IB-B", "parent=IB-A"]
    assert runner.invoke(["ib", "show", "IB-ZZ"]).exit_code == 1
