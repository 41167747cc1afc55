"""Late and out-of-order deliveries end in the same state as in-order delivery.

Each scenario runs for several clients in one database: one client gets its events in
occurred_at order, the others get the same events (with their own ids) shuffled,
duplicated and re-delivered under new event ids, one event per delivery so that each is
processed before the next arrives. Balances (to the cent), ledger entries, transfers and
open tasks must then be equal.
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.db import unit_of_work
from engine.payments import ledger
from engine.payments.models import Posting, Withdrawal
from engine.tasks.models import Task
from tests.helpers import event
from tests.payments.builders import account, deposit, ingest, profile, registered, transfer, withdrawal
from tests.payments.test_rules_end_to_end import activate_shipped_rules


def funded_transfers(ref: str) -> list[dict]:
    """Deposits and the wallet -> account transfers they fund, in occurred_at order."""
    a = f"{ref}-A1"
    return [
        registered(ref),
        account(ref, 1, aid=a),
        deposit("completed", ref, 5, pid=f"{ref}-p1", amount="100.00"),
        transfer("completed", ref, 10, tid=f"{ref}-t1", to=a, amount="60.00"),
        transfer("completed", ref, 11, tid=f"{ref}-t2", to=a, amount="40.00"),
        deposit("completed", ref, 20, pid=f"{ref}-p2", amount="25.51"),
        transfer("completed", ref, 21, tid=f"{ref}-t3", to=a, amount="25.50"),
        transfer("completed", ref, 30, tid=f"{ref}-t4", frm=a, to="wallet", amount="10.00"),
    ]


def failure_then_completion(ref: str) -> list[dict]:
    return [
        registered(ref),
        deposit("failed", ref, 60, pid=f"{ref}-f1"),
        deposit("completed", ref, 120, pid=f"{ref}-c1"),
    ]


def failure_completion_failure(ref: str) -> list[dict]:
    return [
        registered(ref),
        deposit("failed", ref, 60, pid=f"{ref}-f1"),
        deposit("completed", ref, 120, pid=f"{ref}-c1"),
        deposit("failed", ref, 180, pid=f"{ref}-f2", reason_code="risk_blocked", reason="Blocked by risk"),
    ]


def deliver(database, events) -> None:
    for e in events:
        ingest(database, e)  # stored and processed before the next one arrives


def redelivered(e: dict) -> dict:
    """The same event delivered again under another event id (a provider retry)."""
    return event(e["type"], e["client"], e["occurred_at"], source=e["source"], **e["data"])


def duplicated_shuffled(events: list[dict], seed: int, pinned: int) -> list[dict]:
    """Every event twice (once under a new id), shuffled after the first `pinned`."""
    rest = events[pinned:] + [redelivered(e) for e in events[pinned:]] + events[pinned:]
    random.Random(seed).shuffle(rest)
    return events[:pinned] + rest


def state(database, ref: str) -> dict:
    """The client's payments state with its ref masked, so clients can be compared."""
    data = profile(database, ref)
    with unit_of_work(database) as s:
        entries = sorted(
            (p.key.replace(ref, "X"), e.account.replace(ref, "X"), e.currency, ledger.fmt(e.amount))
            for p in s.scalars(select(Posting).where(Posting.client_ref == ref))
            for e in p.entries
        )
        trading = ledger.balance(s, ledger.trading(f"{ref}-A1"), "USD")
        tasks = sorted(
            (t.rule_id or "", t.queue, t.status, t.priority, t.title.replace(ref, "X"))
            for t in s.scalars(select(Task).where(Task.client_ref == ref))
        )
    return {
        "wallets": data["wallets"],
        "trading": ledger.fmt(trading),
        "entries": entries,
        "transfers": sorted(
            (t["id"].replace(ref, "X"), t["status"], t["amount"]) for t in data["payments"]["transfers"]
        ),
        "waiting": data["payments"]["waiting_transfers"],
        "open_tasks": [t for t in tasks if t[2] == "open"],
        "tasks": tasks,
    }


