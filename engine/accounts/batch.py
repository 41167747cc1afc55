"""The set-based form of the trading-account projections (engine.processing.batch).

For a group of clients: one query for the accounts their events name, one for those
accounts' activity entries the events could add (first trade, created, status changes),
and, for an `account.created`, one for which clients already have processed trades (the
per-event projection picks up trades reported before the account: such a creation goes
to the per-event path). Each event is applied in memory with the same service functions
the per-event projections call (`trade_effect`, `snapshot`, `new_account`,
`status_effect`, ...); new accounts and activity entries are inserted in bulk
(engine.bulk), and the changed account rows are written by the session's flush (one
batched UPDATE).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm import Session

from engine.accounts import service
from engine.accounts.models import AccountActivity, TradingAccount
from engine.bulk import insert_rows
from engine.accounts.models import STATUSES
from engine.clients.funnel import advance
from engine.events.models import PROCESSED, Event
from engine.facts import state_fact

TRADES = ("trade.opened", "trade.closed")
BALANCE = "account.balance_updated"
CREATED, STATUS = "account.created", "account.status_changed"
TYPES = frozenset({*TRADES, BALANCE, CREATED, STATUS})
# Longest texts the columns take (PostgreSQL refuses longer ones: the per-event path isolates them).
_ACCOUNT_ID, _PLATFORM, _CURRENCY = 100, 64, 3


@dataclass
class AccountsState:
    accounts: dict[str, TradingAccount]  # by platform account id
    entries: dict[str, AccountActivity | dict]  # activity entries the events could add, by key
    traded: set[str] = field(default_factory=set)  # clients with a processed trade (for CREATED)
    opened: Counter[str] = field(default_factory=Counter)  # accounts the round opened, by client
    # Accounts stored before the round, by client of the group: counted in one query when
    # `accounts.count` is first read (a round no rule reading it never counts).
    stored: Counter[str] | None = None
    count_stored: Callable[[], Counter[str]] | None = None
    new_accounts: list[TradingAccount] = field(default_factory=list)  # to insert, in order
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
    keys += [f"created:{e.data['account_id']}" for e in events if e.type == CREATED and _named(e)]
    keys += [_status_key(e) for e in events if e.type == STATUS]
    entries: dict[str, AccountActivity | dict] = (
        {e.key: e for e in session.scalars(select(AccountActivity).where(AccountActivity.key.in_(keys)))}
        if keys
        else {}
    )
    creating = sorted({e.client_ref for e in events if e.type == CREATED})
    traded = (
        set(
            session.scalars(
                select(Event.client_ref)
                .where(Event.client_ref.in_(creating), Event.type.in_(TRADES), Event.status == PROCESSED)
                .distinct()
            )
        )
        if creating
        else set()
    )
    state = AccountsState(accounts, entries, traded)
    state.count_stored = lambda: _count_accounts(session, sorted(clients))
    return state


def _count_accounts(session: Session, refs: list[str]) -> Counter[str]:
    """The accounts stored for each of `refs` (read without flushing: the round's new
    accounts are in the state, counted apart)."""
    counts: Counter[str] = Counter()
    if refs:
        with session.no_autoflush:
            rows = session.execute(
                select(TradingAccount.client_ref, func.count())
                .where(TradingAccount.client_ref.in_(refs))
                .group_by(TradingAccount.client_ref)
            )
            counts.update({ref: n for ref, n in rows})
    return counts


def _named(event) -> bool:
    return isinstance((event.data or {}).get("account_id"), str)


def _status_key(event) -> str:
    return f"status:{event.source}:{event.event_id}"


def accepts(state: AccountsState, event, client) -> bool:
    """Take an event whose projection would succeed; one that would raise (unknown or
    foreign account, bad numbers or times) goes to the per-event path, which isolates it."""
    data = event.data or {}
    if event.type not in TYPES or not isinstance(data.get("account_id"), str):
        return False
    try:
        if event.type == CREATED:
            return _creation_ok(state, data, client)
        if event.type == STATUS:
            account = state.accounts.get(data["account_id"])
            return (
                account is not None
                and account.client_ref == client.ref
                and data.get("status") in STATUSES
                and (data.get("reason") is None or isinstance(data["reason"], str))
            )
        if event.type == BALANCE:
            account = state.accounts.get(data["account_id"])
            service.balance_of(data, event.occurred_at)
            return account is not None and account.client_ref == client.ref
        service.trade_of(data)
        return True
    except Exception:
        return False


def _creation_ok(state: AccountsState, data: dict, client) -> bool:
    """A new account, or a repeat of the client's own; never when the client has trades
    already processed (or earlier in this round): the per-event projection replays them."""
    if client.ref in state.traded or len(data["account_id"]) > _ACCOUNT_ID:
        return False
    if not all(isinstance(data.get(k), str) and len(data[k]) <= _PLATFORM for k in ("platform", "account_type")):
        return False
    if not (isinstance(data.get("currency"), str) and len(data["currency"]) <= _CURRENCY):
        return False
    int(data["leverage"])  # raises on what the per-event projection would raise on
    account = state.accounts.get(data["account_id"])
    return account is None or account.client_ref == client.ref


def apply(state: AccountsState, event, client) -> None:
    data = event.data
    if event.type == CREATED:
        _created(state, event, client)
        return
    if event.type == STATUS:
        _status_changed(state, event)
        return
    if event.type in TRADES:
        state.traded.add(client.ref)  # a later creation must replay it: per-event path
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


def _created(state: AccountsState, event, client) -> None:
    """As the `account.created` projection: open the account (a repeat changes nothing)
    with its `created` entry, and move the funnel on."""
    data = event.data
    if data["account_id"] not in state.accounts:
        account = service.new_account(client_ref=client.ref, opened_at=event.occurred_at, **service.opening_of(data))
        state.accounts[account.account_id] = account
        state.new_accounts.append(account)
        state.opened[client.ref] += 1
        key, summary = service.created_entry(account)
        _entry(state, account, key, "created", event.occurred_at, summary)
    advance(client, "account_opened")


def _status_changed(state: AccountsState, event) -> None:
    """As `service.change_status`: record the change once (by its key), then apply it
    unless a newer status stands."""
    data = event.data
    account = state.accounts[data["account_id"]]
    status, reason = data["status"], data.get("reason")
    summary = service.status_summary(account.account_id, status, reason)
    if _entry(
        state, account, _status_key(event), "status", event.occurred_at, summary, {"status": status, "reason": reason}
    ):
        service.status_effect(account, status=status, reason=reason, occurred_at=event.occurred_at)


def _entry(state: AccountsState, account, key: str, kind: str, at, summary: str, detail: dict | None = None) -> bool:
    """As `service.record`: add the entry unless its key has one; return whether added."""
    if key in state.entries:
        return False
    row = {
        "key": key,
        "account_id": account.account_id,
        "client_ref": account.client_ref,
        "kind": kind,
        "occurred_at": at,
        "actor": "platform",
        "summary": summary[:300],
        "detail": detail,
    }
    state.entries[key] = row
    state.new_entries.append(row)
    return True


def _first_trade_entry(state: AccountsState, account: TradingAccount, at, ticket: str) -> None:
    """As `service.traded`: add the entry, or move an existing one to the earlier trade."""
    key, summary = service.first_trade_entry(account.account_id, ticket)
    entry = state.entries.get(key)
    if entry is None:
        _entry(state, account, key, "first_trade", at, summary)
    elif isinstance(entry, dict):
        entry["occurred_at"], entry["summary"] = at, summary
    else:
        entry.occurred_at, entry.summary = at, summary


def write(session: Session, state: AccountsState) -> None:
    """Insert the new entries in bulk (COPY on PostgreSQL); changed accounts go with the flush."""
    if state.new_accounts:
        insert_rows(session, TradingAccount, [_row(a) for a in state.new_accounts])
    if state.new_entries:
        insert_rows(session, AccountActivity, state.new_entries)


def _row(account: TradingAccount) -> dict:
    assert instance_state(account).transient  # made in this round, never added to the session
    return {c.key: getattr(account, c.key) for c in TradingAccount.__table__.columns if c.key != "id"}


@state_fact("accounts.count", form="accounts")
def accounts_count(state: AccountsState, client) -> int:
    """As service.count_for: the client's accounts, those this round opened included."""
    if state.stored is None:
        assert state.count_stored is not None
        state.stored = state.count_stored()
    return state.stored[client.ref] + state.opened[client.ref]
