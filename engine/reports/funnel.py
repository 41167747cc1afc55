"""Funnel report: registered -> KYC approved -> funded -> trading account -> first trade.

Sources: clients (registration, country, source, KYC status and its time), deposits
(first completed deposit), trading_accounts (first account opened, first trade) and
ib_client_stats (the client's IB). A stage counts when the client reached it, whatever
the order; the time of a stage is measured from the previous stage's time. Times are
read as whole epoch seconds computed by the database (see base.epoch).
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import case, func, select

from engine.accounts.models import TradingAccount
from engine.clients.models import Client
from engine.ib.models import IbClientStats
from engine.payments.models import Deposit
from engine.reports.base import (
    SINCE,
    UNTIL,
    Column,
    Filter,
    Report,
    Section,
    epoch,
    epoch_period,
    from_epoch,
    hours,
    in_range,
    median,
    pct,
    register,
    stream,
)
from engine.values import utcnow

STAGES = ("registered", "kyc_approved", "funded", "account_opened", "first_trade")
LABELS = {
    "registered": "Registered",
    "kyc_approved": "KYC approved",
    "funded": "Funded",
    "account_opened": "Trading account",
    "first_trade": "First trade",
}
NEXT_STEP = {
    "registered": "KYC approval",
    "kyc_approved": "first deposit",
    "funded": "open a trading account",
    "account_opened": "first trade",
}
DIMENSIONS = ("none", "country", "ib", "source")
# Clients in these statuses are not worked any more: they are never "stuck".
CLOSED_STATUSES = ("rejected", "blocked")


def _query(filters: dict, scope):
    dep = (
        select(Deposit.client_ref, func.min(Deposit.completed_at).label("funded_at"))
        .where(Deposit.completed_at.is_not(None))
        .group_by(Deposit.client_ref)
        .subquery()
    )
    acc = (
        select(
            TradingAccount.client_ref,
            func.min(TradingAccount.opened_at).label("account_at"),
            func.min(TradingAccount.first_trade_at).label("trade_at"),
        )
        .group_by(TradingAccount.client_ref)
        .subquery()
    )
    kyc_at = case((Client.kyc_status == "approved", Client.kyc_status_at), else_=None)
    stmt = (
        select(
            Client.ref,
            Client.status,
            Client.country,
            Client.source,
            IbClientStats.ib_id,
            epoch(Client.registered_at).label("registered_at"),
            epoch(kyc_at).label("kyc_at"),
            epoch(dep.c.funded_at).label("funded_at"),
            epoch(acc.c.account_at).label("account_at"),
            epoch(acc.c.trade_at).label("trade_at"),
        )
        .outerjoin(IbClientStats, IbClientStats.client_ref == Client.ref)
        .outerjoin(dep, dep.c.client_ref == Client.ref)
        .outerjoin(acc, acc.c.client_ref == Client.ref)
        .where(Client.registered_at.is_not(None), *in_range(Client.registered_at, filters))
    )
    for name, column in (("country", Client.country), ("source", Client.source), ("ib", IbClientStats.ib_id)):
        if filters.get(name):
            stmt = stmt.where(column == filters[name])
    if scope.ib_ids is not None:
        stmt = stmt.where(IbClientStats.ib_id.in_(sorted(scope.ib_ids)))
    return stmt


# Positions in a _query row: the dimensions, then the stage times as epoch seconds.
DIMENSION_AT = {"country": 2, "source": 3, "ib": 4}
TIMES = slice(5, 10)


class _Tally:
    def __init__(self):
        self.counts = [0] * len(STAGES)
        self.waits: list[list[int]] = [[] for _ in STAGES[1:]]

    def add(self, times) -> None:
        previous = None
        for i, at in enumerate(times):
            if at is not None:
                self.counts[i] += 1
                if previous is not None:
                    self.waits[i - 1].append(at - previous if at > previous else 0)
            previous = at

    def row(self) -> dict:
        out = {stage: self.counts[i] for i, stage in enumerate(STAGES)}
        for i, stage in enumerate(STAGES[1:], 1):
            out[f"{stage}_pct"] = pct(self.counts[i], self.counts[i - 1])
            out[f"{stage}_hours"] = hours(median(self.waits[i - 1]))
        return out


def _tallies(session, filters: dict, scope) -> tuple[_Tally, dict]:
    total, groups = _Tally(), defaultdict(_Tally)
    period, at = filters["period"], DIMENSION_AT.get(filters["by"])
    for row in stream(session, _query(filters, scope)):
        times = row[TIMES]
        total.add(times)
        group = "all" if at is None else (row[at] or "(none)")
        groups[(epoch_period(times[0], period), group)].add(times)
    return total, groups


def _stuck(session, filters: dict, scope):
    now, min_wait = int(utcnow().timestamp()), filters["stuck_days"] * 86400
    stmt = _query(filters, scope).where(Client.status.not_in(CLOSED_STATUSES))
    for row in stream(session, stmt.order_by(Client.registered_at, Client.ref)):
        times, reached = row[TIMES], 0
        while reached + 1 < len(STAGES) and times[reached + 1] is not None:
            reached += 1
        if reached == len(STAGES) - 1:
            continue
        waited = max(0, now - times[reached])
        if waited >= min_wait:
            yield {
                "client": row.ref,
                "status": row.status,
                "country": row.country,
                "source": row.source,
                "ib": row.ib_id,
                "stage": STAGES[reached],
                "since": from_epoch(times[reached]),
                "waiting_hours": hours(waited),
                "next_step": NEXT_STEP[STAGES[reached]],
            }


def _stage_columns() -> list[Column]:
    cols = [Column("registered", "Registered", "int")]
    for stage in STAGES[1:]:
        cols += [
            Column(stage, LABELS[stage], "int"),
            Column(f"{stage}_pct", f"{LABELS[stage]} %", "pct"),
            Column(f"{stage}_hours", f"{LABELS[stage]}: median hours", "hours"),
        ]
    return cols


def build(session, *, filters: dict, scope) -> list[Section]:
    """Build the funnel: totals per stage, cohorts by period and dimension, who is stuck."""
    total, groups = _tallies(session, filters, scope)
    totals = total.row()
    stages = [
        {
            "stage": LABELS[s],
            "clients": totals[s],
            "conversion_pct": totals.get(f"{s}_pct"),
            "median_hours": totals.get(f"{s}_hours"),
        }
        for s in STAGES
    ]
    cohorts = [{"period": period, "group": group, **tally.row()} for (period, group), tally in sorted(groups.items())]
    return [
        Section(
            "cohorts",
            "By registration period and " + ("group" if filters["by"] == "none" else filters["by"]),
            [
                Column("period", "Period"),
                Column("group", filters["by"].capitalize() if filters["by"] != "none" else "Group"),
            ]
            + _stage_columns(),
            cohorts,
            chart={"label": "period", "label2": "group", "values": list(STAGES)},
            note="Conversion is the share of the previous stage; median hours is the time from the previous stage.",
        ),
        Section(
            "stages",
            "All clients in the selection, per stage",
            [
                Column("stage", "Stage"),
                Column("clients", "Clients", "int"),
                Column("conversion_pct", "Conversion %", "pct"),
                Column("median_hours", "Median hours from previous stage", "hours"),
            ],
            stages,
            chart={"label": "stage", "values": ["clients"]},
        ),
        Section(
            "stuck",
            f"Stuck for at least {filters['stuck_days']} days (oldest first)",
            [
                Column("client", "Client"),
                Column("status", "Status"),
                Column("country", "Country"),
                Column("source", "Source"),
                Column("ib", "IB"),
                Column("stage", "Stuck at"),
                Column("since", "Since", "time"),
                Column("waiting_hours", "Waiting hours", "hours"),
                Column("next_step", "Next step"),
            ],
            _stuck(session, filters, scope),
            note="Rejected and blocked clients are left out.",
        ),
    ]


register(
    Report(
        name="funnel",
        title="Funnel",
        description="Registered to first trade: counts, conversion, median time per stage, and who is stuck where.",
        filters=(
            SINCE,
            UNTIL,
            Filter(
                "period",
                "choice",
                ("month", "week", "day", "all"),
                "month",
                "cohort by registration month, ISO week or day",
            ),
            Filter("by", "choice", DIMENSIONS, "none", "split cohorts by"),
            Filter("country", help="ISO country code"),
            Filter("source"),
            Filter("ib", help="IB id"),
            Filter("stuck_days", "int", default=7, help="days without progress"),
        ),
        sections=("cohorts", "stages", "stuck"),
        build=build,
        heavy=True,
    )
)