def test_a_transfer_before_its_funding_deposit_waits_and_is_posted_once(database):
    deliver(database, funded_transfers("IN"))
    late = funded_transfers("OUT")
    reg, acc, p1, t1, t2, p2, t3, t4 = late
    deliver(database, [reg, acc, t3, t2, t1])
    waiting = profile(database, "OUT")["payments"]
    assert [t["id"] for t in waiting["waiting_transfers"]] == ["OUT-t1", "OUT-t2", "OUT-t3"]
    assert {t["status"] for t in waiting["transfers"]} == {"waiting"}
    assert waiting["waiting_transfers"][0]["reason"].startswith("waiting for funds: insufficient funds")
    assert profile(database, "OUT")["wallets"] == {}
    deliver(database, [t4])  # account -> wallet: 10.00 covers none of them
    assert len(profile(database, "OUT")["payments"]["waiting_transfers"]) == 3
    deliver(database, [p2])  # 35.51 covers t3 only (the oldest, t1, still waits)
    assert [t["id"] for t in profile(database, "OUT")["payments"]["waiting_transfers"]] == ["OUT-t1", "OUT-t2"]
    assert profile(database, "OUT")["wallets"] == {"USD": "10.01"}
    deliver(database, [p1, t2, t3, p2, redelivered(t1), redelivered(p1)])

    expected, got = state(database, "IN"), state(database, "OUT")
    assert expected["wallets"] == {"USD": "10.01"} and expected["trading"] == "115.50"
    assert {s for _, s, _ in expected["transfers"]} == {"completed"}
    assert got == expected
    with unit_of_work(database) as s:
        keys = list(s.scalars(select(Posting.key).where(Posting.client_ref == "OUT")))
    assert sorted(keys) == sorted(set(keys)) and keys.count("transfer:OUT-t1") == 1


def test_a_transfer_the_wallet_cannot_cover_yet_is_not_refused(database):
    reg, acc, p1, t1, *_ = funded_transfers("C1")
    deliver(database, [reg, acc, t1])
    payments = profile(database, "C1")["payments"]
    assert [(t["id"], t["status"]) for t in payments["transfers"]] == [("C1-t1", "waiting")]
    with unit_of_work(database) as s:
        assert not ledger.is_posted(s, "transfer:C1-t1")
    deliver(database, [p1])
    payments = profile(database, "C1")["payments"]
    assert [(t["id"], t["status"], t["reason"]) for t in payments["transfers"]] == [("C1-t1", "completed", None)]
    assert payments["waiting_transfers"] == []
    assert profile(database, "C1")["wallets"] == {"USD": "40.00"}


def test_duplicated_shuffled_transfers_end_as_in_order(database):
    deliver(database, funded_transfers("IN"))
    expected = state(database, "IN")
    for seed in range(6):
        ref = f"S{seed}"
        deliver(database, duplicated_shuffled(funded_transfers(ref), seed, pinned=1))
        assert state(database, ref) == expected, seed
    assert expected["waiting"] == [] and expected["wallets"] == {"USD": "10.01"}


def test_a_late_failure_older_than_a_completed_deposit_records_its_task_closed(database):
    activate_shipped_rules(database)
    deliver(database, failure_then_completion("IN"))
    reg, failed, completed = failure_then_completion("OUT")
    deliver(database, [reg, completed, failed, redelivered(failed)])
    expected, got = state(database, "IN"), state(database, "OUT")
    assert [t[:3] for t in expected["tasks"]] == [("failed-deposit-task", "support", "done")]
    assert got["tasks"] == expected["tasks"]
    assert got["open_tasks"] == expected["open_tasks"] == []
    assert got["wallets"] == expected["wallets"] == {"USD": "100.00"}
    assert got["entries"] == expected["entries"]


def three_failures(ref: str) -> list[dict]:
    return [
        registered(ref),
        deposit("failed", ref, 60, pid=f"{ref}-f1", reason_code="processing_error", reason="An error occurred"),
        deposit("failed", ref, 75, pid=f"{ref}-f2"),
        deposit("failed", ref, 90, pid=f"{ref}-f3", reason_code="expired_card", reason="Your card has expired."),
    ]


def test_an_older_failure_arriving_late_reroutes_the_open_task_and_says_so(database):
    activate_shipped_rules(database)
    deliver(database, three_failures("IN"))
    reg, f1, f2, f3 = three_failures("OUT")
    deliver(database, [reg, f3, f2])
    assert [t[1] for t in state(database, "OUT")["tasks"]] == ["support"]
    deliver(database, [f1, redelivered(f2)])
    expected, got = state(database, "IN"), state(database, "OUT")
    assert [t[1:3] for t in expected["tasks"]] == [("finance", "open")]
    assert got["tasks"] == expected["tasks"]
    with unit_of_work(database) as s:
        task = s.scalar(select(Task).where(Task.client_ref == "OUT"))
        rerouted = [h for h in task.history if h.action == "rerouted"]
        # f2 re-titles the task f3 opened (both support), then f1 re-routes it to finance.
        assert [(h.data["from"]["queue"], h.data["to"]["queue"]) for h in rerouted] == [
            ("support", "support"),
            ("support", "finance"),
        ]
        assert task.due_at == s.scalar(select(Task).where(Task.client_ref == "IN")).due_at


