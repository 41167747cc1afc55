"""A small known broker: clients, KYC, deposits, withdrawals, accounts, IBs, commissions, tasks.

Every figure the report tests expect is worked out by hand from these rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from engine.accounts.models import TradingAccount
from engine.clients.models import Client
from engine.db import unit_of_work
from engine.ib.models import IbClientStats, IbCommission, IbPayoutBatch, IbTrade, IntroducingBroker
from engine.payments.models import Deposit, Withdrawal
from engine.tasks.models import Task
from engine.values import UTC

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def at(text: str) -> datetime:
    """Parse `2026-01-05 10:00` as UTC."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


H = timedelta(hours=1)
# ref: (registered, country, source, status, kyc_status, kyc hours after registering, ib)
CLIENTS = {
    "A1": ("2026-01-05 10:00", "DE", "google", "approved", "approved", 4, "IB-1"),
    "A2": ("2026-01-10 00:00", "DE", "google", "approved", "approved", 10, "IB-1"),
    "A3": ("2026-01-20 00:00", "FR", "partner", "approved", "approved", 2, "IB-2"),
    "A4": ("2026-02-03 00:00", "FR", "organic", "pending", "pending", None, None),
    "A5": ("2026-02-10 00:00", "DE", "google", "rejected", "rejected", 5, None),
    "A6": ("2026-02-27 00:00", "ES", "organic", "pending", "approved", 1, "IB-2"),
}


def _clients(s) -> None:
    for ref, (reg, country, source, status, kyc, kyc_h, ib) in CLIENTS.items():
        registered = at(reg)
        s.add(
            Client(
                ref=ref,
                status=status,
                created_at=registered,
                registered_at=registered,
                country=country,
                source=source,
                kyc_status=kyc,
                kyc_status_at=registered + kyc_h * H if kyc_h else None,
                funnel_stage="registered",
                auto_funding=False,
            )
        )
        if ib:
            s.add(IbClientStats(client_ref=ref, ib_id=ib, registered_at=registered, chargebacks=0))
    # Made by an event before any registration: not in the funnel.
    s.add(
        Client(
            ref="X9",
            status="pending",
            created_at=at("2026-01-02 00:00"),
            kyc_status="not_started",
            funnel_stage="registered",
            auto_funding=False,
        )
    )
    for acc, ref, opened, traded in (
        ("M-1", "A1", "2026-01-06 16:00", "2026-01-06 18:00"),
        ("M-2", "A2", "2026-01-11 04:00", None),
        ("M-3", "A1", "2026-01-20 00:00", "2026-01-21 00:00"),
    ):
        s.add(
            TradingAccount(
                account_id=acc,
                client_ref=ref,
                platform="mt5",
                account_type="std",
                currency="USD",
                leverage=100,
                status="active",
                opened_at=at(opened),
                first_trade_at=at(traded) if traded else None,
            )
        )


def _deposit(s, pid, ref, provider, method, amount, cur, status, requested, **times) -> None:
    values = {
        k: (at(v) if k.endswith("_at") else Decimal(v)) for k, v in times.items() if k not in ("reason_code", "reason")
    }
    s.add(
        Deposit(
            client_ref=ref,
            provider=provider,
            payment_id=pid,
            method=method,
            amount=Decimal(amount),
            currency=cur,
            status=status,
            requested_at=at(requested) if requested else None,
            reason_code=times.get("reason_code"),
            reason=times.get("reason"),
            updated_at=NOW,
            **values,
        )
    )


def _payments(s) -> None:
    _deposit(
        s,
        "d1",
        "A1",
        "stripe",
        "card",
        "100.00",
        "USD",
        "completed",
        "2026-01-05 15:00",
        completed_at="2026-01-05 16:00",
    )
    _deposit(
        s,
        "d2",
        "A2",
        "stripe",
        "card",
        "250.50",
        "USD",
        "refunded",
        "2026-01-10 15:00",
        completed_at="2026-01-10 16:00",
        refunded_at="2026-02-01 00:00",
        refund_amount="50.00",
    )
    for pid, day in (("d3", "21"), ("d4", "22")):
        _deposit(
            s,
            pid,
            "A3",
            "stripe",
            "card",
            "75.00" if pid == "d3" else "80.00",
            "USD",
            "failed",
            f"2026-01-{day} 00:00",
            failed_at=f"2026-01-{day} 00:01",
            reason_code="card_declined",
            reason="Your card was declined.",
        )
    _deposit(
        s,
        "d5",
        "A4",
        "nowpayments",
        "crypto",
        "0.01",
        "BTC",
        "failed",
        "2026-02-04 00:00",
        failed_at="2026-02-04 01:00",
        reason_code="expired",
        reason="Payment expired",
    )
    _deposit(
        s,
        "d6",
        "A1",
        "camt054",
        "bank_wire",
        "1000.00",
        "EUR",
        "charged_back",
        "2026-02-02 00:00",
        completed_at="2026-02-03 00:00",
        charged_back_at="2026-02-20 00:00",
        chargeback_amount="1000.00",
        reason_code="fraud",
    )
    _deposit(s, "d7", "A6", "stripe", "card", "20.00", "USD", "requested", "2026-02-27 00:00")
    for wid, ref, amount, cur, method, status, waiting, requested, closed, reason in (
        ("w1", "A1", "30.00", "USD", "card", "paid", None, "2026-01-07 00:00", "2026-01-08 00:00", None),
        ("w2", "A2", "40.00", "USD", "card", "pending", "compliance", "2026-02-20 00:00", None, None),
        ("w3", "A1", "60.00", "USD", "bank_wire", "pending", "finance", "2026-02-25 00:00", None, None),
        ("w4", "A2", "10.00", "USD", "card", "pending", "finance", "2026-02-27 12:00", None, None),
        (
            "w5",
            "A1",
            "500.00",
            "EUR",
            "bank_wire",
            "rejected",
            None,
            "2026-02-21 00:00",
            "2026-02-22 00:00",
            "insufficient balance",
        ),
    ):
        s.add(
            Withdrawal(
                withdrawal_id=wid,
                client_ref=ref,
                amount=Decimal(amount),
                currency=cur,
                method=method,
                status=status,
                step=waiting and f"{waiting}_review",
                waiting_for=waiting,
                chain=[],
                requested_by=ref,
                reason=reason,
                requested_at=at(requested),
                closed_at=at(closed) if closed else None,
                updated_at=NOW,
            )
        )


