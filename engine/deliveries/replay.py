"""`fxcrm connectors replay`: provider files through the same path as live traffic."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterable

from sqlalchemy import select

from connectors import bank_camt054, mt5
from connectors.mt5_feed import parse_export
from engine.accounts import service as accounts_service
from engine.db import Database, unit_of_work
from engine.deliveries import fetches, intake, wires
from engine.deliveries.models import REJECTED, UNMATCHED
from engine.events import store
from engine.processing import ingest
from engine.events.models import Event
from engine.payments import deposits as deposits_service
from engine.values import parse_datetime

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class ReplayReport:
    """How many records ended in each status, and what went wrong where."""

    counts: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    # One (line, status, what) per entry of a camt.054 file, in file order.
    entries: list[tuple[int, str, str]] = field(default_factory=list)

    def add(self, status: str, count: int = 1, problem: str | None = None) -> None:
        self.counts[status] += count
        if problem:
            self.problems.append(problem)

    @property
    def ok(self) -> bool:
        return not self.counts[REJECTED]

    def summary(self) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()) if v) or "nothing"


def replay_webhooks(database: Database, provider: str, lines: Iterable[bytes], now: datetime) -> ReplayReport:
    """Replay webhook bodies, one per line; the signature is not checked (trusted file)."""
    report = ReplayReport()
    for number, line in enumerate(lines, 1):
        body = line.rstrip(b"\r\n")
        if not body.strip():
            continue
        outcome = intake.accept(database, provider=provider, body=body, now=now)
        trouble = outcome.status in (REJECTED, UNMATCHED)
        report.add(outcome.status, problem=f"line {number}: {outcome.reason}" if trouble else None)
    if report.counts["pending"]:
        fetched = fetches.run_due(database, now=now)
        report.add("fetched", fetched.done)
        for problem in fetched.problems:
            report.add(REJECTED if "rejected" in problem else "retrying", problem=problem)
    return report


def replay_camt054(database: Database, data: bytes, now: datetime) -> ReplayReport:
    """Import a camt.054 file: credits matched to requested deposits become completions."""
    notification = bank_camt054.parse(data)
    report = ReplayReport()
    for problem in notification.errors:
        report.add(REJECTED, problem=str(problem))
        report.entries.append((problem.line, "error", f"{problem.element}: {problem.reason}"))
    report.add("skipped", len(notification.skipped))
    for skipped in notification.skipped:
        report.entries.append((skipped.line, "skipped", f"{skipped.element}: {skipped.reason}"))
    with unit_of_work(database) as session:
        events, claimed = [], set()
        for credit in notification.credits:
            if store.get(session, source=bank_camt054.NAME, event_id=credit.id):
                report.add("duplicate")
                report.entries.append((credit.line, "duplicate", f"{_what(credit)} was imported before"))
                continue
            deposit = _match(session, credit, claimed)
            if deposit is None:
                _unmatched_credit(session, credit, now, report)
                continue
            report.entries.append(
                (
                    credit.line,
                    "matched",
                    f"{_what(credit)} matched to client {deposit.client_ref} (deposit {deposit.payment_id})",
                )
            )
            events.append(
                bank_camt054.deposit_event(
                    credit,
                    client=deposit.client_ref,
                    payment_id=deposit.payment_id,
                    provider=deposit.provider,
                    account_id=deposit.account_id,
                )
            )
        report.add("accepted", len(store.record_many(session, events, via="replay:camt054")))
        ingest.schedule_touched(session, database)
    report.entries.sort(key=lambda entry: entry[0])
    return report


def _what(credit: bank_camt054.Credit) -> str:
    return f"{credit.amount} {credit.currency} ref {credit.reference or '-'}"


def _match(session, credit: bank_camt054.Credit, claimed: set):
    for reference in credit.references():
        deposit = deposits_service.match_wire(
            session, reference=reference, amount=credit.amount, currency=credit.currency, booked_at=credit.booked_at
        )
        # Two credits in one file must not both complete the same deposit.
        if deposit is not None and deposit.id not in claimed:
            claimed.add(deposit.id)
            return deposit
    return None


def _unmatched_credit(session, credit: bank_camt054.Credit, now, report: ReplayReport) -> None:
    reason = f"no requested deposit matches reference {credit.reference!r} {credit.amount} {credit.currency}"
    body = json.dumps(
        {
            "id": credit.id,
            "reference": credit.reference,
            "amount": str(credit.amount),
            "currency": credit.currency,
            "booked_at": credit.booked_at.isoformat(),
            "entry_ref": credit.entry_ref,
            "debtor_name": credit.debtor_name,
            "line": credit.line,
        }
    ).encode()
    wires.keep_unmatched(session, provider=bank_camt054.NAME, delivery_id=credit.id, body=body, reason=reason, now=now)
    report.add(UNMATCHED, problem=f"line {credit.line}: {reason}")
    report.entries.append((credit.line, UNMATCHED, reason))


def replay_mt5(database: Database, data: bytes, *, offset: timedelta = timedelta(0), server: str = "") -> ReplayReport:
    """Import an MT5 deal export; closes are paired with openings in the file or the store."""
    export = parse_export(data)
    report = ReplayReport()
    for problem in export.errors:
        report.add(REJECTED, problem=problem)
    with unit_of_work(database) as session:
        accounts = _accounts(session, {d.login for d in export.deals})
        options = {"accounts": accounts, "server_utc_offset": offset, "server": server}
        batch = mt5.normalize_deals(export.deals, positions={}, **options)
        # Closes whose opening came in an earlier file: rebuild those positions from events.
        stored = _stored_positions(session, batch.waiting, offset)
        later = mt5.normalize_deals(batch.waiting, positions=stored, **options)
        events = batch.events + later.events
        created = store.record_many(session, events, via="replay:mt5")
        ingest.schedule_touched(session, database)
    report.add("accepted", len(created))
    report.add("duplicate", len(events) - len(created))
    report.add("ignored", len(batch.ignored) + len(later.ignored))
    for deal in batch.unknown:
        report.add(UNMATCHED, problem=f"deal {deal.deal}: login {deal.login} has no trading account")
    for deal in later.waiting:
        report.add(UNMATCHED, problem=f"deal {deal.deal}: the opening of position {deal.position_id} is not known")
    return report


def _accounts(session, logins: set[int]) -> dict[int, mt5.Account]:
    found = {}
    for login in logins:
        account = accounts_service.get(session, str(login))
        if account is not None:
            found[login] = mt5.Account(account.client_ref, account.currency)
    return found


def _stored_positions(session, waiting: list[mt5.Deal], offset: timedelta) -> dict[int, mt5.Position]:
    tickets = {str(d.position_id) for d in waiting}
    if not tickets:
        return {}
    rows = session.execute(
        select(Event.type, Event.data)
        .where(
            Event.source == mt5.NAME,
            Event.type.in_(("trade.opened", "trade.closed")),
            Event.data["ticket"].as_string().in_(tickets),
        )
        .order_by(Event.occurred_at)
    )
    positions: dict[int, mt5.Position] = {}
    for type_, data in rows:
        _fold(positions, type_, data, offset)
    return {pid: p for pid, p in positions.items() if p.volume_ext > 0}


def _fold(positions: dict, type_: str, data: dict, offset: timedelta) -> None:
    ticket = int(data["ticket"])
    volume = int(Decimal(data["volume_lots"]) * mt5.VOLUME_EXT_PER_LOT)
    held = positions.get(ticket)
    if type_ == "trade.closed":
        if held is not None:
            positions[ticket] = replace(held, volume_ext=held.volume_ext - volume)
        return
    opened = parse_datetime(data["open_time"]) + offset  # back to trade-server time
    if held is None or held.volume_ext <= 0 or held.side != data["side"]:
        held = mt5.Position(
            ticket,
            int(data["account_id"]),
            data["symbol"],
            data["side"],
            (opened - EPOCH) // timedelta(milliseconds=1),
            0,
            0,
        )
    positions[ticket] = replace(held, volume_ext=held.volume_ext + volume)
