"""Apply payment and wallet events to the ledger, deposits, withdrawals and transfers."""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.clients.models import Client
from engine.events.models import Event
from engine.payments import batch, deposits, transfers, withdrawals
from engine.payments.batch import DEPOSIT_EVENTS, transfer_args
from engine.projections import batch_form, evaluator, projection
from engine.values import parse_decimal


def post_waiting(session: Session, client_ref: str, event_seq: int) -> None:
    """Post the waiting transfers the wallet covers now.

    A waiting transfer older than pending withdrawals first makes them yield what in
    order it would have taken (`withdrawals.yield_to`), then is posted.
    """
    if not transfers.list_waiting(session, client_ref):
        return  # the usual case: one query, as before
    transfers.post_waiting(session, client_ref, event_seq=event_seq)
    if [w for t in transfers.list_waiting(session, client_ref) for w in withdrawals.yield_to(session, t)]:
        transfers.post_waiting(session, client_ref, event_seq=event_seq)


@projection("payment.deposit_requested", "payment.deposit_failed")
def deposit(session: Session, event: Event, client: Client) -> None:
    """Record the deposit's new state and post what it settles."""
    _deposit(session, event, client)


@projection("payment.deposit_completed", "payment.deposit_refunded", "payment.deposit_charged_back")
def deposit_settled(session: Session, event: Event, client: Client) -> None:
    """Record the deposit's new state and post what it settles (a handler of its own:
    the IB's activity projection takes these types too, see DEPOSITS below)."""
    _deposit(session, event, client)


def _deposit(session: Session, event: Event, client: Client) -> None:
    deposits.apply(
        session,
        client=client,
        status=DEPOSIT_EVENTS[event.type],
        data=event.data,
        occurred_at=event.occurred_at,
        event_seq=event.seq,
    )
    post_waiting(session, client.ref, event.seq)


@projection("payment.withdrawal_requested")
def withdrawal_requested(session: Session, event: Event, client: Client) -> None:
    """Create the withdrawal, hold its funds and place it at the first step of its chain."""
    data = event.data
    withdrawals.request(
        session,
        client=client,
        withdrawal_id=data["withdrawal_id"],
        amount=parse_decimal(data["amount"], "amount"),
        currency=data["currency"],
        requested_by=f"client:{client.ref}",
        requested_at=event.occurred_at,
        method=data.get("method"),
        account_id=data.get("account_id"),
    )


@projection("payment.withdrawal_approved")
def withdrawal_approved(session: Session, event: Event, client: Client) -> None:
    """Pass the current approval step, as the broker's system decided."""
    if event.source == withdrawals.STAFF_SOURCE:
        return  # recorded by withdrawals.approve, which applied it already
    withdrawals.provider_approved(
        session,
        withdrawal_id=event.data["withdrawal_id"],
        source=event.source,
        reason=event.data.get("reason"),
        event=f"{event.source}/{event.event_id}",
    )


@projection("payment.withdrawal_rejected")
def withdrawal_rejected(session: Session, event: Event, client: Client) -> None:
    """Reject the withdrawal and release its funds."""
    if event.source == withdrawals.STAFF_SOURCE:
        return
    _provider_closed(session, event, client, withdrawals.provider_rejected)


@projection("payment.withdrawal_paid")
def withdrawal_paid(session: Session, event: Event, client: Client) -> None:
    """Pay the held funds out."""
    withdrawals.paid(
        session,
        client=client,
        data=event.data,
        source=event.source,
        amount=parse_decimal(event.data["amount"], "amount"),
        at=event.occurred_at,
    )


@projection("payment.withdrawal_failed")
def withdrawal_failed(session: Session, event: Event, client: Client) -> None:
    """Close the withdrawal as failed and release its funds."""
    _provider_closed(session, event, client, withdrawals.provider_failed)


def _provider_closed(session: Session, event: Event, client: Client, close) -> None:
    """Close the withdrawal as its provider reports (`close`, rejected or failed), then post
    the transfers that waited for the funds it releases."""
    close(
        session,
        withdrawal_id=event.data["withdrawal_id"],
        source=event.source,
        reason=event.data.get("reason"),
        at=event.occurred_at,
    )
    post_waiting(session, client.ref, event.seq)  # funds released


@projection("kyc.document_submitted")
def document_submitted(session: Session, event: Event, client: Client) -> None:
    """Move on withdrawals that waited for this document."""
    withdrawals.documents_submitted(session, client.ref)


@projection("wallet.transfer_completed")
def transfer_completed(session: Session, event: Event, client: Client) -> None:
    """Post the transfer; one the wallet cannot cover yet waits for funds (it has happened)."""
    transfers.apply(session, event_seq=event.seq, wait_for_funds=True, **transfer_args(event, client))
    post_waiting(session, client.ref, event.seq)  # this one, or others (account -> wallet)


@projection("wallet.transfer_failed")
def transfer_failed(session: Session, event: Event, client: Client) -> None:
    """Record the failed transfer and its reason."""
    transfers.failed(session, reason=event.data.get("reason"), **transfer_args(event, client))


# The handlers with a set-based form (engine.payments.batch); the withdrawal projections
# have none: their events take the per-event path. The deposit handlers' form (DEPOSITS)
# is on: the IB's activity form takes the deposits of clients no IB owns
# (engine.ib.moves_batch), the rules' form reads the deposit facts the shipped rules read
# from this form's state (engine.payments.batch_facts) and decides the event hook that
# closes the failed-deposit task. A failed deposit goes set-based too: the shipped rules'
# episode task, window count and priority raise have set-based forms (engine.tasks.
# episodes_batch, engine.rules.batch_counts) that refuse a failure delivered late.
SET_BASED = (transfer_completed, transfer_failed)
DEPOSITS = (deposit, deposit_settled)


def register_form(handlers: tuple = SET_BASED + DEPOSITS) -> None:
    """Register the set-based form of `handlers` (a deposit credited moves the funnel)."""
    batch_form(
        "payments",
        handlers,
        load=batch.load,
        accepts=batch.accepts,
        apply=batch.apply,
        write=batch.write,
        sees=batch.sees,
    )


register_form()


@evaluator
def account_created(session: Session, event: Event, client: Client) -> None:
    """A transfer reported before its trading account was created waits; post it now.

    An evaluator (it runs after every projection) rather than a projection, so that the
    accounts domain has created the account first.
    """
    if event.type == "account.created":
        post_waiting(session, client.ref, event.seq)


# Set-based form: it does nothing for every other event type, nor for a creation when no
# transfer of the client waits (transfers that would wait go per event: none starts
# waiting in a round).
batch_form(
    "payments.account_created",
    (account_created,),
    load=batch.load_waiting_transfers,
    accepts=lambda waiting, event, client: event.type != "account.created" or client.ref not in waiting,
    apply=lambda state, event, client: None,
    write=lambda session, state: None,
)


@projection("kyc.review_completed")
def kyc_review_completed(session: Session, event: Event, client: Client) -> None:
    """Move on withdrawals whose step applied only while KYC was not approved."""
    withdrawals.kyc_decided(session, client.ref)


# Set-based form of the two KYC projections: a client with no pending withdrawal.
batch_form(
    "payments.kyc",
    (document_submitted, kyc_review_completed),
    load=batch.load_pending_withdrawals,
    accepts=batch.no_pending_withdrawal,
    apply=lambda state, event, client: None,
    write=lambda session, state: None,
)
