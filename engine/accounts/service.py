"""Trading accounts: apply platform events, manual updates, activity and profile data."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, TypedDict
from uuid import uuid4

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.accounts.models import STATUSES, AccountActivity, TradingAccount
from engine.audit import service as audit_service
from engine.db import by_unique
from engine.queries import newest_first
from engine.values import fmt_amount as fmt
from engine.values import iso, parse_datetime, parse_decimal, utcnow

if TYPE_CHECKING:
    from typing_extensions import Unpack

MANUAL_FIELDS = {"leverage", "account_type", "status", "status_reason"}


class AccountError(ValueError):
    """A trading-account operation is refused (the message says why)."""


def get(session: Session, account_id: str) -> TradingAccount | None:
    """Return the trading account with this platform id, or None (every trade looks it
    up: found by row id once known, engine.db.by_unique)."""
    account: TradingAccount | None = by_unique(session, TradingAccount, "account_id", account_id)
    return account


def list_for(session: Session, client_ref: str) -> list[TradingAccount]:
    """Return a client's trading accounts, oldest first."""
    return list(
        session.scalars(
            select(TradingAccount)
            .where(TradingAccount.client_ref == client_ref)
            .order_by(TradingAccount.opened_at, TradingAccount.id)
        )
    )


def count_for(session: Session, client_ref: str, status: str | None = None) -> int:
    """Return how many trading accounts a client has (optionally in one status)."""
    stmt = select(func.count()).select_from(TradingAccount).where(TradingAccount.client_ref == client_ref)
    if status:
        stmt = stmt.where(TradingAccount.status == status)
    return session.scalar(stmt)


def owned(session: Session, client_ref: str, account_id: str) -> TradingAccount:
    """Return the client's account `account_id`, or raise AccountError saying why not."""
    account = get(session, account_id)
    if account is None:
        raise AccountError(f"trading account {account_id} is unknown")
    if account.client_ref != client_ref:
        raise AccountError(f"trading account {account_id} belongs to another client")
    return account


def record(
    session: Session,
    *,
    key: str,
    account: TradingAccount,
    kind: str,
    occurred_at: datetime,
    summary: str,
    actor: str = "platform",
    detail: dict | None = None,
) -> bool:
    """Add one activity entry unless `key` already has one; return whether it was added."""
    if session.scalar(select(AccountActivity.id).where(AccountActivity.key == key)):
        return False
    session.add(
        AccountActivity(
            key=key,
            account_id=account.account_id,
            client_ref=account.client_ref,
            kind=kind,
            occurred_at=occurred_at,
            actor=actor,
            summary=summary[:300],
            detail=detail,
        )
    )
    session.flush()
    return True


class Opening(TypedDict):
    """The account a platform opens: its id there, the platform, type, currency, leverage."""

    account_id: str
    platform: str
    account_type: str
    currency: str
    leverage: int


def open_account(
    session: Session, *, client_ref: str, opened_at: datetime, **opening: Unpack[Opening]
) -> TradingAccount:
    """Create a trading account (a repeat of the same account changes nothing)."""
    account = get(session, opening["account_id"])
    if account is not None:
        if account.client_ref != client_ref:
            raise AccountError(f"trading account {opening['account_id']} already belongs to another client")
        return account
    account = new_account(client_ref=client_ref, opened_at=opened_at, **opening)
    session.add(account)
    session.flush()
    key, summary = created_entry(account)
    record(session, key=key, account=account, kind="created", occurred_at=opened_at, summary=summary)
    return account


def change_status(
    session: Session,
    account: TradingAccount,
    *,
    status: str,
    reason: str | None,
    occurred_at: datetime,
    key: str,
    actor: str = "platform",
) -> None:
    """Set an account's status (a change older than the current one is only recorded)."""
    if status not in STATUSES:
        raise AccountError(f"unknown account status {status!r}; use one of {', '.join(STATUSES)}")
    if not record(
        session,
        key=key,
        account=account,
        kind="status",
        occurred_at=occurred_at,
        summary=status_summary(account.account_id, status, reason),
        actor=actor,
        detail={"status": status, "reason": reason},
    ):
        return
    status_effect(account, status=status, reason=reason, occurred_at=occurred_at)


