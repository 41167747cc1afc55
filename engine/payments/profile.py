"""Client profile sections: wallets, payments, withdrawals and the timeline."""

from __future__ import annotations

from engine.clients.service import section
from engine.payments import deposits, ledger, transfers, withdrawals
from engine.payments.timeline import timeline as build_timeline
from engine.values import iso


@section("wallets")
def wallets(session, client):
    """Return the wallet balance per currency as decimal strings, e.g. {"USD": "1234.50"}."""
    return {cur: ledger.fmt(amount) for cur, amount in ledger.balances(session, client.ref).items()}


def _deposit(d) -> dict:
    return {
        "id": d.payment_id,
        "provider": d.provider,
        "method": d.method,
        "amount": ledger.fmt(d.amount),
        "currency": d.currency,
        "status": d.status,
        "reference": d.reference,
        "account_id": d.account_id,
        "reason_code": d.reason_code,
        "reason": d.reason,
        "requested_at": iso(d.requested_at),
        "completed_at": iso(d.completed_at),
        "failed_at": iso(d.failed_at),
        "refunded_at": iso(d.refunded_at),
        "refund_amount": ledger.fmt(d.refund_amount),
        "charged_back_at": iso(d.charged_back_at),
        "chargeback_amount": ledger.fmt(d.chargeback_amount),
    }


def _transfer(t) -> dict:
    return {
        "id": t.transfer_id,
        "from": t.source,
        "to": t.destination,
        "amount": ledger.fmt(t.amount),
        "currency": t.currency,
        "status": t.status,
        "reason": t.reason,
        "at": iso(t.occurred_at),
    }


def _amounts(values: dict, sign: int = 1) -> dict:
    return {cur: ledger.fmt(sign * amount) for cur, amount in values.items() if amount}


@section("payments")
def payments(session, client):
    """Return deposits, transfers, held and owed amounts, and pending withdrawals."""
    return {
        "deposits": [_deposit(d) for d in deposits.list_for(session, client.ref)],
        "transfers": [_transfer(t) for t in transfers.list_for(session, client.ref)],
        "waiting_transfers": [_transfer(t) for t in transfers.list_waiting(session, client.ref)],
        "held": _amounts(ledger.balances(session, client.ref, "hold")),
        "owed": _amounts(ledger.balances(session, client.ref, "debt"), -1),
        "pending_withdrawals": [withdrawals.to_dict(w) for w in withdrawals.list_pending(session, client.ref)],
    }


@section("withdrawals")
def withdrawal_list(session, client):
    """Return the client's withdrawals, newest first; pending ones say what they wait for."""
    return [withdrawals.to_dict(w) for w in withdrawals.list_for(session, client.ref)]


@section("timeline")
def timeline(session, client):
    """Return payments, transfers, fees, account events and tasks, newest first."""
    return build_timeline(session, client.ref)
