"""Apply platform events to trading accounts and move the client's funnel forward."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.accounts import batch, service
from engine.clients.models import Client
from engine.events.models import PROCESSED, Event
from engine.clients.funnel import advance
from engine.projections import batch_form, projection

TRADES = ("trade.opened", "trade.closed")


@projection("account.created")
def created(session: Session, event: Event, client: Client) -> None:
    """Open the trading account; trades reported before it (arriving late) still count."""
    opening = service.opening_of(event.data)
    account = service.open_account(session, client_ref=client.ref, opened_at=event.occurred_at, **opening)
    advance(client, "account_opened")
    for earlier in session.scalars(
        select(Event).where(Event.client_ref == client.ref, Event.type.in_(TRADES), Event.status == PROCESSED)
    ):
        if earlier.data.get("account_id") == account.account_id:
            _trade(session, earlier, client)


@projection("account.status_changed")
def status_changed(session: Session, event: Event, client: Client) -> None:
    """Set the account's status and lock reason."""
    account = service.owned(session, client.ref, event.data["account_id"])
    service.change_status(
        session,
        account,
        status=event.data["status"],
        reason=event.data.get("reason"),
        occurred_at=event.occurred_at,
        key=f"status:{event.source}:{event.event_id}",
    )


@projection("account.balance_updated")
def balance_updated(session: Session, event: Event, client: Client) -> None:
    """Keep the newest balance and equity snapshot."""
    account = service.owned(session, client.ref, event.data["account_id"])
    service.snapshot(account, **service.balance_of(event.data, event.occurred_at))


@projection(*TRADES)
def trade(session: Session, event: Event, client: Client) -> None:
    """Note the trade on its account; the first trade moves the funnel to first_trade."""
    _trade(session, event, client)


def _trade(session: Session, event: Event, client: Client) -> None:
    account = service.get(session, event.data["account_id"])
    if account is None or account.client_ref != client.ref:
        return  # the account is not known yet; its creation picks this trade up
    service.traded(session, account, **service.trade_of(event.data))
    advance(client, "first_trade")


# The form takes `account.created` too: the rules' form reads `client.accounts.count`
# from this form's state (a `funded-no-account` timer's `unless`), the payments
# evaluator's form takes a creation when no transfer of the client waits.
SET_BASED = (trade, balance_updated, status_changed)
WITH_CREATED = (*SET_BASED, created)


def register_form(handlers=WITH_CREATED) -> None:
    batch_form(
        "accounts",
        handlers,
        load=batch.load,
        accepts=batch.accepts,
        apply=batch.apply,
        write=batch.write,
    )


register_form()
