"""Property: over random sequences of ledger operations, balances equal the sum of their
entries, match a simple model of the rules, and a wallet never goes negative."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from engine.accounts import service as accounts_service
from engine.clients.models import Client
from engine.db import unit_of_work
from engine.events.store import ensure_clients
from engine.payments import deposits, ledger, transfers, withdrawals
from engine.payments.ledger import LedgerError
from engine.payments.models import LedgerEntry

ZERO = Decimal(0)
T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
_clients = itertools.count(1)

amounts = st.one_of(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("900"), places=2),
    st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("3"), places=8),
)
operations = st.lists(
    st.tuples(
        st.sampled_from(
            ["deposit", "refund", "chargeback", "withdraw", "pay", "reject", "to_account", "from_account", "fee"]
        ),
        amounts,
        st.integers(0, 7),
    ),
    max_size=25,
)


class Model:
    """What the balances must be, computed without the ledger."""

    def __init__(self):
        self.wallet = self.hold = self.debt = ZERO
        self.deposits: list[dict] = []  # id, amount, reversed amount, reversal kinds seen
        self.pending: list[tuple[str, Decimal]] = []

    def take(self, amount: Decimal) -> None:
        covered = min(self.wallet, amount)
        self.wallet -= covered
        self.debt += amount - covered


def _run(session, client, model, op, amount, pick, step):
    ref, at = client.ref, T0 + timedelta(minutes=step)
    if op == "deposit":
        pid = f"{ref}-d{step}"
        deposits.apply(
            session,
            client=client,
            status="completed",
            occurred_at=at,
            data={"payment_id": pid, "amount": str(amount), "currency": "USD", "method": "card", "provider": "stripe"},
        )
        model.wallet += amount
        model.deposits.append({"id": pid, "amount": amount, "reversed": ZERO, "kinds": set()})
    elif op in ("refund", "chargeback") and model.deposits:
        d = model.deposits[pick % len(model.deposits)]
        status = "refunded" if op == "refund" else "charged_back"
        deposits.apply(
            session,
            client=client,
            status=status,
            occurred_at=at,
            data={
                "payment_id": d["id"],
                "amount": str(d["amount"]),
                "currency": "USD",
                "method": "card",
                "provider": "stripe",
            },
        )
        if op not in d["kinds"]:  # one refund and one chargeback per deposit, capped by it
            d["kinds"].add(op)
            model.take(d["amount"] - d["reversed"])
            d["reversed"] = d["amount"]
    elif op == "withdraw":
        w = withdrawals.request(
            session,
            client=client,
            withdrawal_id=f"{ref}-w{step}",
            amount=amount,
            currency="USD",
            requested_by=f"client:{ref}",
            requested_at=at,
        )
        if amount <= model.wallet:
            assert w.status == "pending"
            model.wallet, model.hold = model.wallet - amount, model.hold + amount
            model.pending.append((w.withdrawal_id, amount))
        else:
            assert w.status == "refused" and "insufficient funds" in w.reason
    elif op in ("pay", "reject") and model.pending:
        wid, held = model.pending.pop(pick % len(model.pending))
        if op == "pay":
            withdrawals.paid(
                session, client=client, source="psp", amount=held, at=at, data={"withdrawal_id": wid, "currency": "USD"}
            )
        else:
            withdrawals.provider_rejected(session, withdrawal_id=wid, source="bo", reason="test", at=at)
            model.wallet += held
        model.hold -= held
    elif op in ("to_account", "from_account"):
        frm, to = ("wallet", f"A-{ref}") if op == "to_account" else (f"A-{ref}", "wallet")
        t = transfers.apply(
            session,
            client_ref=ref,
            transfer_id=f"{ref}-t{step}",
            source=frm,
            destination=to,
            amount=amount,
            currency="USD",
            occurred_at=at,
        )
        if op == "from_account":
            model.wallet += amount
        elif amount <= model.wallet:
            model.wallet -= amount
        else:
            assert t.status == "refused" and "insufficient funds" in t.reason
    elif op == "fee":
        try:
            transfers.charge_fee(
                session,
                client_ref=ref,
                fee_id=f"{ref}-f{step}",
                amount=amount,
                currency="USD",
                reason="fee",
                occurred_at=at,
            )
            model.wallet -= amount
        except LedgerError as exc:
            assert amount > model.wallet and "insufficient funds" in str(exc)


def _sum(session, account):
    return session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(LedgerEntry.account == account))


def _check(session, ref, model):
    wallet = ledger.balance(session, ledger.wallet(ref, "USD"), "USD")
    assert wallet == _sum(session, ledger.wallet(ref, "USD")) == model.wallet
    assert ledger.balance(session, ledger.hold(ref, "USD"), "USD") == model.hold
    assert -ledger.balance(session, ledger.debt(ref, "USD"), "USD") == model.debt
    assert wallet >= 0 and model.hold >= 0
    assert session.scalar(select(func.sum(LedgerEntry.amount))) in (None, 0)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
@example(
    ops=[
        ("deposit", Decimal("5"), 0),
        ("refund", Decimal("1"), 0),  # found by hypothesis:
        ("chargeback", Decimal("1"), 0),
    ]
)  # reversed only once
def test_balances_are_sums_of_entries_and_never_negative(database, ops):
    ref = f"P{next(_clients)}"
    with unit_of_work(database) as s:
        ensure_clients(s, {ref})
        client = s.scalar(select(Client).where(Client.ref == ref))
        client.kyc_status = "approved"
        accounts_service.open_account(
            s,
            client_ref=ref,
            account_id=f"A-{ref}",
            platform="mt5",
            account_type="standard",
            currency="USD",
            leverage=100,
            opened_at=T0,
        )
        model = Model()
        for step, (op, amount, pick) in enumerate(ops):
            _run(s, client, model, op, amount, pick, step)
            _check(s, ref, model)