# Pure decisions, shared by the per-event path below and the set-based one
# (engine.accounts.batch): one implementation of what a platform event changes.


def new_account(*, client_ref: str, opened_at: datetime, **opening: Unpack[Opening]) -> TradingAccount:
    """Return the row of a trading account just opened (not added to any session)."""
    return TradingAccount(client_ref=client_ref, status="active", opened_at=opened_at, **opening)


def created_entry(account: TradingAccount) -> tuple[str, str]:
    """Return the (key, summary) of an account's `created` activity entry."""
    return (
        f"created:{account.account_id}",
        f"{account.platform} {account.account_type} account {account.account_id} opened "
        f"({account.currency}, 1:{account.leverage})",
    )


def status_summary(account_id: str, status: str, reason: str | None) -> str:
    return f"account {account_id} {status}" + (f": {reason}" if reason else "")


def status_effect(account: TradingAccount, *, status: str, reason: str | None, occurred_at: datetime) -> None:
    """Set the account's status from a change recorded at `occurred_at`, unless it is older
    than the status in force (a late event: history keeps it, the newer status stands)."""
    if account.status_changed_at and occurred_at < account.status_changed_at:
        return
    account.status, account.status_changed_at = status, occurred_at
    account.status_reason = reason if status != "active" else None


def snapshot_applies(balance_at: datetime | None, at: datetime) -> bool:
    """Return whether a balance snapshot taken at `at` replaces the one taken at `balance_at`."""
    return not (balance_at and at < balance_at)


def trade_effect(
    first_trade_at: datetime | None, last_trade_at: datetime | None, *, at: datetime, last_at: datetime | None
) -> tuple[datetime, bool]:
    """Return the account's last_trade_at after a trade opened at `at` (active until
    `last_at`), and whether that trade becomes the account's first."""
    last = max(filter(None, [last_trade_at, at, last_at]))
    return last, first_trade_at is None or at < first_trade_at


def first_trade_entry(account_id: str, ticket: str) -> tuple[str, str]:
    """Return the (key, summary) of an account's first-trade activity entry."""
    return f"first_trade:{account_id}", f"first trade on {account_id} (ticket {ticket})"


def balance_of(data: dict, at: datetime) -> dict:
    """Return the snapshot an `account.balance_updated` event reports."""
    return {
        "balance": parse_decimal(data["balance"], "balance"),
        "equity": parse_decimal(data["equity"], "equity"),
        "at": at,
    }


def opening_of(data: dict) -> Opening:
    """Return the account an `account.created` event opens (`new_account`'s arguments but
    the client and the time)."""
    return {
        "account_id": data["account_id"],
        "platform": data["platform"],
        "account_type": data["account_type"],
        "currency": data["currency"],
        "leverage": int(data["leverage"]),
    }


def trade_of(data: dict) -> dict:
    """Return when a trade event's trade was opened (and closed) and its ticket."""
    closed = data.get("close_time")
    return {
        "at": parse_datetime(data["open_time"], "open_time"),
        "ticket": str(data["ticket"]),
        "last_at": parse_datetime(closed, "close_time") if closed else None,
    }


def snapshot(account: TradingAccount, *, balance, equity, at: datetime) -> None:
    """Keep the newest balance and equity snapshot (an older one arriving late is ignored)."""
    if snapshot_applies(account.balance_at, at):
        account.balance, account.equity, account.balance_at = balance, equity, at