def test_a_late_completion_older_than_a_failure_keeps_its_task_open(database):
    activate_shipped_rules(database)
    deliver(database, failure_completion_failure("IN"))
    reg, f1, c1, f2 = failure_completion_failure("OUT")
    deliver(database, [reg, f2, c1, f1])
    expected, got = state(database, "IN"), state(database, "OUT")
    assert expected["open_tasks"] == [
        ("failed-deposit-task", "finance", "open", "normal", "Failed deposit of 100.00 USD via stripe: Blocked by risk")
    ]
    assert got["open_tasks"] == expected["open_tasks"]
    assert got["wallets"] == expected["wallets"] and got["entries"] == expected["entries"]


def test_duplicated_shuffled_deposits_leave_the_same_tasks(database):
    activate_shipped_rules(database)
    for history in (failure_completion_failure, failure_then_completion, three_failures):
        deliver(database, history(f"IN-{history.__name__}"))
        expected = state(database, f"IN-{history.__name__}")
        for seed in range(6):
            ref = f"S{seed}-{history.__name__}"
            deliver(database, duplicated_shuffled(history(ref), seed, pinned=1))
            got = state(database, ref)
            # The same tasks, open or closed, with the queue and title of the failure
            # that opened each in order.
            assert got["tasks"] == expected["tasks"], (history.__name__, seed)
            assert got["wallets"] == expected["wallets"] and got["entries"] == expected["entries"]


def test_a_transfer_before_its_account_is_created_waits_for_the_account(database):
    deliver(database, funded_transfers("IN"))
    reg, acc, p1, t1, t2, p2, t3, t4 = funded_transfers("OUT")
    deliver(database, [reg, p1, t1])
    waiting = profile(database, "OUT")["payments"]["waiting_transfers"]
    assert [(t["id"], t["status"], t["reason"]) for t in waiting] == [
        ("OUT-t1", "waiting", "waiting for account OUT-A1")
    ]
    assert profile(database, "OUT")["wallets"] == {"USD": "100.00"}
    deliver(database, [t4, t2, acc, t3, p2, redelivered(acc), redelivered(t1)])
    assert state(database, "OUT") == state(database, "IN")
    deliver(
        database,
        [
            event(
                "wallet.transfer_completed",
                "OUT",
                t1["occurred_at"],
                transfer_id="OUT-x",
                amount="1.00",
                currency="USD",
                **{"from": "wallet", "to": "IN-A1"},
            )
        ],
    )
    assert [
        (t["id"], t["status"]) for t in profile(database, "OUT")["payments"]["transfers"] if t["id"] == "OUT-x"
    ] == [("OUT-x", "refused")]  # another client's account


def funded_then_withdrawal(ref: str) -> list[dict]:
    a = f"{ref}-A1"
    return [
        registered(ref),
        account(ref, 1, aid=a),
        deposit("completed", ref, 5, pid=f"{ref}-p1", amount="100.00"),
        transfer("completed", ref, 10, tid=f"{ref}-t1", to=a, amount="100.00"),
        withdrawal("requested", ref, 20, wid=f"{ref}-w1", amount="50.00"),
    ]


@pytest.mark.parametrize("account_last", [False, True])
def test_a_late_transfer_older_than_a_withdrawal_is_posted_and_the_withdrawal_refused(database, account_last):
    activate_shipped_rules(database)
    deliver(database, funded_then_withdrawal("IN"))
    reg, acc, dep, moved, asked = funded_then_withdrawal("OUT")
    deliver(database, [reg, dep, asked] + ([] if account_last else [acc]))
    assert profile(database, "OUT")["wallets"] == {"USD": "50.00"}  # 50.00 held
    # The transfer arrives late; with account_last it waits for its account first.
    deliver(database, [moved, redelivered(moved)] + ([acc] if account_last else []))
    expected, got = state(database, "IN"), state(database, "OUT")
    assert got["wallets"] == expected["wallets"] and got["trading"] == expected["trading"] == "100.00"
    assert got["transfers"] == expected["transfers"] and got["waiting"] == []
    with unit_of_work(database) as s:
        (withdrawal,) = s.scalars(select(Withdrawal).where(Withdrawal.client_ref == "OUT"))
        assert withdrawal.status == "refused" and "OUT-t1" in withdrawal.reason
    # What happened stays on record: the hold and its release, which cancel out.
    extra = [e for e in got["entries"] if e not in expected["entries"]]
    assert sorted(e[0] for e in extra) == ["withdrawal:X-w1:hold"] * 2 + ["withdrawal:X-w1:release"] * 2
    assert sum(Decimal(e[3]) for e in extra) == 0
