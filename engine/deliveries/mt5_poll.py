"""`fxcrm connectors poll mt5`: read new MT5 deals from an HTTP gateway and store their events.

MT5's own Web API handshake (`/api/auth/start`, `/api/auth/answer`) is not implemented:
the reference does not document it. The poller expects a gateway that answers
`GET <base>/api/deal/get_page?from=&to=&offset=&total=` with the Web API deal JSON
(`{"retcode": "0 Done", "answer": [...]}` or a plain array) and accepts a bearer token.

One poll: read the cursor, fetch the deals of the range `poll_range` gives (outside any
transaction), then in ONE unit of work re-read the cursor, keep the deals after it,
store their events and advance the cursor. A crash before the commit leaves both as
they were (the next poll fetches the same deals again); after it, both moved together.
"""
from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Callable

from sqlalchemy import select

from connectors import mt5
from connectors.errors import MalformedPayload
from connectors.mt5_feed import Cursor, advance, deals_after, poll_range
from engine.db import Database, unit_of_work
from engine.deliveries import service
from engine.deliveries.models import UNMATCHED, Mt5Cursor
from engine.deliveries.replay import EPOCH, _accounts, _stored_positions
from engine.events import store
from engine.values import utcnow

PAGE_SIZE = 1000
MAX_PAGES = 100          # at most 100 000 deals per poll; the next poll goes on
FETCH_TIMEOUT = 10.0
MAX_ANSWER = 64 * 1024 * 1024

# fetch(url, headers) -> the answer's body; raises FetchError on any failure.
Fetch = Callable[[str, dict], bytes]


class FetchError(Exception):
    """The gateway could not be read (network, HTTP status, size)."""


@dataclass
class PollReport:
    """What one poll did."""

    fetched: int = 0        # deal records the gateway returned (with the overlap)
    new: int = 0            # deals after the cursor
    accepted: int = 0       # events stored
    duplicate: int = 0      # events already in the store
    ignored: int = 0
    unmatched: int = 0      # unknown logins and closes without a known opening
    rejected: int = 0       # records that could not be read
    cursor: str = ""
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"fetched: {self.fetched}, new: {self.new}, accepted: {self.accepted}, "
                f"duplicate: {self.duplicate}, ignored: {self.ignored}, "
                f"unmatched: {self.unmatched}, rejected: {self.rejected}, cursor: {self.cursor}")


def http_fetch(url: str, headers: dict, *, timeout: float = FETCH_TIMEOUT) -> bytes:
    """GET `url`; raise FetchError on a network problem or a non-2xx answer."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(MAX_ANSWER + 1)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"GET {_path(url)}: HTTP {exc.code}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise FetchError(f"GET {_path(url)}: {type(exc).__name__}: "
                         f"{getattr(exc, 'reason', exc)}") from None
    if len(body) > MAX_ANSWER:
        raise FetchError(f"GET {_path(url)}: the answer is larger than {MAX_ANSWER} bytes")
    return body


def _path(url: str) -> str:
    return urllib.parse.urlsplit(url).path[:80]


def read_cursor(database: Database, server: str) -> Cursor:
    """Return the saved cursor of `server` (the start when none is saved)."""
    with unit_of_work(database) as session:
        row = session.get(Mt5Cursor, server)
        return Cursor(row.last_time_msc, row.last_deal) if row else Cursor()


def poll_once(database: Database, *, base_url: str, server: str, fetch: Fetch = http_fetch,
              token: str | None = None, server_utc_offset: timedelta = timedelta(0),
              prefix_ids: bool = False, page_size: int = PAGE_SIZE) -> PollReport:
    """Fetch the deals after the cursor of `server`, store their events, advance the cursor.

    Raises FetchError (or MalformedPayload for an answer that is not deal JSON) with
    nothing stored and the cursor unchanged.
    """
    cursor = read_cursor(database, server)
    server_now = int(((utcnow() + server_utc_offset) - EPOCH).total_seconds())
    start, end = poll_range(cursor, server_now)
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    records = _fetch_all(fetch, base_url, headers, start, end, page_size)
    report = PollReport(fetched=len(records))
    deals, raw = [], {}
    for number, record in enumerate(records, 1):
        try:
            deal = mt5.parse_deal(record, f"deal record {number}")
        except MalformedPayload as exc:
            report.rejected += 1
            report.problems.append(exc.reason)
            continue
        deals.append(deal)
        raw[deal.deal] = record
    _store(database, server, deals, raw, report, server_utc_offset,
           server if prefix_ids else "")
    return report


def _fetch_all(fetch: Fetch, base_url: str, headers: dict, start: int, end: int,
               page_size: int) -> list:
    records: list = []
    for page in range(MAX_PAGES):
        query = urllib.parse.urlencode({"from": start, "to": end,
                                        "offset": page * page_size, "total": page_size})
        body = fetch(f"{base_url.rstrip('/')}/api/deal/get_page?{query}", headers)
        batch = _records(body)
        records.extend(batch)
        if len(batch) < page_size:
            break
    return records


def _records(body: bytes) -> list:
    try:
        value = json.loads(body.decode("utf-8", "replace").lstrip("\ufeff"),
                           parse_float=Decimal)
    except (ValueError, RecursionError):
        raise MalformedPayload("the deals page is not JSON") from None
    if isinstance(value, dict):
        retcode = str(value.get("retcode", ""))
        if not retcode.startswith("0 "):
            raise MalformedPayload(f"retcode: the gateway answered {retcode[:40]!r}")
        value = value.get("answer", [])
    if not isinstance(value, list):
        raise MalformedPayload("expected a JSON array of deals")
    return value


def _store(database: Database, server: str, deals: list[mt5.Deal], raw: dict,
           report: PollReport, offset: timedelta, id_prefix: str) -> None:
    with unit_of_work(database) as session:
        # Re-read under a lock: a second poller waits here, then keeps only what is newer.
        row = session.scalar(select(Mt5Cursor).where(Mt5Cursor.server == server)
                             .with_for_update())
        cursor = Cursor(row.last_time_msc, row.last_deal) if row else Cursor()
        new = deals_after(cursor, deals)
        report.new = len(new)
        accounts = _accounts(session, {d.login for d in new})
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
            _unmatched(session, deal, raw, id_prefix, report,
                       f"deal {deal.deal}: login {deal.login} has no trading account")
        for deal in later.waiting:
            _unmatched(session, deal, raw, id_prefix, report,
                       f"deal {deal.deal}: the opening of position {deal.position_id} "
                       f"is not known")
        moved = advance(cursor, new)
        if row is None:
            row = Mt5Cursor(server=server)
            session.add(row)
        row.last_time_msc, row.last_deal, row.updated_at = moved.time_msc, moved.deal, utcnow()
        report.cursor = str(moved)
        store.schedule_touched(session, database)


def _unmatched(session, deal: mt5.Deal, raw: dict, id_prefix: str, report: PollReport,
               reason: str) -> None:
    # The cursor moves past it: keep the record (one JSON line, replayable with
    # `fxcrm connectors replay mt5`) so it is not lost.
    body = json.dumps(raw[deal.deal], default=str).encode()
    service.create(session, provider=mt5.NAME, status=UNMATCHED, http_status=202, body=body,
                   reason=reason, keep_body=True,
                   delivery_id=f"{id_prefix + ':' if id_prefix else ''}deal:{deal.deal}")
    report.unmatched += 1
    report.problems.append(reason)
