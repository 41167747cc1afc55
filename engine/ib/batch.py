"""The set-based form of the IB activity projection, for `trade.closed` of unreferred clients.

A closed trade of a client with no IB only records the trade (and the client's IB
projection row on first use): `after_activity` returns at once when no IB owns the
client. A client with an IB goes to the per-event path (commissions, CPA policy). For a
group: one query for the clients' IB rows, one for the trades already recorded; the new
rows are built with the projection's own `trade_row` and inserted in bulk (engine.bulk).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bulk import insert_rows
from engine.ib.models import IbClientStats, IbTrade
from engine.values import parse_datetime, parse_decimal

TYPE = "trade.closed"


def trade_row(client_ref: str, data: dict) -> dict:
    """Return the `ib_trades` row of a closed trade (both processing paths build it here)."""
    opened, closed = parse_datetime(data["open_time"]), parse_datetime(data["close_time"])
    return {
        "client_ref": client_ref,
        "account_id": data["account_id"],
        "ticket": data["ticket"],
        "symbol": data["symbol"],
        "lots": parse_decimal(data["volume_lots"]),
        "open_time": opened,
        "close_time": closed,
        "held_seconds": max(int((closed - opened).total_seconds()), 0),
        "profit": parse_decimal(data["profit"]),
        "fee": parse_decimal(data.get("commission") or "0"),
        "currency": data.get("currency"),
    }


@dataclass
class IbState:
    stats: dict[str, IbClientStats | None]  # by client ref (None: no row yet)
    trades: set[tuple[str, str, str]]  # (client, account, ticket) recorded
    made: set[str] = field(default_factory=set)  # clients whose row is new
    new_stats: list[dict] = field(default_factory=list)
    new_trades: list[dict] = field(default_factory=list)


def load(session: Session, clients: dict, events: list) -> IbState:
    closed = [e for e in events if e.type == TYPE]
    refs = sorted({e.client_ref for e in closed})
    stats: dict[str, IbClientStats | None] = dict.fromkeys(refs)
    if refs:
        stats.update(
            (s.client_ref, s) for s in session.scalars(select(IbClientStats).where(IbClientStats.client_ref.in_(refs)))
        )
    tickets = sorted({t for e in closed if isinstance(t := (e.data or {}).get("ticket"), str)})
    trades = (
        set(
            session.execute(
                select(IbTrade.client_ref, IbTrade.account_id, IbTrade.ticket).where(
                    IbTrade.client_ref.in_(refs), IbTrade.ticket.in_(tickets)
                )
            ).tuples()
        )
        if tickets
        else set()
    )
    return IbState(stats, trades)


def accepts(state: IbState, event, client) -> bool:
    """Only a closed trade (other activity is not batched yet) of a client no IB owns."""
    if event.type != TYPE or client.ref not in state.stats:
        return False
    stats = state.stats[client.ref]
    if stats is not None and stats.ib_id is not None:
        return False  # commissions and the CPA policy: the per-event path decides them
    data = event.data or {}
    if not (isinstance(data.get("account_id"), str) and isinstance(data.get("ticket"), str)):
        return False
    try:
        trade_row(client.ref, data)
    except Exception:
        return False  # the per-event path raises, and isolates the event
    return True


def apply(state: IbState, event, client) -> None:
    if state.stats[client.ref] is None and client.ref not in state.made:
        _ensure_stats(state, client)
    key = (client.ref, event.data["account_id"], event.data["ticket"])
    if key not in state.trades:
        state.trades.add(key)
        state.new_trades.append(trade_row(client.ref, event.data))


def _ensure_stats(state: IbState, client) -> None:
    """As `tree.ensure_stats`: the client's IB row, made on first use."""
    state.made.add(client.ref)
    state.new_stats.append({"client_ref": client.ref, "chargebacks": 0, "registered_at": client.registered_at})


def write(session: Session, state: IbState) -> None:
    if state.new_stats:
        insert_rows(session, IbClientStats, state.new_stats)
    if state.new_trades:
        insert_rows(session, IbTrade, state.new_trades)
