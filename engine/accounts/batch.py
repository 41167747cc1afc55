"""The set-based form of the trade and balance projections (engine.processing.batch).

For a group of clients: one query for the accounts their trade and balance events name,
one for those accounts' first-trade activity entries; each event is applied in memory
with the same service functions the per-event projections call (`trade_effect`,
`snapshot`, ...); new activity entries are inserted in bulk (engine.bulk), and the changed
account rows are written by the session's flush (one batched UPDATE).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.accounts import service
from engine.accounts.models import AccountActivity, TradingAccount
from engine.bulk import insert_rows
from engine.clients.funnel import advance

TRADES = ("trade.opened", "trade.closed")
BALANCE = "account.balance_updated"
TYPES = frozenset({*TRADES, BALANCE})


@dataclass
class AccountsState:
    accounts: dict[str, TradingAccount]  # by platform account id
    entries: dict[str, AccountActivity | dict]  # first-trade entries by key
    new_entries: list[dict] = field(default_factory=list)


def load(session: Session, clients: dict, events: list) -> AccountsState:
    ids = sorted(
        {e.data["account_id"] for e in events if e.type in TYPES and isinstance((e.data or {}).get("account_id"), str)}
    )
    accounts = (
        {a.account_id: a for a in session.scalars(select(TradingAccount).where(TradingAccount.account_id.in_(ids)))}
        if ids
        else {}
    )
    keys = [service.first_trade_entry(i, "")[0] for i in accounts]
    entries: dict[str, AccountActivity | dict] = (
        {e.key: e for e in session.scalars(select(AccountActivity).where(AccountActivity.key.in_(keys)))}
        if keys
        else {}
    )
    return AccountsState(accounts, entries)


def accepts(state: AccountsState, event, client) -> bool:
    """Take an event whose projection would succeed; one that would raise (unknown or
    foreign account, bad numbers or times) goes to the per-event path, which isolates it."""
    data = event.data or {}
    if event.type not in TYPES or not isinstance(data.get("account_id"), str):
        return False
    try:
        if event.type == BALANCE:
            account = state.accounts.get(data["account_id"])
            service.balance_of(data, event.occurred_at)
            return account is not None and account.client_ref == client.ref
        service.trade_of(data)
        return True
    except Exception:
        return False


def apply(state: AccountsState, event, client) -> None:
    data = event.data
    account = state.accounts.get(data["account_id"])
    if event.type == BALANCE:
        assert account is not None  # accepts() made sure
        service.snapshot(account, **service.balance_of(data, event.occurred_at))
        return
    if account is None or account.client_ref != client.ref:
        return  # as the per-event projection: the account's creation picks the trade up
    trade = service.trade_of(data)
    account.last_trade_at, becomes_first = service.trade_effect(
        account.first_trade_at, account.last_trade_at, at=trade["at"], last_at=trade["last_at"]
    )
    if becomes_first:
        account.first_trade_at = trade["at"]
        _first_trade_entry(state, account, trade["at"], trade["ticket"])
    advance(client, "first_trade")


def _first_trade_entry(state: AccountsState, account: TradingAccount, at, ticket: str) -> None:
    """As `service.traded`: add the entry, or move an existing one to the earlier trade."""
    key, summary = service.first_trade_entry(account.account_id, ticket)
    entry = state.entries.get(key)
    if entry is None:
        row = {
            "key": key,
            "account_id": account.account_id,
            "client_ref": account.client_ref,
            "kind": "first_trade",
            "occurred_at": at,
            "actor": "platform",
            "summary": summary[:300],
            "detail": None,
        }
        state.entries[key] = row
        state.new_entries.append(row)
    elif isinstance(entry, dict):
        entry["occurred_at"], entry["summary"] = at, summary
    else:
        entry.occurred_at, entry.summary = at, summary


def write(session: Session, state: AccountsState) -> None:
    """Insert the new entries in bulk (COPY on PostgreSQL); changed accounts go with the flush."""
    if state.new_entries:
        insert_rows(session, AccountActivity, state.new_entries)
