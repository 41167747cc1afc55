"""IB projections: onboarding, attribution, and each client's qualification data.

Deposits, withdrawals, closed trades and KYC results are projected for every client,
so a client attributed later (or named by a rule test) already has its history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clients.models import Client
from engine.db import lock_name
from engine.events.models import Event
from engine.ib import batch, commissions, evaluate, tree
from engine.ib.models import IbClientStats, IbMoneyMove, IbTrade
from engine.ib.service import config_for
from engine.projections import batch_form, cross_client, projection
from engine.values import parse_decimal

CODE_LOCKS = "ib.referral_code"  # lock_name's namespace: registrations that name one code


def _attribute(
    session: Session,
    client_ref: str,
    ib_id: str,
    *,
    source: str,
    key: str,
    at: datetime,
    actor: str,
    reason: str | None,
    event: Event,
) -> None:
    entry = tree.attribute(
        session,
        client_ref=client_ref,
        ib_id=ib_id,
        source=source,
        actor=actor,
        reason=reason,
        key=key,
        at=at,
        config=config_for(session),
    )
    if entry is not None and entry.outcome in ("attributed", "reassigned"):
        evaluate.after_attribution(session, client_ref, event)


@projection("client.registered")
def registered(session: Session, event: Event, client: Client) -> None:
    """Attribute a client who registered with a referral code (or remember an unknown code)."""
    stats = tree.stats_for(session, client.ref)
    if stats is not None:
        stats.registered_at = client.registered_at
    code = event.data.get("referral_code")
    if not code:
        return
    ib = tree.get_by_code(session, code)
    if ib is None:
        # Not known yet: decided again under the code's lock, which its IB's registration
        # takes too, so whichever of the two comes second sees the other (the IB now, or
        # this client waiting for it) even when two workers process them at once. A known
        # code needs no lock (an IB's code never changes), so busy codes never serialize.
        lock_name(session, CODE_LOCKS, code)
        ib = tree.get_by_code(session, code)
    if ib is None:
        tree.remember_code(session, client.ref, code)
        return
    _attribute(
        session,
        client.ref,
        ib.ib_id,
        source="referral_code",
        key=f"referral_code:{client.ref}",
        at=event.occurred_at,
        actor=f"event:{event.source}",
        reason=f"referral code {code}",
        event=event,
    )


@projection("ib.referral_attributed")
def referral_attributed(session: Session, event: Event, client: Client) -> None:
    """Attribute the client to an IB after registration, under the conflict policy."""
    _attribute(
        session,
        client.ref,
        event.data["ib_id"],
        source="event",
        key=f"event:{event.source}:{event.event_id}",
        at=event.occurred_at,
        actor=f"event:{event.source}",
        reason=event.data.get("reason"),
        event=event,
    )


@projection("ib.registered")
def ib_registered(session: Session, event: Event, client: Client) -> None:
    """Onboard the IB and attribute clients who used its code before it existed."""
    data = event.data
    lock_name(session, CODE_LOCKS, data["referral_code"])  # see `registered`
    ib, _ = tree.register(
        session,
        ib_id=data["ib_id"],
        referral_code=data["referral_code"],
        client_ref=client.ref,
        parent_ib_id=data.get("parent_ib"),
        at=event.occurred_at,
        event_seq=event.seq,
    )
    commissions.settle_overrides(session, config_for(session), ib.ib_id, actor="system")
    for stats in tree.waiting_for_code(session, ib.referral_code):
        # Lock the other client as its processor would, so no event of it slips between.
        other = session.scalar(select(Client).where(Client.ref == stats.client_ref).with_for_update())
        _attribute(
            session,
            stats.client_ref,
            ib.ib_id,
            source="referral_code",
            key=f"referral_code:{stats.client_ref}",
            at=(other.registered_at if other else None) or event.occurred_at,
            actor=f"event:{event.source}",
            reason=f"referral code {ib.referral_code}",
            event=event,
        )


@cross_client
def waiting_for_codes(session: Session, events: list[Event]) -> list[tuple[Event, set[str]]]:
    """An `ib.registered` attributes the clients waiting for its code (`ib_registered`): those
    of the group that registered with it before (`pending_code`), or register with it in the
    group. The group runner keeps it after their events or before them, as per event."""
    codes: dict[str, list[Event]] = {}
    for event in events:
        if event.type == "ib.registered" and isinstance(event.data, dict):
            if isinstance(code := event.data.get("referral_code"), str):
                codes.setdefault(code, []).append(event)
    if not codes:
        return []
    waiting: dict[str, set[str]] = {code: set() for code in codes}
    refs = {event.client_ref for event in events}
    for ref, code in session.execute(
        select(IbClientStats.client_ref, IbClientStats.pending_code).where(
            IbClientStats.pending_code.in_(sorted(codes))
        )
    ).tuples():
        if ref in refs:
            waiting[code].add(ref)  # type: ignore[index]
    for event in events:
        if event.type == "client.registered" and isinstance(event.data, dict):
            if (code := event.data.get("referral_code")) in waiting:
                waiting[code].add(event.client_ref)
    return [(event, waiting[code] - {event.client_ref}) for code, found in codes.items() for event in found]


def _move(session: Session, client_ref: str, kind: str, payment_id: str) -> IbMoneyMove | None:
    return session.scalar(
        select(IbMoneyMove).where(
            IbMoneyMove.client_ref == client_ref, IbMoneyMove.kind == kind, IbMoneyMove.payment_id == payment_id
        )
    )


def _record_move(session: Session, event: Event, client_ref: str, kind: str, status: str, id_field: str) -> IbMoneyMove:
    data = event.data
    move = _move(session, client_ref, kind, data[id_field])
    if move is None:
        move = IbMoneyMove(
            client_ref=client_ref,
            kind=kind,
            payment_id=data[id_field],
            amount=parse_decimal(data["amount"]),
            currency=data["currency"],
            status=status,
            at=event.occurred_at,
        )
        session.add(move)
        session.flush()
    return move


def deposit_completed(session: Session, event: Event, client_ref: str) -> None:
    """Count a completed deposit (once per payment id)."""
    _record_move(session, event, client_ref, "deposit", "completed", "payment_id")
    evaluate.after_activity(session, client_ref, event)


def deposit_reversed(session: Session, event: Event, client_ref: str) -> None:
    """Mark a deposit refunded or charged back, and claw back a CPA it qualified."""
    status = "charged_back" if event.type.endswith("charged_back") else "refunded"
    move = _record_move(session, event, client_ref, "deposit", status, "payment_id")
    if move.status != "charged_back":  # a chargeback is never downgraded to a refund
        move.status, move.reversed_at = status, event.occurred_at
    stats = tree.stats_for(session, client_ref)
    stats.chargebacks = session.scalar(
        select(func.count())
        .select_from(IbMoneyMove)
        .where(IbMoneyMove.client_ref == client_ref, IbMoneyMove.status == "charged_back")
    )
    evaluate.clawback(session, client_ref, event.data["payment_id"], event)


def withdrawal_paid(session: Session, event: Event, client_ref: str) -> None:
    """Count a paid withdrawal (for net deposits)."""
    _record_move(session, event, client_ref, "withdrawal", "paid", "withdrawal_id")


def trade_closed(session: Session, event: Event, client_ref: str) -> None:
    """Record a closed trade with its holding time (once per account and ticket)."""
    data = event.data
    exists = session.scalar(
        select(IbTrade.id).where(
            IbTrade.client_ref == client_ref, IbTrade.account_id == data["account_id"], IbTrade.ticket == data["ticket"]
        )
    )
    if exists is None:
        session.add(IbTrade(**batch.trade_row(client_ref, data)))
        session.flush()
    evaluate.after_activity(session, client_ref, event)


def kyc_completed(session: Session, event: Event, client_ref: str) -> None:
    """Track whether the client's KYC is approved (the latest result wins)."""
    stats = tree.stats_for(session, client_ref)
    approved_at = batch.kyc_approved_at(stats.kyc_approved_at, event.data["result"], event.occurred_at)
    if approved_at != stats.kyc_approved_at:
        stats.kyc_approved_at = approved_at
    evaluate.after_activity(session, client_ref, event)