def _ibs(s) -> None:
    for ib, parent in (("IB-1", None), ("IB-2", "IB-1"), ("IB-3", None)):
        s.add(
            IntroducingBroker(
                ib_id=ib,
                referral_code=f"R-{ib}",
                client_ref=f"C-{ib}",
                parent_ib_id=parent,
                registered_at=at("2025-12-01 00:00"),
            )
        )
    for n, (closed, lots) in enumerate((("2026-01-06 20:00", "1.5"), ("2026-02-01 00:00", "0.25"))):
        s.add(
            IbTrade(
                client_ref="A1",
                account_id="M-1",
                ticket=str(n),
                symbol="EURUSD",
                lots=Decimal(lots),
                open_time=at("2026-01-06 18:00"),
                close_time=at(closed),
                held_seconds=3600,
                profit=Decimal("1"),
                fee=Decimal(0),
                currency="USD",
            )
        )
    paid = IbPayoutBatch(
        currency="USD",
        total=Decimal("48.00"),
        status="paid",
        created_at=at("2026-02-14 00:00"),
        created_by="finance",
        paid_at=at("2026-02-15 00:00"),
    )
    open_ = IbPayoutBatch(
        currency="USD", total=Decimal("7.50"), status="open", created_at=at("2026-02-16 00:00"), created_by="finance"
    )
    s.add_all([paid, open_])
    s.flush()
    for n, (ib, typ, amount, cur, status, earned, batch, reason) in enumerate(
        (
            ("IB-1", "cpa", "50.00", "USD", "paid", "2026-01-06 00:00", paid, None),
            ("IB-1", "lot_rebate", "7.50", "USD", "approved", "2026-01-07 00:00", open_, None),
            ("IB-1", "lot_rebate", "3.25", "USD", "pending_review", "2026-02-02 00:00", None, None),
            ("IB-1", "revshare", "10.00", "EUR", "rejected", "2026-02-03 00:00", None, None),
            ("IB-1", "reversal", "-2.00", "USD", "paid", "2026-01-20 00:00", paid, "chargeback"),
            ("IB-1", "reversal", "-1.00", "EUR", "approved", "2026-02-05 00:00", None, "fraud"),
            ("IB-2", "cpa", "20.00", "USD", "pending_review", "2026-01-21 00:00", None, None),
            ("IB-1", "override", "4.00", "USD", "approved", "2026-01-21 00:00", None, None),
        )
    ):
        s.add(
            IbCommission(
                key=f"k{n}",
                ib_id=ib,
                client_ref="A1",
                type=typ,
                amount=Decimal(amount),
                currency=cur,
                status=status,
                explanation={},
                earned_at=at(earned),
                created_at=at(earned),
                created_by="test",
                batch_id=batch and batch.id,
                reason=reason,
                level=1 if typ == "override" else 0,
            )
        )


def _tasks(s) -> None:
    for n, (queue, rule, status, created, closed, due) in enumerate(
        (
            ("compliance", "kyc-stuck", "done", "2026-02-01 00:00", "2026-02-01 06:00", "2026-02-02 00:00"),
            ("compliance", "kyc-stuck", "done", "2026-02-02 00:00", "2026-02-03 00:00", "2026-02-02 12:00"),
            ("compliance", "kyc-stuck", "dismissed", "2026-02-03 00:00", "2026-02-03 01:00", "2026-02-04 00:00"),
            ("finance", "big-withdrawal", "open", "2026-02-05 00:00", None, "2026-02-06 00:00"),
            ("finance", "big-withdrawal", "dismissed", "2026-02-06 00:00", "2026-02-06 02:00", "2026-02-07 00:00"),
            ("finance", "big-withdrawal", "dismissed", "2026-02-07 00:00", "2026-02-07 03:00", None),
            ("finance", "big-withdrawal", "done", "2026-02-08 00:00", "2026-02-08 10:00", "2026-02-09 00:00"),
            ("support", None, "in_progress", "2026-02-10 00:00", None, "2026-03-05 00:00"),
            ("compliance", "kyc-stuck", "done", "2026-01-15 00:00", "2026-01-15 02:00", None),
        )
    ):
        s.add(
            Task(
                queue=queue,
                rule_id=rule,
                status=status,
                title=f"task {n}",
                priority="normal",
                priority_rank=20,
                created_at=at(created),
                updated_at=at(created),
                closed_at=at(closed) if closed else None,
                due_at=at(due) if due else None,
            )
        )


def build(database) -> None:
    """Insert the whole data set."""
    with unit_of_work(database) as s:
        _clients(s)
        _payments(s)
        _ibs(s)
        _tasks(s)
