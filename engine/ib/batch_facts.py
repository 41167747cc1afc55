"""IB facts the rules read, answered from the IB form's group state (issue 20).

`ib.first_deposit`, `ib.chargebacks.count` and `trades.lots(...)` (`ib.lots`) read the
client's IB rows per event (engine.ib.facts). For a group they are read from the IB
form's state (`IbState`: the clients' IB rows, changed in memory as the round applies
their events), with two lazy bulk reads on the first read of a round: the group's
deposits (`ib_money_moves`, oldest first, as `qualification.deposits` orders them) and,
for each set of parameters, the lots already recorded that count (one aggregate,
`qualification.counted_lots_of`, each client's window). The round's own deposits and
trades (not written yet) are added with the per-event facts' own functions
(`qualification.first_deposit`, `trade_verdict` under `lots_policy`).

A client the form did not load (no IB event in the round), a round under `engine.facts.
AS_OF` (a catch-up) or a client whose registration time changed in the round after its
lots were summed raise LookupError: the rules' form leaves the event to the per-event path.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select

from engine.facts import as_of, state_fact
from engine.ib import qualification
from engine.ib.models import IbMoneyMove, IbTrade

if TYPE_CHECKING:
    from engine.ib.batch import IbState


class NotKnown(LookupError):
    """The group state cannot answer as the per-event fact would."""


def _row(state: IbState, ref: str):
    """The client's IB row: an ORM row, the dict of one made in the round, or None."""
    if ref not in state.stats or as_of() is not None:
        raise NotKnown(ref)
    stats = state.stats[ref]
    return stats if stats is not None else state.new_by_client.get(ref)


def _get(row, name: str):
    return row[name] if isinstance(row, dict) else getattr(row, name)


def deposits(state: IbState, ref: str) -> list[IbMoneyMove]:
    """The client's deposits as `qualification.deposits` returns them: those recorded
    (oldest first, by id on a tie), then the round's new ones in order (their ids come later)."""
    _row(state, ref)
    if state.deposits is None:
        assert state.session is not None
        found: dict[str, list[IbMoneyMove]] = {r: [] for r in state.stats}
        refs = sorted(state.stats)
        with state.session.no_autoflush:  # the round's changes are in memory
            for start in range(0, len(refs), 1000):
                for move in state.session.scalars(
                    select(IbMoneyMove)
                    .where(IbMoneyMove.client_ref.in_(refs[start : start + 1000]), IbMoneyMove.kind == "deposit")
                    .order_by(IbMoneyMove.at, IbMoneyMove.id)
                ):
                    found[move.client_ref].append(move)
        state.deposits = found
    stored = [(m.at, 0, n, m) for n, m in enumerate(state.deposits[ref])]
    made = (m for m in state.moves.by_client.get(ref, ()) if isinstance(m, dict))  # the round's, in order
    new = [(r["at"], 1, n, IbMoneyMove(**r)) for n, r in enumerate(made)]
    return [m for *_, m in sorted(stored + new, key=lambda t: t[:3])]


@state_fact("ib.first_deposit", form="ib")
def first_deposit(state: IbState, client):
    """As the fact: the first of the client's deposits."""
    return qualification.first_deposit(deposits(state, client.ref))


@state_fact("ib.chargebacks.count", form="ib")
def chargebacks(state: IbState, client) -> int:
    """As the fact: the chargebacks its IB row counts (kept up to date by engine.ib.moves_batch)."""
    row = _row(state, client.ref)
    return row["chargebacks"] if isinstance(row, dict) else qualification.chargebacks_now(row)


def _lots(state: IbState, client, held_at_least=None, within=None) -> Decimal:
    row = _row(state, client.ref)
    if row is None:
        return Decimal(0)
    policy = qualification.lots_policy(held_at_least, within)
    key = (policy.min_holding_time, policy.within)
    assert state.session is not None
    registered_at = _get(row, "registered_at")
    if client.ref in _undated(state):  # counted one by one: the window was not known at load
        lots = sum((t.lots for t in state.undated[client.ref] if _counts(policy, t, registered_at)), Decimal(0))
    else:
        if key not in state.lots:
            # a client with no IB row yet gets one registered when its client was (`_ensure_stats`)
            dated = {r: at for r, s in state.stats.items() if (at := _registered(state, r, s)) is not None}
            with state.session.no_autoflush:  # type: ignore[union-attr]
                summed = qualification.counted_lots_of(state.session, policy, sorted(dated.items()))
            state.lots[key] = {r: (at, summed.get(r, Decimal(0))) for r, at in dated.items()}
        summed_at, lots = state.lots[key].get(client.ref, (None, None))
        if lots is None or summed_at != registered_at:
            raise NotKnown(client.ref)  # summed for another window
    return lots + _new_lots(state, client.ref, policy, key, registered_at)


def _new_lots(state: IbState, ref: str, policy, key: tuple, registered_at) -> Decimal:
    """The lots of the round's new trades of the client that count under `policy`. The
    list only grows in a round, and a trade's verdict depends on the trade and the
    registration time alone: each is judged once per policy, so a client's hundredth
    trade of a round does not judge the 99 before it again."""
    trades = state.new_trades_of.get(ref, ())
    summed = state.new_lots.setdefault((ref, key, registered_at), [0, Decimal(0)])
    for trade in trades[summed[0] :]:
        if _counts(policy, IbTrade(**trade), registered_at):
            summed[1] += trade["lots"]
    summed[0] = len(trades)
    return summed[1]


def _counts(policy, trade: IbTrade, registered_at) -> bool:
    """Whether a trade counts under the fact's policy (as `counted_lots` sums them)."""
    return qualification.trade_verdict(policy, trade, registered_at)[0]


def _registered(state: IbState, ref: str, stats) -> object:
    return stats.registered_at if stats is not None else state.registered[ref]


def _undated(state: IbState) -> dict[str, list[IbTrade]]:
    """The trades recorded of the clients whose registration time was not known at load (a
    client registering in the round): read once, counted under each policy as it asks."""
    if state.undated is None:
        assert state.session is not None
        refs = sorted(r for r, s in state.stats.items() if _registered(state, r, s) is None)
        state.undated = {r: [] for r in refs}
        with state.session.no_autoflush:
            for start in range(0, len(refs), 1000):
                for trade in state.session.scalars(
                    select(IbTrade).where(IbTrade.client_ref.in_(refs[start : start + 1000]))
                ):
                    state.undated[trade.client_ref].append(trade)
    return state.undated


@state_fact("trades.lots", form="ib")
def trades_lots(state: IbState, client, held_at_least=None, within=None) -> Decimal:
    """As the fact: the lots recorded that count, and those of the round's new trades."""
    return _lots(state, client, held_at_least, within)


@state_fact("ib.lots", form="ib")
def ib_lots(state: IbState, client, held_at_least=None, within=None) -> Decimal:
    """As `trades.lots`."""
    return _lots(state, client, held_at_least, within)
