"""The set-based form of the rules' `commission` action (engine.ib.actions, issue 20).

`_commission` calls `service.record_commission`: the client's IB, its profile, the trade
a per-trade type pays for, then `service.decide_commission` on a SQL ledger, and writes
the base commission and its overrides. This form decides with the same
`decide_commission`, on the IB form's `GroupLedger` (engine.ib.batch: the keys, the
sums the caps count, the IB chains and the deposits, the round's own commissions and
deposits included), and adds what it decides to the IB form's commissions, so the
policies' commissions and the rules' are written in one bulk insert, in the order the
per-event path makes them (the projection's before the rules' of each event).

It refuses (the event goes per event) when the IB form did not load the client's
ledger (no IB event of the client in the round, a rule test stating the IB or chain), a
profile it names does not exist, the trade is not recorded, or a monthly cap cuts a
commission: an IB's monthly sum counts the commissions of all its clients, which the
per-event path records client after client, where a round may order them otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engine.ib.batch import IbState, write_commissions
from engine.ib.commissions import NewCommission
from engine.ib.models import IbTrade
from engine.values import Money, utcnow


@dataclass
class CommissionState:
    ib: IbState | None = None  # the IB form's group state (`sees`)


def load(session, calls: list, types: frozenset) -> CommissionState:
    return CommissionState()


def sees(state: CommissionState, rounds: dict) -> None:
    found = rounds.get("ib")
    state.ib = found if isinstance(found, IbState) else None


def decide(state: CommissionState, call) -> list[NewCommission] | None:
    """What `record_commission` would record for the call ([]: nothing due), or None."""
    from engine.ib.batch import _given_facts
    from engine.ib.service import PER_TRADE, decide_commission

    ib = state.ib
    if ib is None or ib.ledger is None or ib.config is None or call.subject_kind != "client" or _given_facts():
        return None
    ref, p, event = call.client.ref, call.params, call.event
    if ref not in ib.stats:
        return None
    stats = ib.stats[ref]
    if stats is None or stats.ib_id is None:
        return None  # not loaded for the ledger (a client the round made a row for)
    config, kind, name = ib.config, p["type"], p.get("profile")
    if name is not None and name not in config.profiles:
        return None  # the per-event path raises
    profile = config.profiles[name] if name else config.profile_for(stats.ib_id)
    trade = None
    if kind in PER_TRADE:
        if event is None or event.type != "trade.closed":
            return None
        trade = ib.trades.get((ref, event.data.get("account_id"), event.data.get("ticket")))
        if not isinstance(trade, IbTrade):
            return None
    elif kind != "cpa":
        return None
    amount = p.get("amount")
    if isinstance(amount, dict):
        amount = Money(Decimal(amount["amount"]), amount["currency"])
    try:
        decided = decide_commission(
            ib.ledger,
            config,
            profile,
            ib_id=stats.ib_id,
            client_ref=ref,
            type=kind,
            explanation=call.explanation,
            trade=trade,
            stats=stats if kind in PER_TRADE and profile.trade_policy is not None else None,
            event=event,
            once_per=p["once_per"],
            amount=amount,
            review=p["review"],
            actor=call.actor,
        )
    except LookupError:  # not loaded (NotLoaded, KeyError): per event
        return None
    if any("per month" in note for new in decided for note in new.explanation.get("caps") or ()):
        return None  # see the module: the order of the IB's clients matters
    return decided


def idle(decision: list[NewCommission]) -> bool:
    """Nothing due stays nothing due whatever another commission of the event records
    first: a key recorded stays recorded, a sum a cap counts only grows, and the amount
    (or the trade not counting) does not depend on the ledger."""
    return not decision


def apply(state: CommissionState, call, decision: list[NewCommission]) -> bool:
    """Count the commissions in the ledger and queue them after what the round made before."""
    assert state.ib is not None and state.ib.ledger is not None
    for new in decision:
        state.ib.ledger.add(new)
        state.ib.new_commissions.append((new, utcnow()))
    return False


def write(session, state: CommissionState) -> None:
    if state.ib is not None:
        write_commissions(session, state.ib)  # once, with the IB form's: the ids are needed here


def result(state: CommissionState, decision: list[NewCommission]) -> str:
    """The text `_commission` returns."""
    return f"commissions {', '.join(str(new.id) for new in decision)}" if decision else "no commission due"
