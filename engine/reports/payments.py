"""Payments report from the payments domain tables (deposits, withdrawals).

Every sum is per currency (Amount columns sum as exact integers in SQL). A deposit
falls in the period by its first known time (requested, else completed, else failed);
net deposits count each money movement in the period it happened.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import func, literal_column, select

from engine.db import money_sum
from engine.payments.models import Deposit, Withdrawal
from engine.reports.base import (
    SINCE,
    UNTIL,
    Column,
    Filter,
    Report,
    Section,
    hours,
    in_range,
    median,
    register,
    seconds,
    stream,
)
from engine.values import utcnow

ZERO = Decimal(0)
D, W = Deposit, Withdrawal
DEPOSIT_AT = func.coalesce(D.requested_at, D.completed_at, D.failed_at, D.updated_at)


def _deposit_filters(filters: dict) -> list:
    conds = []
    for name, column in (("currency", D.currency), ("provider", D.provider), ("method", D.method)):
        if filters.get(name):
            conds.append(column == filters[name])
    return conds


def _withdrawal_filters(filters: dict) -> list:
    conds = [W.currency == filters["currency"]] if filters.get("currency") else []
    if filters.get("method"):
        conds.append(W.method == filters["method"])
    return conds


def _money(count, amount) -> dict:
    return {"count": count, "amount": amount if amount is not None else ZERO}


def deposits(session, filters: dict) -> list[dict]:
    """Return deposits by status, provider, method and currency."""
    stmt = (
        select(D.status, D.provider, D.method, D.currency, func.count(), money_sum(D.amount))
        .where(*in_range(DEPOSIT_AT, filters), *_deposit_filters(filters))
        .group_by(D.status, D.provider, D.method, D.currency)
        .order_by(D.status, D.provider, D.method, D.currency)
    )
    return [
        {"status": s, "provider": p, "method": m, "currency": c, **_money(n, a)}
        for s, p, m, c, n, a in session.execute(stmt)
    ]


def withdrawals(session, filters: dict) -> list[dict]:
    """Return withdrawals by status, method and currency."""
    method = func.coalesce(W.method, literal_column("'(none)'"))
    stmt = (
        select(W.status, method, W.currency, func.count(), money_sum(W.amount))
        .where(*in_range(W.requested_at, filters), *_withdrawal_filters(filters))
        .group_by(W.status, method, W.currency)
        .order_by(W.status, method, W.currency)
    )
    return [{"status": s, "method": m, "currency": c, **_money(n, a)} for s, m, c, n, a in session.execute(stmt)]


def failures(session, filters: dict) -> list[dict]:
    """Return failed deposits and refused withdrawals by reason."""
    code, reason = func.coalesce(D.reason_code, literal_column("''")), func.coalesce(D.reason, literal_column("''"))
    dep = (
        select(D.provider, code, reason, D.currency, func.count(), money_sum(D.amount))
        .where(D.status == "failed", *in_range(DEPOSIT_AT, filters), *_deposit_filters(filters))
        .group_by(D.provider, code, reason, D.currency)
        .order_by(D.provider, code, reason, D.currency)
    )
    rows = [
        {
            "kind": "deposit",
            "status": "failed",
            "provider": p,
            "reason_code": c,
            "reason": r,
            "currency": cur,
            **_money(n, a),
        }
        for p, c, r, cur, n, a in session.execute(dep)
    ]
    wreason = func.coalesce(W.reason, literal_column("''"))
    wd = (
        select(W.status, wreason, W.currency, func.count(), money_sum(W.amount))
        .where(
            W.status.in_(("rejected", "failed", "refused")),
            *in_range(W.requested_at, filters),
            *_withdrawal_filters(filters),
        )
        .group_by(W.status, wreason, W.currency)
        .order_by(W.status, wreason, W.currency)
    )
    rows += [
        {
            "kind": "withdrawal",
            "status": s,
            "provider": "",
            "reason_code": "",
            "reason": r,
            "currency": cur,
            **_money(n, a),
        }
        for s, r, cur, n, a in session.execute(wd)
    ]
    return rows


def _pending_stmt(filters: dict):
    return select(
        W.withdrawal_id,
        W.client_ref,
        W.amount,
        W.currency,
        W.method,
        W.step,
        func.coalesce(W.waiting_for, literal_column("'(none)'")).label("waiting_for"),
        W.requested_at,
    ).where(W.status == "pending", *_withdrawal_filters(filters))


def pending(session, filters: dict) -> list[dict]:
    """Return pending withdrawals by what they wait for: count, amount, oldest and median age."""
    now = utcnow()
    groups: dict = defaultdict(lambda: {"count": 0, "amount": ZERO, "ages": []})
    for row in stream(session, _pending_stmt(filters)):
        group = groups[(row.waiting_for, row.currency)]
        group["count"] += 1
        group["amount"] += row.amount
        group["ages"].append(seconds(now - row.requested_at))
    return [
        {
            "waiting_for": wf,
            "currency": cur,
            "count": g["count"],
            "amount": g["amount"],
            "oldest_hours": hours(max(g["ages"])),
            "median_hours": hours(median(g["ages"])),
        }
        for (wf, cur), g in sorted(groups.items())
    ]


def pending_list(session, filters: dict):
    """Yield every pending withdrawal, oldest first, with how long it has waited."""
    now = utcnow()
    stmt = _pending_stmt(filters).order_by(W.requested_at, W.withdrawal_id)
    for row in stream(session, stmt):
        yield {
            "withdrawal": row.withdrawal_id,
            "client": row.client_ref,
            "amount": row.amount,
            "currency": row.currency,
            "method": row.method,
            "step": row.step,
            "waiting_for": row.waiting_for,
            "requested_at": row.requested_at,
            "waiting_hours": hours(seconds(now - row.requested_at)),
        }


def net(session, filters: dict) -> list[dict]:
    """Return per currency: deposits completed, refunds, chargebacks, withdrawals paid, net."""
    dcond, wcond = _deposit_filters(filters), _withdrawal_filters(filters)
    parts = {
        "deposits": (D.amount, D.completed_at, dcond),
        "refunds": (D.refund_amount, D.refunded_at, dcond),
        "chargebacks": (D.chargeback_amount, D.charged_back_at, dcond),
        "withdrawals": (W.amount, W.closed_at, wcond + [W.status == "paid"]),
    }
    sums = {}
    for name, (amount, at, conds) in parts.items():
        currency = D.currency if name != "withdrawals" else W.currency
        stmt = (
            select(currency, money_sum(amount))
            .where(at.is_not(None), amount.is_not(None), *in_range(at, filters), *conds)
            .group_by(currency)
        )
        sums[name] = {cur: total for cur, total in session.execute(stmt)}
    rows = []
    for cur in sorted(set().union(*sums.values())):
        row = {"currency": cur, **{k: sums[k].get(cur, ZERO) for k in parts}}
        row["net"] = row["deposits"] - row["refunds"] - row["chargebacks"] - row["withdrawals"]
        rows.append(row)
    return rows


_COUNT = [Column("count", "Count", "int"), Column("amount", "Amount", "money")]


def build(session, *, filters: dict, scope) -> list[Section]:
    """Build the payments report sections."""
    return [
        Section(
            "deposits",
            "Deposits by status, provider and method",
            [
                Column("status", "Status"),
                Column("provider", "Provider"),
                Column("method", "Method"),
                Column("currency", "Currency"),
            ]
            + _COUNT,
            deposits(session, filters),
            chart={"label": "status", "label2": "provider", "values": ["count"]},
        ),
        Section(
            "withdrawals",
            "Withdrawals by status and method",
            [Column("status", "Status"), Column("method", "Method"), Column("currency", "Currency")] + _COUNT,
            withdrawals(session, filters),
            chart={"label": "status", "values": ["count"]},
        ),
        Section(
            "failures",
            "Failure reasons",
            [
                Column("kind", "Kind"),
                Column("status", "Status"),
                Column("provider", "Provider"),
                Column("reason_code", "Reason code"),
                Column("reason", "Reason"),
                Column("currency", "Currency"),
            ]
            + _COUNT,
            failures(session, filters),
            chart={"label": "reason_code", "label2": "reason", "values": ["count"]},
        ),
        Section(
            "pending",
            "Pending withdrawals by what they wait for (now)",
            [Column("waiting_for", "Waiting for"), Column("currency", "Currency")]
            + _COUNT
            + [
                Column("oldest_hours", "Oldest (hours)", "hours"),
                Column("median_hours", "Median wait (hours)", "hours"),
            ],
            pending(session, filters),
            chart={"label": "waiting_for", "values": ["count"]},
        ),
        Section(
            "net",
            "Net deposits",
            [
                Column("currency", "Currency"),
                Column("deposits", "Deposits", "money"),
                Column("refunds", "Refunds", "money"),
                Column("chargebacks", "Chargebacks", "money"),
                Column("withdrawals", "Withdrawals paid", "money"),
                Column("net", "Net", "money"),
            ],
            net(session, filters),
            note="Deposits completed minus refunds, chargebacks and paid withdrawals, each counted when it happened.",
        ),
        Section(
            "pending_list",
            "Pending withdrawals, oldest first",
            [
                Column("withdrawal", "Withdrawal"),
                Column("client", "Client"),
                Column("amount", "Amount", "money"),
                Column("currency", "Currency"),
                Column("method", "Method"),
                Column("step", "Step"),
                Column("waiting_for", "Waiting for"),
                Column("requested_at", "Requested", "time"),
                Column("waiting_hours", "Waiting hours", "hours"),
            ],
            pending_list(session, filters),
        ),
    ]


register(
    Report(
        name="payments",
        title="Payments",
        description="Deposits and withdrawals by status, provider and method; failure reasons; "
        "pending withdrawals; net deposits.",
        filters=(SINCE, UNTIL, Filter("currency", help="ISO 4217 code"), Filter("provider"), Filter("method")),
        sections=("deposits", "withdrawals", "failures", "pending", "net", "pending_list"),
        build=build,
    )
)
