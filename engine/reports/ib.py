"""IB report per IB and per tree, from the IB domain tables and the client tables.

Sources: ib_brokers (the tree), ib_client_stats (which IB owns a client), clients
(registration, KYC status), deposits (funded), ib_trades (active traders, volume),
ib_commissions and ib_payout_batches (commissions by status, payouts, reversals).
Client figures are a cohort: clients registered in the period; trades and
commissions count when they closed or were earned; payouts when their batch was paid.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import case, distinct, func, literal_column, select

from engine.db import money_sum
from engine.clients.models import Client
from engine.ib.models import COMMISSION_STATUSES, IbClientStats, IbCommission, IbPayoutBatch, IbTrade, IntroducingBroker
from engine.payments.models import Deposit
from engine.reports.base import SINCE, UNTIL, Column, Filter, Report, ReportError, Section, in_range, register

ZERO = Decimal(0)
S, C = IbClientStats, IbCommission
COUNTS = ("registrations", "kyc_approved", "funded", "active_traders")
MONEY = (*COMMISSION_STATUSES, "reversals", "payouts")


def _tree(session) -> dict[str, str | None]:
    rows = session.execute(select(IntroducingBroker.ib_id, IntroducingBroker.parent_ib_id))
    return {ib: parent for ib, parent in rows}


def _subtree(parents: dict, root: str) -> set[str]:
    children = defaultdict(list)
    for ib, parent in parents.items():
        children[parent].append(ib)
    found, todo = set(), [root]
    while todo:
        ib = todo.pop()
        if ib not in found:
            found.add(ib)
            todo.extend(children.get(ib, ()))
    return found


def _client_counts(session, filters: dict) -> dict[str, dict]:
    funded = select(Deposit.client_ref).where(Deposit.completed_at.is_not(None)).group_by(Deposit.client_ref).subquery()
    stmt = (
        select(
            S.ib_id,
            func.count(),
            func.sum(case((Client.kyc_status == "approved", 1), else_=0)),
            func.count(funded.c.client_ref),
        )
        .join(Client, Client.ref == S.client_ref)
        .outerjoin(funded, funded.c.client_ref == S.client_ref)
        .where(S.ib_id.is_not(None), Client.registered_at.is_not(None), *in_range(Client.registered_at, filters))
        .group_by(S.ib_id)
    )
    out = {ib: {"registrations": n, "kyc_approved": int(k or 0), "funded": f} for ib, n, k, f in session.execute(stmt)}
    trades = (
        select(S.ib_id, func.count(distinct(IbTrade.client_ref)), func.sum(IbTrade.lots))
        .join(S, S.client_ref == IbTrade.client_ref)
        .where(S.ib_id.is_not(None), *in_range(IbTrade.close_time, filters))
        .group_by(S.ib_id)
    )
    for ib, active, lots in session.execute(trades):
        out.setdefault(ib, {}).update(active_traders=active, volume_lots=lots or ZERO)
    return out


def _money(session, filters: dict) -> dict[tuple[str, str], dict]:
    out: dict = defaultdict(lambda: dict.fromkeys(MONEY, ZERO))
    earned = in_range(C.earned_at, filters)
    stmt = (
        select(C.ib_id, C.currency, C.status, money_sum(C.amount))
        .where(C.type != "reversal", *earned)
        .group_by(C.ib_id, C.currency, C.status)
    )
    for ib, cur, status, amount in session.execute(stmt):
        out[(ib, cur)][status] = amount
    stmt = (
        select(C.ib_id, C.currency, money_sum(C.amount))
        .where(C.type == "reversal", *earned)
        .group_by(C.ib_id, C.currency)
    )
    for ib, cur, amount in session.execute(stmt):
        out[(ib, cur)]["reversals"] = amount
    stmt = (
        select(C.ib_id, C.currency, money_sum(C.amount))
        .join(IbPayoutBatch, IbPayoutBatch.id == C.batch_id)
        .where(IbPayoutBatch.status == "paid", *in_range(IbPayoutBatch.paid_at, filters))
        .group_by(C.ib_id, C.currency)
    )
    for ib, cur, amount in session.execute(stmt):
        out[(ib, cur)]["payouts"] = amount
    return out


def _reversal_reasons(session, filters: dict, ibs: set[str]) -> list[dict]:
    reason = func.coalesce(C.reason, literal_column("''"))
    stmt = (
        select(C.ib_id, reason, C.currency, func.count(), money_sum(C.amount))
        .where(C.type == "reversal", C.ib_id.in_(sorted(ibs)), *in_range(C.earned_at, filters))
        .group_by(C.ib_id, reason, C.currency)
        .order_by(C.ib_id, reason, C.currency)
    )
    return [
        {"ib": ib, "reason": r, "currency": cur, "count": n, "amount": a} for ib, r, cur, n, a in session.execute(stmt)
    ]


def _visible(parents: dict, counts: dict, money: dict, filters: dict, scope) -> list[str]:
    ibs = set(parents) | set(counts) | {ib for ib, _ in money}
    if scope.ib_ids is not None:
        ibs &= scope.ib_ids
    if filters.get("ib"):
        if filters["ib"] not in ibs:
            raise ReportError(f"filter ib: no IB {filters['ib']!r} that you may see")
        ibs = {filters["ib"]}
    return sorted(ibs)


def _ib_row(ib: str, parent, members: set[str], counts: dict) -> dict:
    row = {"ib": ib, "parent": parent, **dict.fromkeys(COUNTS, 0), "volume_lots": ZERO}
    for member in members:
        for key, value in counts.get(member, {}).items():
            row[key] += value
    return row


def _money_rows(ib: str, members: set[str], money: dict) -> list[dict]:
    per_currency: dict = defaultdict(lambda: dict.fromkeys(MONEY, ZERO))
    for (owner, cur), values in money.items():
        if owner in members:
            for key, value in values.items():
                per_currency[cur][key] += value
    return [{"ib": ib, "currency": cur, **values} for cur, values in sorted(per_currency.items())]


def build(session, *, filters: dict, scope) -> list[Section]:
    """Build the IB report: per IB, per tree, commissions, and reversals with reasons."""
    parents, counts, money = _tree(session), _client_counts(session, filters), _money(session, filters)
    ibs = _visible(parents, counts, money, filters, scope)
    per_ib = [_ib_row(ib, parents.get(ib), {ib}, counts) for ib in ibs]
    trees = {ib: _subtree(parents, ib) for ib in ibs}
    per_tree = [_ib_row(ib, parents.get(ib), trees[ib], counts) for ib in ibs]
    count_cols = [
        Column("ib", "IB"),
        Column("parent", "Parent IB"),
        Column("registrations", "Registrations", "int"),
        Column("kyc_approved", "KYC approved", "int"),
        Column("funded", "Funded", "int"),
        Column("active_traders", "Active traders", "int"),
        Column("volume_lots", "Volume (lots)", "decimal"),
    ]
    money_cols = [Column("ib", "IB"), Column("currency", "Currency")] + [
        Column(k, k.replace("_", " ").capitalize(), "money") for k in MONEY
    ]
    chart = {"label": "ib", "values": ["registrations", "kyc_approved", "funded", "active_traders"]}
    return [
        Section("ibs", "Per IB (its directly referred clients)", count_cols, per_ib, chart=chart),
        Section(
            "commissions",
            "Commissions per IB by status, reversals and payouts",
            money_cols,
            [r for ib in ibs for r in _money_rows(ib, {ib}, money)],
            note="Statuses exclude reversals; payouts are commissions in batches paid in the period.",
        ),
        Section("trees", "Per tree (the IB and every IB below it)", count_cols, per_tree, chart=chart),
        Section(
            "tree_commissions",
            "Commissions per tree",
            money_cols,
            [r for ib in ibs for r in _money_rows(ib, trees[ib], money)],
        ),
        Section(
            "reversals",
            "Reversals with reasons",
            [
                Column("ib", "IB"),
                Column("reason", "Reason"),
                Column("currency", "Currency"),
                Column("count", "Count", "int"),
                Column("amount", "Amount", "money"),
            ],
            _reversal_reasons(session, filters, set(ibs)),
        ),
    ]


register(
    Report(
        name="ib",
        title="Introducing brokers",
        description="Per IB and per tree: registrations, KYC approved, funded, active traders, "
        "volume, commissions by status, payouts, reversals with reasons.",
        filters=(SINCE, UNTIL, Filter("ib", help="IB id")),
        sections=("ibs", "commissions", "trees", "tree_commissions", "reversals"),
        build=build,
    )
)
