"""Deposit facts the rules read, answered from the payments form's group state (issue 20).

`deposits.completed.count`, `deposits.failed.unresolved` and
`risk.deposits_to_income_percent` (engine.kyc.facts: the completed sum in the declared
income's currency) read all of a client's deposits per event (engine.payments.facts). For a group, the deposits its events name are
in the payments form's state (`PaymentsState.deposits`, changed in memory as the round
applies them); every other deposit of the group's clients is summed once, on the first
read of a round: how many completed, their sum by currency and the latest completion, in
one grouped query, and
the failures (never completed) after that latest completion in another. The facts then
combine both, the round's own changes included, exactly as their loaders would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from engine.db import money_sum
from engine.facts import state_fact
from engine.payments.deposits import currency_code
from engine.payments.models import Deposit
from engine.values import percent_of

if TYPE_CHECKING:
    from engine.payments.batch import PaymentsState

_CHUNK = 1000


@dataclass
class DepositTotals:
    """The group's deposits the round's events do not name, summed by client."""

    refs: frozenset[str]
    completed: dict[str, int] = field(default_factory=dict)
    sums: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (client, currency) -> completed sum
    latest: dict[str, datetime] = field(default_factory=dict)  # latest completed_at
    failures: dict[str, list[datetime]] = field(default_factory=dict)  # failed_at, after `latest`


def load_totals(session: Session, refs: list[str], named: list[int]) -> DepositTotals:
    """Sum the deposits of `refs` other than those with ids `named` (in the group state).

    Read under no_autoflush: the round's changes are in memory, not yet written; the
    deposits they touch are in `named` (or new), so what is read is what the round left
    alone."""
    totals = DepositTotals(frozenset(refs))
    with session.no_autoflush:
        for part in [refs[i : i + _CHUNK] for i in range(0, len(refs), _CHUNK)]:
            _sum_completed(session, totals, part, named)
            _failures(session, totals, part, named)
    return totals


def _others(query, named: list[int]):
    return query.where(Deposit.id.not_in(named)) if named else query


def _sum_completed(session: Session, totals: DepositTotals, refs: list[str], named: list[int]) -> None:
    query = select(
        Deposit.client_ref, Deposit.currency, func.count(), func.max(Deposit.completed_at), money_sum(Deposit.amount)
    ).where(Deposit.client_ref.in_(refs), Deposit.completed_at.is_not(None))
    grouped = _others(query, named).group_by(Deposit.client_ref, Deposit.currency)
    for ref, currency, count, latest, total in session.execute(grouped).tuples():
        totals.completed[ref] = totals.completed.get(ref, 0) + count
        totals.latest[ref] = max(latest, totals.latest.get(ref, latest))
        totals.sums[(ref, currency)] = total


def _failures(session: Session, totals: DepositTotals, refs: list[str], named: list[int]) -> None:
    """The failures after the client's latest completion as stored (any later completion
    only moves that bound on: the facts compare again)."""
    other = aliased(Deposit)
    latest = select(func.max(other.completed_at)).where(other.client_ref == Deposit.client_ref).scalar_subquery()
    query = select(Deposit.client_ref, Deposit.failed_at).where(
        Deposit.client_ref.in_(refs),
        Deposit.failed_at.is_not(None),
        Deposit.completed_at.is_(None),
        or_(latest.is_(None), Deposit.failed_at > latest),
    )
    for ref, failed_at in session.execute(_others(query, named)).tuples():
        totals.failures.setdefault(ref, []).append(failed_at)


def _named(state: PaymentsState, ref: str) -> list[Deposit]:
    """The client's deposits in the group state (those the round's events name)."""
    if ref not in state.deposit_totals().refs:
        raise KeyError(ref)  # not loaded: the rules' form leaves the event to the per-event path
    return state.by_client.get(ref, [])


@state_fact("deposits.completed.count", form="payments")
def completed_count(state: PaymentsState, client) -> int:
    """As deposits.count(completed=True)."""
    named = _named(state, client.ref)
    return state.deposit_totals().completed.get(client.ref, 0) + sum(1 for d in named if d.completed_at is not None)


@state_fact("deposits.failed.unresolved", form="payments")
def failed_unresolved(state: PaymentsState, client) -> bool:
    """As deposits.failures_since_completed(...) > 0."""
    named, totals = _named(state, client.ref), state.deposit_totals()
    completed = [d.completed_at for d in named if d.completed_at is not None]
    if client.ref in totals.latest:
        completed.append(totals.latest[client.ref])
    latest = max(completed, default=None)
    failed = totals.failures.get(client.ref, []) + [
        d.failed_at for d in named if d.failed_at is not None and d.completed_at is None
    ]
    return any(latest is None or at > latest for at in failed)


@state_fact("risk.deposits_to_income_percent", form="payments")
def deposits_to_income_percent(state: PaymentsState, client) -> Decimal | None:
    """As the KYC fact (engine.kyc.facts, through deposits.completed_sum): the completed
    deposits in the declared income's currency (`currency_code`, as the sum's loader
    reads it), in per cent of that income (`percent_of`, as the KYC fact computes it)."""
    named = _named(state, client.ref)
    if not client.declared_income or not client.declared_income_currency:
        return None
    code = currency_code(client.declared_income_currency)
    total = state.deposit_totals().sums.get((client.ref, code), Decimal(0))
    total += sum((d.amount for d in named if d.completed_at is not None and d.currency == code), Decimal(0))
    return percent_of(total, client.declared_income)
