"""`fxcrm connectors poll mt5`: read new MT5 deals from the Web API and store their events.

The deals come from MetaQuotes' MT5 Web API (`connectors.mt5_webapi`: manager login,
`/api/deal/get_page` per login, 100 deals a page). `/api/deal/get_page` answers for one
login, so each poll asks for every MT5 trading account fxcrm knows, over one range of
trade-server seconds that ends SETTLE_SECONDS before the poll started: a deal written
after the first login was read cannot fall inside the range, so one cursor serves all
logins. A login fxcrm learns of later (its `account.created` arrived after the cursor
moved on) is read once from the beginning, so its earlier deals are not skipped: a
row `<server>@<login>` in `mt5_cursors` records that its history was read (with its last
deal then). Deals already stored are recognised by their event ids and stored once.

One poll: read the cursor, fetch the deals of the range (outside any transaction), then
in ONE unit of work re-read the cursor, keep the deals after it, store their events and
advance the cursor. A crash before the commit leaves both as they were (the next poll
fetches the same deals again); after it, both moved together.
"""

from __future__ import annotations

import json
from hashlib import sha256
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from sqlalchemy import func, select

from connectors import mt5
from connectors.errors import MalformedPayload
from connectors.mt5_feed import Cursor, advance, deals_after, poll_range
from connectors.mt5_webapi import PAGE_SIZE
from engine.accounts.models import TradingAccount
from engine.db import Database, unit_of_work
from engine.deliveries import service, wires
from engine.deliveries.models import UNMATCHED, Mt5Cursor
from engine.deliveries.mt5_retry import kept_body
from engine.deliveries.replay import EPOCH, _accounts, _stored_positions
from engine.events import store
from engine.processing import ingest
from engine.values import utcnow

# The range ends this long before "now" on the trade server's clock (as fxcrm computes
# it from UTC and the server offset): fxcrm's clock may run ahead of the server's by
# less than this without losing deals.
SETTLE_SECONDS = 5


class DealSource(Protocol):
    """Where deals come from: `connectors.mt5_webapi.WebApi` or a test double of it."""

    def deals(self, login: int, start: int, end: int, page_size: int = PAGE_SIZE): ...


@dataclass
class PollReport:
    """What one poll did."""

    fetched: int = 0  # deal records the gateway returned (with the overlap)
    new: int = 0  # deals after the cursor
    accepted: int = 0  # events stored
    duplicate: int = 0  # events already in the store
    ignored: int = 0
    unmatched: int = 0  # unknown logins and closes without a known opening
    rejected: int = 0  # records that could not be read
    cursor: str = ""
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"fetched: {self.fetched}, new: {self.new}, accepted: {self.accepted}, "
            f"duplicate: {self.duplicate}, ignored: {self.ignored}, "
            f"unmatched: {self.unmatched}, rejected: {self.rejected}, cursor: {self.cursor}"
        )


def read_cursor(database: Database, server: str) -> Cursor:
    """Return the saved cursor of `server` (the start when none is saved)."""
    with unit_of_work(database) as session:
        row = session.get(Mt5Cursor, server)
        return Cursor(row.last_time_msc, row.last_deal) if row else Cursor()


def mt5_logins(database: Database) -> list[int]:
    """Return the logins of the MT5 trading accounts fxcrm knows."""
    with unit_of_work(database) as session:
        ids = session.scalars(select(TradingAccount.account_id).where(func.lower(TradingAccount.platform) == mt5.NAME))
        return sorted(int(i) for i in ids if i.isdigit())


def login_key(server: str, login: int) -> str:
    """Return the `mt5_cursors` key that marks a login's history as read."""
    return f"{server}@{login}"


def _unread_logins(database: Database, server: str, logins: list[int]) -> set[int]:
    with unit_of_work(database) as session:
        read = set(
            session.scalars(
                select(Mt5Cursor.server).where(Mt5Cursor.server.in_([login_key(server, n) for n in logins]))
            )
        )
    return {n for n in logins if login_key(server, n) not in read}


def poll_once(
    database: Database,
    *,
    api: DealSource,
    server: str,
    server_utc_offset: timedelta = timedelta(0),
    prefix_ids: bool = False,
    page_size: int = PAGE_SIZE,
) -> PollReport:
    """Fetch the deals after the cursor of `server`, store their events, advance the cursor.

    Raises WebApiError (login, network, retcode) with nothing stored and the cursor
    unchanged.
    """
    cursor = read_cursor(database, server)
    server_now = int(((utcnow() + server_utc_offset) - EPOCH).total_seconds())
    start, end = poll_range(cursor, server_now - SETTLE_SECONDS)
    logins = mt5_logins(database)
    unread = _unread_logins(database, server, logins)
    records = [
        record for login in logins for record in api.deals(login, 0 if login in unread else start, end, page_size)
    ]
    report = PollReport(fetched=len(records))
    deals, raw, unreadable = [], {}, []
    for number, record in enumerate(records, 1):
        try:
            deal = mt5.parse_deal(record, f"deal record {number}")
        except MalformedPayload as exc:
            report.rejected += 1
            report.problems.append(exc.reason)
            unreadable.append((record, exc.reason))
            continue
        deals.append(deal)
        raw[deal.deal] = record
    how = Reading(server if prefix_ids else "", server_utc_offset)
    _store(database, server, deals, raw, report, how, unread, unreadable)
    return report


