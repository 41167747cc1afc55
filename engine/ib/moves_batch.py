"""The set-based form of the IB activity projection for deposits (engine.ib.batch).

A completed, refunded or charged-back deposit records the client's deposit once per
payment id (`ib_money_moves`); a reversal marks it and recounts the client's chargebacks,
and may claw back a CPA. For a client no IB owns `evaluate.after_activity` does nothing,
and a reversal of a client with no CPA finds none to claw back, so the effects are only
those rows: the group's moves of the payments its events name are read in one query, the
chargebacks counted in one more (for clients with a reversal), and the CPAs a reversal
could claw back in a third.

A referred client's deposit is taken when the rules pay the CPA (engine.ib.batch
`_rules_pay_cpa`): `after_activity` then checks no policy, the CPA facts are read from
the IB form's state (engine.ib.batch_facts, the round's deposits included) and the rules'
`commission` has a set-based form (engine.ib.commission_batch).

Refused (the per-event path decides):
- a referred client's deposit in policy mode (the deposit may qualify its CPA: `check_cpa`);
- a client waiting for an IB to register the code it gave: the IB's `ib.registered`
  (per event) may attribute it before the client's later events, and taking the
  deposit would take those in this round;
- a reversal of a client with a CPA (recorded, or made earlier in the round: clawback
  has no set-based form); an event whose amount does not parse.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.ib.models import IbCommission, IbMoneyMove
from engine.values import parse_decimal

COMPLETED = "payment.deposit_completed"
REVERSED = ("payment.deposit_refunded", "payment.deposit_charged_back")
TYPES = (COMPLETED, *REVERSED)
_CHUNK = 1000


@dataclass
class Moves:
    """The group's deposit moves its events name, by (client, payment id), kept up to date."""

    moves: dict[tuple[str, str], IbMoneyMove | dict] = field(default_factory=dict)  # loaded or new (a row)
    chargebacks: Counter[str] = field(default_factory=Counter)  # charged back, not counting `moves`
    with_cpa: set[str] = field(default_factory=set)  # clients with a CPA a reversal may claw back
    new: list[dict] = field(default_factory=list)
    by_client: dict[str, list[IbMoneyMove | dict]] = field(default_factory=dict)  # `moves`, by client

    def keep(self, key: tuple[str, str], move: IbMoneyMove | dict) -> None:
        self.moves[key] = move
        self.by_client.setdefault(key[0], []).append(move)

    def charged_back(self, ref: str) -> int:
        """As `deposit_reversed` counts them: the client's moves charged back."""
        return self.chargebacks[ref] + sum(
            1 for m in self.by_client.get(ref, ()) if _get(m, "status") == "charged_back"
        )


def load(session: Session, events: list) -> Moves:
    mine = [e for e in events if e.type in TYPES and isinstance(_payment(e), str)]
    state = Moves()
    if not mine:
        return state
    refs = sorted({e.client_ref for e in mine})
    payments = sorted({_payment(e) for e in mine})
    wanted = {(e.client_ref, _payment(e)) for e in mine}
    for part in _chunks(refs):
        for move in session.scalars(
            select(IbMoneyMove).where(
                IbMoneyMove.client_ref.in_(part), IbMoneyMove.kind == "deposit", IbMoneyMove.payment_id.in_(payments)
            )
        ):
            if (move.client_ref, move.payment_id) in wanted:
                state.keep((move.client_ref, move.payment_id), move)
    reversing = sorted({e.client_ref for e in mine if e.type in REVERSED})
    loaded = [m.id for m in state.moves.values() if isinstance(m, IbMoneyMove)]
    for part in _chunks(reversing):
        counted = select(IbMoneyMove.client_ref, func.count()).where(
            IbMoneyMove.client_ref.in_(part), IbMoneyMove.status == "charged_back"
        )
        if loaded:
            counted = counted.where(IbMoneyMove.id.not_in(loaded))
        state.chargebacks.update(dict(session.execute(counted.group_by(IbMoneyMove.client_ref)).tuples().all()))
        keys = [f"cpa:{ref}" for ref in part]
        state.with_cpa.update(
            k[4:] for k in session.scalars(select(IbCommission.key).where(IbCommission.key.in_(keys)))
        )
    return state


def accepts(state: Moves, event, stats, *, referred: bool = False) -> bool:
    """A deposit event of a client no IB owns (`stats`: its IB row, or None), or of a
    referred client the IB form vouches for (`referred`), a reversal with no CPA to claw back."""
    if stats is not None and stats.pending_code:
        return False  # an IB registering its code in the group may claim the client first
    if stats is not None and stats.ib_id is not None and not referred:
        return False  # a referred client: see the module
    if event.type in REVERSED and event.client_ref in state.with_cpa:
        return False
    data = event.data or {}
    try:
        parse_decimal(data["amount"])
        return isinstance(_payment(event), str) and isinstance(data["currency"], str)
    except Exception:
        return False  # the per-event path raises, and isolates the event


def apply(state: Moves, event, stats) -> None:
    """As `deposit_completed` / `deposit_reversed` (engine.ib.projections); `stats` is the
    client's IB row (an ORM row, or the dict of one made in the round)."""
    key = (event.client_ref, _payment(event))
    if event.type == COMPLETED:
        _record(state, key, event, "completed")
        return
    status = "charged_back" if event.type.endswith("charged_back") else "refunded"
    move = _record(state, key, event, status)
    if _get(move, "status") != "charged_back":
        _set(move, status=status, reversed_at=event.occurred_at)
    if isinstance(stats, dict):
        stats["chargebacks"] = state.charged_back(event.client_ref)
    else:
        stats.chargebacks = state.charged_back(event.client_ref)


def _record(state: Moves, key: tuple[str, str], event, status: str) -> IbMoneyMove | dict:
    move = state.moves.get(key)
    if move is None:
        data = event.data
        move = {
            "client_ref": key[0],
            "kind": "deposit",
            "payment_id": key[1],
            "amount": parse_decimal(data["amount"]),
            "currency": data["currency"],
            "status": status,
            "at": event.occurred_at,
            "reversed_at": None,
        }
        state.keep(key, move)
        state.new.append(move)
    return move


def _get(move: IbMoneyMove | dict, name: str):
    return move[name] if isinstance(move, dict) else getattr(move, name)


def _set(move: IbMoneyMove | dict, **values) -> None:
    for name, value in values.items():
        if isinstance(move, dict):
            move[name] = value
        else:
            setattr(move, name, value)


def _payment(event):
    return (event.data or {}).get("payment_id")


def _chunks(items: list) -> list[list]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]
