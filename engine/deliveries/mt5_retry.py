"""Retry an unmatched MT5 deal once its cause is fixed (from the unmatched queue).

The poller keeps a deal it cannot place (its login has no trading account, or it closes a
position whose opening is not known) as an `unmatched` delivery, with the raw record and
how the poll read it (`POLL_KEY`: the server's event-id prefix and UTC offset), and opens
a finance task. Once the account exists or the opening is stored (an older export
replayed), an operator retries it: the record goes through the poller's own
normalization, in one unit of work with the delivery locked, so two operators cannot
both place it and the event store's `(source, id)` keeps a deal from being stored twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from connectors import mt5
from connectors.errors import MalformedPayload
from engine.deliveries import service, wires
from engine.deliveries.models import DONE, IGNORED
from engine.deliveries.replay import _accounts, _stored_positions
from engine.events import store
from engine.processing import ingest

# The key of the kept record that says how the poll read it (not an MT5 field).
POLL_KEY = "fxcrm_poll"


def kept_body(record: dict, *, server: str, offset: timedelta) -> bytes:
    """The body the poller keeps for a deal it cannot place: the record and how it read it."""
    how = {"server": server, "server_utc_offset_seconds": int(offset.total_seconds())}
    return json.dumps({**record, POLL_KEY: how}, default=str).encode()


@dataclass(frozen=True)
class Retried:
    status: str  # done (events stored) or ignored (the deal makes no event)
    message: str


def retryable(row) -> bool:
    """Whether the unmatched queue offers Retry for this delivery (a kept MT5 deal)."""
    return row.provider == mt5.NAME and bool(row.body)


ENTRIES = ("in (opens)", "out (closes)", "in/out (reverses)", "out by (closed by an opposite position)")


def summary(row) -> list[tuple[str, object]]:
    """The kept deal in the words finance reads it (empty when the record cannot be read):
    what it is, on which account and position, how much, when (trade-server time)."""
    try:
        deal, _, offset = _read(row)
    except wires.WireError:
        return []
    action = mt5.ACTIONS[deal.action] if 0 <= deal.action < len(mt5.ACTIONS) else f"action {deal.action}"
    entry = ENTRIES[deal.entry] if 0 <= deal.entry < len(ENTRIES) else f"entry {deal.entry}"
    rows: list[tuple[str, object]] = [("Deal", str(deal.deal)), ("Trading account (login)", str(deal.login))]
    if deal.action in (mt5.BUY, mt5.SELL):
        rows += [
            ("Position", str(deal.position_id)),
            ("Trade", f"{action} {mt5.decimal_text(deal.lots)} lots {deal.symbol}, {entry}"),
        ]
    else:
        rows.append(("Operation", action))
    try:
        when: object = mt5.from_epoch_ms(deal.time_msc, "Time") - offset  # aware UTC: shown in the viewer's zone
    except MalformedPayload:
        when = f"{deal.time_msc} ms (out of range)"
    return [*rows, ("Profit", mt5.decimal_text(deal.profit)), ("Time", when)]


def retry(session: Session, *, delivery_id: int, actor: str) -> Retried:
    """Place the kept deal now; raise wires.WireError (the delivery stays unmatched) when
    it still cannot be placed."""
    row = wires.lock_unmatched(session, delivery_id)
    if not retryable(row):
        raise wires.WireError(f"delivery #{row.id} from {row.provider} is not a kept MT5 deal")
    deal, server, offset = _read(row)
    events, ignored = _normalized(session, deal, server, offset)
    if events:
        created = store.record_many(session, events, via="backoffice")
        _schedule(session)
        stored = f"{len(created)} event" + ("" if len(created) == 1 else "s")
        done = Retried(DONE, f"retried by {actor}: the deal is placed ({stored} stored)")
        service.finish(session, row.id, status=DONE, reason=done.message, event_ids=[e["id"] for e in events])
    else:
        done = Retried(IGNORED, f"retried by {actor}: {ignored}")
        service.finish(session, row.id, status=IGNORED, reason=done.message)
    wires.audit_decision(session, row, actor=actor, action="delivery.retried", reason=done.message, status=done.status)
    wires.close_task(session, row.id, actor, done.message)
    return done


def _read(row) -> tuple[mt5.Deal, str, timedelta]:
    try:
        record = json.loads(row.body, parse_float=Decimal)
        how = (record.pop(POLL_KEY, None) or {}) if isinstance(record, dict) else {}
        deal = mt5.parse_deal(record, f"delivery #{row.id}")
        return deal, str(how.get("server") or ""), timedelta(seconds=int(how.get("server_utc_offset_seconds") or 0))
    except (ValueError, TypeError, MalformedPayload) as exc:
        raise wires.WireError(f"delivery #{row.id} cannot be read as an MT5 deal: {exc}; drop it") from None


def _normalized(session: Session, deal: mt5.Deal, server: str, offset: timedelta) -> tuple[list[dict], str]:
    """The deal's events as the poller makes them now, or WireError with what still misses."""
    options = {"accounts": _accounts(session, {deal.login}), "server_utc_offset": offset, "server": server}
    first = mt5.normalize_deals([deal], positions={}, **options)
    if first.unknown:
        raise wires.WireError(f"deal {deal.deal}: login {deal.login} still has no trading account")
    later = mt5.normalize_deals(first.waiting, positions=_stored_positions(session, first.waiting, offset), **options)
    if later.waiting:
        raise wires.WireError(f"deal {deal.deal}: the opening of position {deal.position_id} is still not known")
    ignored = "; ".join(reason for _, reason in first.ignored + later.ignored) or "the deal makes no event"
    return first.events + later.events, ignored


def _schedule(session: Session) -> None:
    database = session.info.get("database")
    if database is not None:
        ingest.schedule_touched(session, database)
