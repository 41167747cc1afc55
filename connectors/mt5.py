"""MetaTrader 5 deals (Web API / Manager API JSON): trades and balance operations.

MT5 has no webhooks: deals are polled (see `connectors.mt5_feed` for the cursor and
the export-file parser). Everything here is pure: `normalize_deals` takes a list of
deals plus the positions seen open before and returns events and the new positions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

from connectors._common import Fields, decimal_text, event, from_epoch_ms, iso, to_decimal
from connectors.errors import MalformedPayload

NAME = "mt5"
ERRORS = (MalformedPayload,)
# EnDealAction and EnEntryFlags (MetaQuotes MT5 API, mt5_deal.php / MT5APIDeal.h).
BUY, SELL, BALANCE = 0, 1, 2
ENTRY_IN, ENTRY_OUT, ENTRY_INOUT, ENTRY_OUT_BY = 0, 1, 2, 3
ACTIONS = (
    "buy",
    "sell",
    "balance",
    "credit",
    "charge",
    "correction",
    "bonus",
    "commission",
    "daily commission",
    "monthly commission",
    "daily agent commission",
    "monthly agent commission",
    "interest rate",
    "canceled buy",
    "canceled sell",
    "dividend",
    "franked dividend",
    "tax",
    "agent commission",
    "stop-out compensation",
    "stop-out credit compensation",
)
# Volume is the "old 4 digits volume" (1 lot = 10 000) and VolumeExt the "new 8 digits
# volume" (1 lot = 100 000 000): MetaQuotes Web API SDK, MTUtils.ConvertToNewVolume.
VOLUME_EXT_PER_VOLUME = 10_000
VOLUME_EXT_PER_LOT = 100_000_000
MAX_MONEY = Decimal(10) ** 10  # engine.values.MAX_DECIMAL: the event store's bound


@dataclass(frozen=True)
class Deal:
    """The fields of one MT5 deal that fxcrm uses."""

    deal: int
    login: int
    action: int
    entry: int
    position_id: int
    symbol: str
    volume_ext: int  # in 1e-8 lots
    time_msc: int  # trade-server time, milliseconds
    profit: Decimal
    commission: Decimal
    swap: Decimal
    comment: str

    @property
    def lots(self) -> Decimal:
        """Return the volume in lots, exactly."""
        return lots(self.volume_ext)

    @property
    def key(self) -> tuple[int, int]:
        """Return the (time, ticket) order in which deals happened."""
        return self.time_msc, self.deal


def lots(volume_ext: int) -> Decimal:
    """Convert an extended-accuracy volume to lots without rounding."""
    return Decimal(volume_ext).scaleb(-8).normalize()


def parse_deal(record: object, where: str = "deal") -> Deal:
    """Read one deal record; numbers may be JSON numbers or strings (Web API)."""
    fields = Fields(record, where)
    action, entry = fields.integer("Action"), fields.integer("Entry", False) or 0
    symbol = (fields.text("Symbol", False) or "").strip()
    if action in (BUY, SELL) and not symbol:
        raise MalformedPayload(f"{fields.where('Symbol')}: a trade deal needs a symbol")
    return Deal(
        deal=fields.integer("Deal"),
        login=fields.integer("Login"),
        action=action,
        entry=entry,
        position_id=fields.integer("PositionID", False) or 0,
        symbol=symbol,
        volume_ext=_volume_ext(fields),
        time_msc=_time_msc(fields),
        profit=_money(fields, "Profit"),
        commission=_bounded(_money(fields, "Commission") + _money(fields, "Fee"), fields.where("Commission")),
        swap=_money(fields, "Storage"),
        comment=(fields.text("Comment", False) or "")[:64],
    )


def _volume_ext(fields: Fields) -> int:
    ext = fields.integer("VolumeExt", False)
    value = ext if ext else (fields.integer("Volume", False) or 0) * VOLUME_EXT_PER_VOLUME
    if value < 0:
        raise MalformedPayload(f"{fields.where('Volume')}: negative volume")
    return value


def _time_msc(fields: Fields) -> int:
    msc = fields.integer("TimeMsc", False)
    if msc:
        return msc
    return fields.integer("Time") * 1000


def _money(fields: Fields, key: str) -> Decimal:
    value = fields.obj.get(key)
    return Decimal(0) if value is None else _bounded(to_decimal(value, fields.where(key)), fields.where(key))


def _bounded(value: Decimal, where: str) -> Decimal:
    # The event store keeps amounts below 10^10: refuse here what it would refuse later.
    if abs(value) >= MAX_MONEY:
        raise MalformedPayload(f"{where}: out of range (at most {MAX_MONEY - 1}): {value}")
    return value


@dataclass(frozen=True)
class Account:
    """The client and deposit currency of one MT5 login."""

    client: str
    currency: str


@dataclass(frozen=True)
class Position:
    """A position seen open: what a later closing deal needs."""

    position_id: int
    login: int
    symbol: str
    side: str
    open_time_msc: int
    volume_ext: int
    open_deal: int


@dataclass
class Batch:
    """The result of normalizing a list of deals."""

    events: list[dict] = field(default_factory=list)
    positions: dict[int, Position] = field(default_factory=dict)  # open after the batch
    waiting: list[Deal] = field(default_factory=list)  # closes whose opening is unknown
    unknown: list[Deal] = field(default_factory=list)  # logins with no known client
    ignored: list[tuple[int, str]] = field(default_factory=list)  # (deal, reason)


@dataclass(frozen=True)
class _Context:
    accounts: Mapping[int, Account]
    offset: timedelta
    server: str

    def when(self, time_msc: int) -> datetime:
        # MT5 stamps deals in the trade server's time zone, not in UTC.
        return from_epoch_ms(time_msc, "TimeMsc") - self.offset

    def event_id(self, deal: Deal, suffix: str = "") -> str:
        return f"{self.server + ':' if self.server else ''}deal:{deal.deal}{suffix}"


def normalize_deals(
    deals: Iterable[Deal],
    *,
    positions: Mapping[int, Position],
    accounts: Mapping[int, Account],
    server_utc_offset=timedelta(0),
    server: str = "",
) -> Batch:
    """Turn deals into canonical events, given the positions open before them.

    `accounts` maps a login to its client and currency; `server_utc_offset` is the
    trade server's offset from UTC; `server` prefixes event ids when several MT5
    servers feed one fxcrm.
    """
    ctx = _Context(accounts, server_utc_offset, server)
    batch = Batch(positions=dict(positions))
    for deal in sorted(deals, key=lambda d: d.key):
        account = accounts.get(deal.login)
        if account is None:
            batch.unknown.append(deal)
            continue
        try:
            _one_deal(deal, account, ctx, batch)
        except MalformedPayload as exc:
            # A deal whose event the store would refuse (a time before 1990, say) is left
            # out with the reason, rather than failing every other deal of the poll.
            batch.ignored.append((deal.deal, f"malformed: {exc}"))
    return batch


def _one_deal(deal: Deal, account: Account, ctx: _Context, batch: Batch) -> None:
    if deal.action in (BUY, SELL):
        _trade(deal, account, ctx, batch)
    elif deal.action == BALANCE:
        _balance(deal, account, ctx, batch)
    else:
        name = ACTIONS[deal.action] if 0 <= deal.action < len(ACTIONS) else "unknown"
        batch.ignored.append((deal.deal, f"action {deal.action} ({name}) is not used"))


def _side(action: int) -> str:
    return "buy" if action == BUY else "sell"


def _trade(deal: Deal, account: Account, ctx: _Context, batch: Batch) -> None:
    if deal.entry == ENTRY_IN:
        _open(deal, account, ctx, batch, deal.volume_ext, charged=True)
    elif deal.entry in (ENTRY_OUT, ENTRY_OUT_BY, ENTRY_INOUT):
        position = batch.positions.get(deal.position_id)
        if position is None:
            batch.waiting.append(deal)
        else:
            _close(deal, position, account, ctx, batch)
    else:
        batch.ignored.append((deal.deal, f"entry {deal.entry} is not a trade entry"))


def _open(
    deal: Deal, account: Account, ctx: _Context, batch: Batch, volume_ext: int, suffix: str = "", charged: bool = False
) -> None:
    held = batch.positions.get(deal.position_id)
    if held is not None and held.open_deal == deal.deal:
        pass  # the same opening deal seen again: state is already counted
    elif held is not None and held.side == _side(deal.action):
        # Netting accounts add to an open position with further "in" deals.
        batch.positions[deal.position_id] = replace(held, volume_ext=held.volume_ext + volume_ext)
    else:
        batch.positions[deal.position_id] = Position(
            deal.position_id, deal.login, deal.symbol, _side(deal.action), deal.time_msc, volume_ext, deal.deal
        )
    data = {
        "account_id": str(deal.login),
        "ticket": str(deal.position_id),
        "symbol": deal.symbol,
        "side": _side(deal.action),
        "volume_lots": decimal_text(lots(volume_ext)),
        "open_time": iso(ctx.when(deal.time_msc)),
    }
    if charged:  # a reversal's commission is on its trade.closed, so counted once
        data.update(commission=decimal_text(deal.commission), currency=account.currency)
    batch.events.append(
        event(NAME, "trade.opened", ctx.event_id(deal, suffix), ctx.when(deal.time_msc), account.client, data)
    )


def _close(deal: Deal, position: Position, account: Account, ctx: _Context, batch: Batch) -> None:
    # A reversal (inout) closes all that is open and opens the rest the other way.
    closed = position.volume_ext if deal.entry == ENTRY_INOUT else min(deal.volume_ext, position.volume_ext)
    remaining = position.volume_ext - closed
    if remaining > 0:
        batch.positions[position.position_id] = replace(position, volume_ext=remaining)
    else:
        del batch.positions[position.position_id]
    batch.events.append(
        event(
            NAME,
            "trade.closed",
            ctx.event_id(deal),
            ctx.when(deal.time_msc),
            account.client,
            {
                "account_id": str(deal.login),
                "ticket": str(position.position_id),
                "symbol": position.symbol,
                "side": position.side,
                "volume_lots": decimal_text(lots(closed)),
                "open_time": iso(ctx.when(position.open_time_msc)),
                "close_time": iso(ctx.when(deal.time_msc)),
                "profit": decimal_text(deal.profit),
                "commission": decimal_text(deal.commission),
                "swap": decimal_text(deal.swap),
                "currency": account.currency,
            },
        )
    )
    if deal.entry == ENTRY_INOUT and deal.volume_ext > closed:
        _open(deal, account, ctx, batch, deal.volume_ext - closed, ":in")


def _balance(deal: Deal, account: Account, ctx: _Context, batch: Batch) -> None:
    if not deal.profit:
        batch.ignored.append((deal.deal, "balance operation of zero"))
        return
    ref, amount = f"mt5-deal-{deal.deal}", decimal_text(abs(deal.profit))
    common = {"amount": amount, "currency": account.currency, "account_id": str(deal.login), "method": "mt5_balance"}
    if deal.profit > 0:
        # The money is on the MT5 account already: counted there, not in the wallet.
        type_, data = (
            "payment.deposit_completed",
            {**common, "payment_id": ref, "provider": NAME, "reference": deal.comment or None, "on_platform": True},
        )
    else:
        type_, data = "payment.withdrawal_paid", {**common, "withdrawal_id": ref}
    batch.events.append(event(NAME, type_, ctx.event_id(deal), ctx.when(deal.time_msc), account.client, data))