def traded(
    session: Session, account: TradingAccount, *, at: datetime, ticket: str, last_at: datetime | None = None
) -> bool:
    """Record a trade opened at `at` (active until `last_at`); return whether it is the first."""
    account.last_trade_at, becomes_first = trade_effect(
        account.first_trade_at, account.last_trade_at, at=at, last_at=last_at
    )
    if not becomes_first:
        return False
    first = account.first_trade_at is None
    account.first_trade_at = at
    key, summary = first_trade_entry(account.account_id, ticket)
    entry = session.scalar(select(AccountActivity).where(AccountActivity.key == key))
    if entry is None:
        record(session, key=key, account=account, kind="first_trade", occurred_at=at, summary=summary)
    else:  # an earlier trade reported late is the real first one
        entry.occurred_at, entry.summary = at, summary
    return first


def update(session: Session, *, account_id: str, actor: str, changes: dict, reason: str) -> TradingAccount:
    """Change an account by hand (leverage, type, status); the history keeps before and after."""
    account = get(session, account_id)
    if account is None:
        raise AccountError(f"trading account {account_id} is unknown")
    if not reason or not reason.strip():
        raise AccountError("a manual update needs a reason")
    unknown = set(changes) - MANUAL_FIELDS
    if unknown:
        raise AccountError(
            f"cannot change {', '.join(sorted(unknown))}; changeable: {', '.join(sorted(MANUAL_FIELDS))}"
        )
    _check_manual(changes)
    if changes.get("status") == "active":
        changes = {"status_reason": None, **changes}  # an active account has no lock reason
    now = utcnow()
    before = {name: getattr(account, name) for name in changes}
    for name, value in changes.items():
        setattr(account, name, value)
    if "status" in changes:
        account.status_changed_at = now
    record(
        session,
        key=f"manual:{account_id}:{uuid4().hex}",
        account=account,
        kind="manual_update",
        occurred_at=now,
        actor=actor,
        summary=f"updated by {actor}: {reason}",
        detail={"before": before, "after": dict(changes), "reason": reason},
    )
    audit_service.record(
        session,
        actor=actor,
        action="account.update",
        target_type="account",
        target_id=account_id,
        reason=reason,
        detail={"before": before, "after": dict(changes)},
    )
    return account


def _check_manual(changes: dict) -> None:
    if "status" in changes and changes["status"] not in STATUSES:
        raise AccountError(f"status must be one of {', '.join(STATUSES)}")
    if "leverage" in changes:
        lev = changes["leverage"]
        if isinstance(lev, bool) or not isinstance(lev, int) or not 1 <= lev <= 3000:
            raise AccountError("leverage must be a whole number from 1 to 3000")


def activity(account: TradingAccount, inactive_after, now: datetime | None = None) -> str:
    """Return `active` if the account traded (or opened) within `inactive_after`, else `inactive`."""
    last = account.last_trade_at or account.opened_at
    return "active" if (now or utcnow()) - last <= inactive_after else "inactive"


def to_dict(account: TradingAccount, inactive_after) -> dict:
    """Return an account as JSON-ready profile data."""
    return {
        "id": account.account_id,
        "platform": account.platform,
        "type": account.account_type,
        "currency": account.currency,
        "leverage": account.leverage,
        "status": account.status,
        "lock_reason": account.status_reason,
        "status_changed_at": iso(account.status_changed_at),
        "balance": fmt(account.balance),
        "equity": fmt(account.equity),
        "balance_at": iso(account.balance_at),
        "opened_at": iso(account.opened_at),
        "first_trade_at": iso(account.first_trade_at),
        "last_trade_at": iso(account.last_trade_at),
        "activity": activity(account, inactive_after),
    }


def history(session: Session, client_ref: str, limit: int = 200) -> list[AccountActivity]:
    """Return a client's account activity, newest first."""
    return newest_first(session, AccountActivity, client_ref, AccountActivity.occurred_at, limit)


def refs_with_account_like(pattern: str):
    """Return a SELECT of client refs owning an account whose id matches a lower-case LIKE pattern."""
    return select(TradingAccount.client_ref).where(func.lower(TradingAccount.account_id).like(pattern, escape="\\"))