ACTIVITY = {
    "payment.deposit_completed": deposit_completed,
    "payment.deposit_refunded": deposit_reversed,
    "payment.deposit_charged_back": deposit_reversed,
    "payment.withdrawal_paid": withdrawal_paid,
    "trade.closed": trade_closed,
    "kyc.review_completed": kyc_completed,
}


@projection(*ACTIVITY)
def activity(session: Session, event: Event, client: Client) -> None:
    """Project a client's deposits, withdrawals, trades and KYC results."""
    tree.ensure_stats(session, client.ref)
    ACTIVITY[event.type](session, event, client.ref)


batch_form("ib", (activity,), load=batch.load, accepts=batch.accepts, apply=batch.apply, write=batch.write)


# Set-based form of `registered` for a registration without a referral code: it only
# copies the registration time onto the client's IB row, if an IB claimed the client
# before (one query per round for the group's rows). One with a code goes per event, and
# so does one whose row the IB form made earlier in the round (it is not loaded here).
@dataclass
class _Registered:
    stats: dict[str, IbClientStats]
    made: set[str] = field(default_factory=set)  # rows the round's IB form made


def _load_registered(session: Session, clients: dict, events: list) -> _Registered:
    refs = sorted({e.client_ref for e in events if e.type == "client.registered"})
    found: dict[str, IbClientStats] = {}
    for start in range(0, len(refs), 1000):
        rows = session.scalars(select(IbClientStats).where(IbClientStats.client_ref.in_(refs[start : start + 1000])))
        found.update((row.client_ref, row) for row in rows)
    return _Registered(found)


def _see_ib_form(state: _Registered, round_states: dict) -> None:
    ib_state = round_states.get("ib")
    if ib_state is not None:
        state.made = ib_state.made  # the same set: rows it makes later in the round too


def _without_code(event: Event) -> bool:
    return isinstance(event.data, dict) and not event.data.get("referral_code")


def _registered_without_code(state: _Registered, event: Event, client: Client) -> bool:
    return event.type == "client.registered" and _without_code(event) and client.ref not in state.made


def _apply_registered(state: _Registered, event: Event, client: Client) -> None:
    row = state.stats.get(client.ref)
    if row is not None:
        row.registered_at = client.registered_at


batch_form(
    "ib.registered",
    (registered,),
    load=_load_registered,
    accepts=_registered_without_code,
    apply=_apply_registered,
    write=lambda session, state: None,  # the loaded rows go with the flush
    sees=_see_ib_form,
    takes=_without_code,  # a registration with a code goes per event (attribution)
)