@dataclass(frozen=True)
class Reading:
    """How a poll reads deals: the event-id prefix (`--prefix-ids`) and the server's offset."""

    id_prefix: str
    offset: timedelta


def _store(
    database: Database,
    server: str,
    deals: list[mt5.Deal],
    raw: dict,
    report: PollReport,
    how: Reading,
    unread: set[int],
    unreadable: list[tuple[object, str]],
) -> None:
    with unit_of_work(database) as session:
        # Re-read under a lock: a second poller waits here, then keeps only what is newer.
        row = session.scalar(select(Mt5Cursor).where(Mt5Cursor.server == server).with_for_update())
        cursor = Cursor(row.last_time_msc, row.last_deal) if row else Cursor()
        # A login read from the beginning keeps its deals older than the cursor.
        new = deals_after(cursor, [d for d in deals if d.login not in unread])
        new = sorted(new + deals_after(Cursor(), [d for d in deals if d.login in unread]), key=lambda d: d.key)
        report.new = len(new)
        accounts = _accounts(session, {d.login for d in new})
        offset, id_prefix = how.offset, how.id_prefix
        options = {"accounts": accounts, "server_utc_offset": offset, "server": id_prefix}
        # Closes of positions opened in an earlier poll: positions rebuilt from the store.
        batch = mt5.normalize_deals(new, positions={}, **options)
        stored = _stored_positions(session, batch.waiting, offset)
        later = mt5.normalize_deals(batch.waiting, positions=stored, **options)
        events = batch.events + later.events
        created = store.record_many(session, events, via=f"poll:mt5:{server}")
        report.accepted, report.duplicate = len(created), len(events) - len(created)
        report.ignored = len(batch.ignored) + len(later.ignored)
        for deal in batch.unknown:
            reason = f"deal {deal.deal}: login {deal.login} has no trading account"
            _unmatched(session, how, report, raw[deal.deal], f"deal:{deal.deal}", reason)
        for deal in later.waiting:
            reason = f"deal {deal.deal}: the opening of position {deal.position_id} is not known"
            _unmatched(session, how, report, raw[deal.deal], f"deal:{deal.deal}", reason)
        for record, reason in unreadable:
            _unreadable(session, how, record, reason)
        moved = advance(cursor, new)
        if row is None:
            row = Mt5Cursor(server=server)
            session.add(row)
        row.last_time_msc, row.last_deal, row.updated_at = moved.time_msc, moved.deal, utcnow()
        report.cursor = str(moved)
        for login in sorted(unread):
            last = advance(Cursor(), [d for d in new if d.login == login])
            session.merge(
                Mt5Cursor(
                    server=login_key(server, login),
                    last_time_msc=last.time_msc,
                    last_deal=last.deal,
                    updated_at=utcnow(),
                )
            )
        ingest.schedule_touched(session, database)


def _unmatched(session, how: Reading, report: PollReport, record: object, key: str, reason: str) -> None:
    # The cursor moves past it: keep the record (with how the poll read it, for Retry) and
    # open its finance task, so it is neither lost nor forgotten.
    keep_unplaced(session, how, record, key, reason)
    report.unmatched += 1
    report.problems.append(reason)


def _unreadable(session, how: Reading, record: object, reason: str) -> None:
    """Keep a record the poller cannot read (counted as rejected) in the unmatched queue:
    finance drops it with a reason or has the connector fixed, then retries it."""
    deal = record.get("Deal") if isinstance(record, dict) else None
    body = json.dumps(record, default=str, sort_keys=True).encode()
    key = (
        f"deal:{deal}"
        if isinstance(deal, (int, str)) and str(deal).isdigit()
        else f"record:{sha256(body).hexdigest()[:16]}"
    )
    keep_unplaced(session, how, record, key, f"unreadable deal record: {reason}")


def keep_unplaced(session, how: Reading, record: object, key: str, reason: str) -> int | None:
    """Keep a deal record in the unmatched queue with its finance task; return the new
    delivery's id (None: kept before)."""
    body = kept_body(
        record if isinstance(record, dict) else {"record": record}, server=how.id_prefix, offset=how.offset
    )
    created = service.create(
        session,
        provider=mt5.NAME,
        status=UNMATCHED,
        http_status=202,
        body=body,
        reason=reason,
        keep_body=True,
        delivery_id=f"{how.id_prefix + ':' if how.id_prefix else ''}{key}",
    )
    wires.open_task(session, created)
    return created
