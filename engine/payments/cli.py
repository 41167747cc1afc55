"""`fxcrm withdrawals ...` (list, approve, reject), `fxcrm wallets ...` and `fxcrm payments ...`."""

from __future__ import annotations

import sys
from decimal import Decimal

import click

from engine.cli_common import database as _database
from engine.cli_common import emit, emit_rows
from engine.cli_common import fail as _fail
from engine.db import unit_of_work
from engine.payments.models import WAITING_FOR
from engine.values import ValueError_, parse_decimal

# `fxcrm ledger reconcile`'s columns, in order.
RECONCILE_COLUMNS = (
    "account_id",
    "client",
    "currency",
    "ledger",
    "trading_result",
    "expected",
    "platform",
    "difference",
    "status",
)


def _staff(session, email: str):
    """Return the active staff user `email`, or fail (the approval chain checks the role)."""
    from engine.users import service as users_service

    user = users_service.get_by_email(session, email)
    if user is None or not user.active:
        _fail(f"{email} is not an active staff user")
    return user


@click.group("withdrawals")
def withdrawals_group():
    """Withdrawals and their approval chain."""


@withdrawals_group.command("list")
@click.option("--client", "client_ref", default=None)
@click.option("--waiting-for", type=click.Choice(WAITING_FOR), default=None)
@click.option("--json", "as_json", is_flag=True)
def withdrawals_list(client_ref, waiting_for, as_json):
    """List pending withdrawals and what each waits for."""
    from engine.payments import withdrawals

    with unit_of_work(_database()) as session:
        rows = [withdrawals.to_dict(w) for w in withdrawals.list_pending(session, client_ref, waiting_for)]
    emit_rows(
        rows,
        as_json,
        lambda w: (
            f"{w['id']}\t{w['amount']} {w['currency']}\twaits for {w['waiting_for']} "
            f"(step {w['step']})\trequested {w['requested_at']} by {w['requested_by']}"
        ),
    )


def _decide(verb: str, withdrawal_id: str, actor: str, **kwargs) -> None:
    from engine.payments import withdrawals

    try:
        with unit_of_work(_database()) as session:
            user = _staff(session, actor)
            w = getattr(withdrawals, verb)(
                session, withdrawal_id=withdrawal_id, actor=user.email, role=user.role, **kwargs
            )
            status, waiting = w.status, w.waiting_for
    except withdrawals.WithdrawalError as exc:
        _fail(str(exc))
    click.echo(f"withdrawal {withdrawal_id}: {status}" + (f", waits for {waiting}" if waiting else ""))


@withdrawals_group.command("approve")
@click.argument("withdrawal_id")
@click.option("--as", "actor", required=True, help="Email of the approving staff member.")
@click.option("--note", default=None)
def withdrawals_approve(withdrawal_id, actor, note):
    """Approve the current step of a withdrawal."""
    _decide("approve", withdrawal_id, actor, note=note)


@withdrawals_group.command("reject")
@click.argument("withdrawal_id")
@click.option("--as", "actor", required=True, help="Email of the rejecting staff member.")
@click.option("--reason", required=True)
def withdrawals_reject(withdrawal_id, actor, reason):
    """Reject a withdrawal at its current step; the held funds go back to the wallet."""
    _decide("reject", withdrawal_id, actor, reason=reason)


@click.group("wallets")
def wallets_group():
    """Client wallets (the ledger)."""


@wallets_group.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
def wallets_show(ref, as_json):
    """Show a client's wallet, held and owed balances per currency."""
    from engine.payments import ledger

    with unit_of_work(_database()) as session:
        data = {
            kind: {c: ledger.fmt(v) for c, v in ledger.balances(session, ref, kind).items()}
            for kind in ("wallet", "hold", "debt")
        }
    emit(
        data,
        as_json,
        lambda balances: (
            f"{kind}\t{currency}\t{amount}" for kind, values in balances.items() for currency, amount in values.items()
        ),
    )


def _amount(text: str) -> Decimal:
    try:
        return parse_decimal(text, "amount")
    except ValueError_ as exc:
        _fail(str(exc))


@wallets_group.command("transfer")
@click.argument("ref")
@click.option("--id", "transfer_id", required=True, help="A unique id for this transfer.")
@click.option("--from", "source", required=True, help="`wallet` or a trading account id")
@click.option("--to", "destination", required=True, help="`wallet` or a trading account id")
@click.option("--amount", required=True)
@click.option("--currency", required=True)
@click.option("--as", "actor", required=True, help="Email of the staff member.")
def wallets_transfer(ref, transfer_id, source, destination, amount, currency, actor):
    """Move money between a client's wallet and trading accounts."""
    from engine.audit import service as audit_service
    from engine.payments import transfers
    from engine.payments.ledger import LedgerError

    try:
        with unit_of_work(_database()) as session:
            user = _staff(session, actor)
            if user.role not in ("admin", "finance"):
                _fail(f"{actor} ({user.role}) may not move client money; finance or admin may")
            transfers.transfer(
                session,
                client_ref=ref,
                transfer_id=transfer_id,
                source=source,
                destination=destination,
                amount=_amount(amount),
                currency=currency.upper(),
                actor=user.email,
            )
            audit_service.record(
                session,
                actor=user.email,
                action="wallet.transfer",
                target_type="client",
                target_id=ref,
                detail={
                    "transfer_id": transfer_id,
                    "from": source,
                    "to": destination,
                    "amount": amount,
                    "currency": currency.upper(),
                },
            )
    except LedgerError as exc:
        _fail(str(exc))
    click.echo(f"transfer {transfer_id}: {amount} {currency.upper()} {source} -> {destination}")


@click.group("ledger")
def ledger_group():
    """The double-entry ledger: reconcile trading accounts with the platform."""


@ledger_group.command("reconcile")
@click.option("--client", "client_ref", default=None, help="Only this client's accounts.")
@click.option("--differences", is_flag=True, help="List only the accounts that differ.")
@click.option("--json", "as_json", is_flag=True)
def ledger_reconcile(client_ref, differences, as_json):
    """Compare each trading account's ledger balance plus its trading result with the
    balance the platform reported; exit 1 when any differs."""
    from engine.payments import reconcile

    with unit_of_work(_database()) as session:
        rows = [c.to_dict() for c in reconcile.reconcile(session, client_ref=client_ref, only_differences=differences)]
    emit(
        rows,
        as_json,
        lambda rows: [
            "account  client  currency  ledger  trading  expected  platform  difference  status",
            *("  ".join(str(r[k] if r[k] is not None else "-") for k in RECONCILE_COLUMNS) for r in rows),
        ],
    )
    if any(r["status"] == "differs" for r in rows):
        sys.exit(1)


commands = [withdrawals_group, wallets_group, ledger_group]
