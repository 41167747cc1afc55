"""Payment facts for rule conditions.

Money facts are Money values in one currency. Without a `currency` parameter they
are in the client's base currency, the currency of the first completed deposit;
a rule such as `client.deposits.completed.sum >= 200 USD` is true only when that
currency is USD. `client.deposits.completed.sum(currency=EUR)` reads EUR deposits.
"""

from __future__ import annotations

from engine.facts import fact
from engine.payments import deposits, ledger, transfers, withdrawals
from engine.values import Money

CURRENCY_PARAM = {"currency": "currency"}


def base_currency(session, client) -> str | None:
    """Return the currency of the client's first completed deposit, or None."""
    first = deposits.first_completed(session, client.ref)
    return first.currency if first else None


def _currency(session, client, currency) -> str | None:
    return deposits.currency_code(currency) if currency else base_currency(session, client)


@fact("deposits.completed.count", "integer")
def completed_count(session, client):
    """How many deposits of the client completed."""
    return deposits.count(session, client.ref, completed=True)


@fact("deposits.failed.count", "integer")
def failed_count(session, client):
    """How many deposits of the client failed (and never completed)."""
    return deposits.count(session, client.ref, completed=False)


@fact("deposits.completed.sum", "money", params=CURRENCY_PARAM)
def completed_sum(session, client, currency=None):
    """The sum of completed deposits in one currency (default: the base currency)."""
    code = _currency(session, client, currency)
    return Money(deposits.completed_sum(session, client.ref, code), code) if code else None


@fact("deposits.completed.avg", "money", params=CURRENCY_PARAM)
def completed_avg(session, client, currency=None):
    """The average completed deposit in one currency (default: the base currency); missing without one."""
    code = _currency(session, client, currency)
    average = deposits.completed_average(session, client.ref, code) if code else None
    return Money(average, code) if average is not None and code else None


@fact("deposits.first_completed_at", "datetime")
def first_completed_at(session, client):
    """When the client's first deposit completed."""
    first = deposits.first_completed(session, client.ref)
    return first.completed_at if first else None


@fact("deposits.last_completed_at", "datetime")
def last_completed_at(session, client):
    """When the client's latest deposit completed (by the provider's time)."""
    return deposits.last_completed_at(session, client.ref)


@fact("deposits.failed.unresolved", "boolean")
def failed_unresolved(session, client):
    """True when a deposit of the client failed after its latest completed deposit."""
    return deposits.failures_since_completed(session, client.ref) > 0


@fact("wallet.balance", "money", params=CURRENCY_PARAM)
def wallet_balance(session, client, currency=None):
    """The wallet balance in one currency (default: the base currency)."""
    code = _currency(session, client, currency)
    if not code:
        return None
    return Money(ledger.balance(session, ledger.wallet(client.ref, code), code), code)


@fact("wallet.debt", "money", params=CURRENCY_PARAM)
def wallet_debt(session, client, currency=None):
    """What the client owes after refunds or chargebacks its wallet could not cover."""
    code = _currency(session, client, currency)
    if not code:
        return None
    return Money(-ledger.balance(session, ledger.debt(client.ref, code), code), code)


@fact("withdrawals.pending.count", "integer")
def withdrawals_pending(session, client):
    """How many of the client's withdrawals are pending."""
    return withdrawals.count_pending(session, client.ref)


@fact("withdrawals.waiting_for", "list", cost="reads the client's pending withdrawals")
def withdrawals_waiting_for(session, client):
    """Who the client's pending withdrawals wait for: compliance, finance, ..."""
    return sorted({w.waiting_for for w in withdrawals.list_pending(session, client.ref) if w.waiting_for})


@fact("transfers.failed.count", "integer", cost="reads up to 1000 of the client's transfers")
def transfers_failed(session, client):
    """How many of the client's transfers failed or were refused."""
    return sum(1 for t in transfers.list_for(session, client.ref, limit=1000) if t.status in ("failed", "refused"))
