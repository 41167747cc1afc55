"""Several clients through deposits, transfers, accounts and withdrawals, then a full replay."""

from __future__ import annotations

from sqlalchemy import func, or_, select, update

from engine import processing
from engine.db import unit_of_work
from engine.events.models import PENDING, Event
from engine.processing.ingest import ingest_lines
from engine.payments import withdrawals
from engine.payments.models import LedgerEntry, Posting
from tests.helpers import event, jsonl
from tests.payments.builders import account, at, deposit, ingest, profile, registered, set_kyc, transfer, withdrawal


def history():
    """The event history of four clients, in the order a provider might deliver it."""
    c1 = [
        registered("C1"),
        *[deposit("failed", "C1", m, pid=f"c1-f{m}", amount="500.00") for m in (1, 20, 40)],
        deposit("completed", "C1", 50, pid="c1-ok", amount="500.00"),
        account("C1", 60, aid="A1"),
        transfer("completed", "C1", 70, tid="c1-t1", amount="200.00"),
        transfer("failed", "C1", 71, tid="c1-t2", amount="900.00", reason="Insufficient funds"),
        withdrawal("requested", "C1", 80, wid="c1-w1", amount="100.00"),
    ]
    c2 = [
        registered("C2"),
        deposit("completed", "C2", 1, pid="c2-d1", amount="1000.00", currency="EUR"),
        withdrawal("requested", "C2", 5, wid="c2-w1", amount="300.00", currency="EUR"),
        withdrawal("requested", "C2", 6, wid="c2-w2", amount="250.00", currency="EUR"),
    ]
    c3 = [
        registered("C3", auto_funding=True),
        account("C3", 1, aid="B1"),
        deposit("completed", "C3", 2, pid="c3-d1", amount="300.00"),
        transfer("completed", "C3", 3, tid="c3-t1", frm="B1", to="wallet", amount="50.00"),
        withdrawal("requested", "C3", 4, wid="c3-w1", amount="60.00"),
        event("account.status_changed", "C3", at(5), account_id="B1", status="locked", reason="Suspected bonus abuse"),
    ]
    c4 = [
        registered("C4"),
        deposit("refunded", "C4", 30, pid="c4-d1", amount="40.00"),  # before its completion
        deposit("completed", "C4", 10, pid="c4-d1", amount="99.99"),
        deposit("completed", "C4", 11, pid="c4-d2", amount="0.01"),
    ]
    return c1, c2, c3, c4


def run_scenario(database):
    c1, c2, c3, c4 = history()
    ingest(database, c1[0])
    set_kyc(database, "C1", "approved")
    ingest(database, *c1[1:], *c2, *c3)
    ingest(database, c4[0], c4[1])
    ingest(database, *c4[2:])
    with unit_of_work(database) as s:
        withdrawals.approve(s, withdrawal_id="c1-w1", actor="fin@x.com", role="finance")
    ingest(database, withdrawal("paid", "C1", 200, wid="c1-w1", amount="100.00"))
    with unit_of_work(database) as s:
        withdrawals.reject(
            s, withdrawal_id="c2-w1", actor="comp@x.com", role="compliance", reason="source of funds unclear"
        )
        withdrawals.approve(s, withdrawal_id="c2-w2", actor="comp@x.com", role="compliance")
        withdrawals.approve(s, withdrawal_id="c2-w2", actor="fin@x.com", role="finance")
    return c1 + c2 + c3 + c4


def snapshot(database):
    out = {}
    for ref in ("C1", "C2", "C3", "C4"):
        data = profile(database, ref)
        out[ref] = (
            data["wallets"],
            data["payments"]["held"],
            data["payments"]["owed"],
            {w["id"]: (w["status"], w["waiting_for"]) for w in data["withdrawals"]},
        )
    with unit_of_work(database) as s:
        out["postings"] = s.scalar(select(func.count()).select_from(Posting))
        out["ledger_sum"] = s.scalar(select(func.sum(LedgerEntry.amount)))
    return out


EXPECTED = {
    "C1": ({"USD": "200.00"}, {}, {}, {"c1-w1": ("paid", None)}),
    "C2": (
        {"EUR": "750.00"},
        {"EUR": "250.00"},
        {},
        {"c2-w1": ("rejected", None), "c2-w2": ("pending", "payment_provider")},
    ),
    "C3": ({"USD": "50.00"}, {}, {}, {"c3-w1": ("refused", None)}),
    "C4": ({"USD": "60.00"}, {}, {}, {}),
}


def test_balances_pending_reasons_and_timelines_survive_a_replay(database):
    events = run_scenario(database)
    first = snapshot(database)
    assert {k: first[k] for k in EXPECTED} == EXPECTED
    assert first["ledger_sum"] == 0
    # C1: 1 credit, 1 transfer, hold + paid; C2: credit, 2 holds, 1 release; C3: credit,
    # auto-funding, transfer back; C4: 2 credits and the refund.
    assert first["postings"] == 4 + 4 + 3 + 3
    c1 = profile(database, "C1")
    assert "Task done: Approve withdrawal c1-w1 (finance step)" in [i["title"] for i in c1["timeline"]]
    assert [i["title"] for i in c1["timeline"] if not i["title"].startswith("Task ")][:6] == [
        "Withdrawal c1-w1 provider done by system:test: paid",
        "Withdrawal c1-w1 finance approved by fin@x.com",
        "Withdrawal 100.00 USD requested",
        "Transfer 900.00 USD wallet -> A1 failed: Insufficient funds",
        "Transfer 200.00 USD wallet -> A1 completed",
        "mt5 standard account A1 opened (USD, 1:100)",
    ]
    assert c1["funnel_stage"] == "account_opened"
    c3 = profile(database, "C3")
    assert c3["accounts"][0]["lock_reason"] == "Suspected bonus abuse"
    assert c3["withdrawals"][0]["reason"].startswith("insufficient funds: wallet:C3:USD holds 50")

    report = ingest_lines(database, jsonl(events).splitlines())  # the same file again
    assert (report.accepted, report.duplicate) == (0, len(events))
    with unit_of_work(database) as s:  # and every payment and account event processed again
        s.execute(
            update(Event)
            .where(or_(*(Event.type.like(f"{p}.%") for p in ("payment", "wallet", "account", "trade"))))
            .values(status=PENDING, processed_at=None)
        )
    processing.process_all_pending(database)
    assert snapshot(database) == first
