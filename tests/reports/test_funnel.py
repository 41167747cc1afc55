"""Funnel figures checked against the hand-worked data set, on SQLite and PostgreSQL."""

from decimal import Decimal as D

from engine.reports.base import Scope
from tests.reports.helpers import pick_cols, section_rows

STAGES = ("registered", "kyc_approved", "funded", "account_opened", "first_trade")


def check_stages_counts_conversion_and_medians(data):
    rows = section_rows(data, "funnel", "stages")
    assert pick_cols(rows, "stage", "clients", "conversion_pct", "median_hours") == [
        ("Registered", 6, None, None),
        ("KYC approved", 4, D("66.67"), D("3.00")),  # waits 4, 10, 2, 1 hours
        ("Funded", 2, D("50.00"), D("4.00")),  # 2 and 6 hours after KYC
        ("Trading account", 2, D("100.00"), D("18.00")),  # 24 and 12 hours
        ("First trade", 1, D("50.00"), D("2.00")),
    ]


def check_monthly_cohorts(data):
    rows = section_rows(data, "funnel", "cohorts")
    assert [(r["period"], r["group"]) for r in rows] == [("2026-01", "all"), ("2026-02", "all")]
    jan, feb = rows
    assert [jan[s] for s in STAGES] == [3, 3, 2, 2, 1]
    assert [jan[f"{s}_pct"] for s in STAGES[1:]] == [D("100.00"), D("66.67"), D("100.00"), D("50.00")]
    assert [jan[f"{s}_hours"] for s in STAGES[1:]] == [D("4.00"), D("4.00"), D("18.00"), D("2.00")]
    assert [feb[s] for s in STAGES] == [3, 1, 0, 0, 0]
    assert [feb[f"{s}_pct"] for s in STAGES[1:]] == [D("33.33"), D("0.00"), None, None]
    assert [feb[f"{s}_hours"] for s in STAGES[1:]] == [D("1.00"), None, None, None]


def check_cohorts_by_ib_and_filters(data):
    rows = section_rows(data, "funnel", "cohorts", by="ib")
    assert pick_cols(rows, "period", "group", "registered", "kyc_approved", "funded") == [
        ("2026-01", "IB-1", 2, 2, 2),
        ("2026-01", "IB-2", 1, 1, 0),
        ("2026-02", "(none)", 2, 0, 0),
        ("2026-02", "IB-2", 1, 1, 0),
    ]
    de = section_rows(data, "funnel", "cohorts", country="DE", period="all")
    assert pick_cols(de, "period", "registered", "kyc_approved", "funded", "first_trade") == [("all", 3, 2, 2, 1)]
    feb = section_rows(data, "funnel", "stages", since="2026-02-01", until="2026-03-01")
    assert [r["clients"] for r in feb] == [3, 1, 0, 0, 0]


def check_weekly_periods(data):
    rows = section_rows(data, "funnel", "cohorts", period="week", source="google")
    # A1 Mon 5 Jan and A2 Sat 10 Jan are ISO week 2; A5 Tue 10 Feb is week 7.
    assert pick_cols(rows, "period", "registered") == [("2026-W02", 2), ("2026-W07", 1)]


def check_stuck_list(data):
    rows = section_rows(data, "funnel", "stuck")
    assert pick_cols(rows, "client", "stage", "waiting_hours", "next_step") == [
        ("A2", "account_opened", D("1172.00"), "first trade"),
        ("A3", "kyc_approved", D("958.00"), "first deposit"),
        ("A4", "registered", D("624.00"), "KYC approval"),
    ]
    assert section_rows(data, "funnel", "stuck", stuck_days="30") == section_rows(data, "funnel", "stuck")[:2]
    assert [r["client"] for r in section_rows(data, "funnel", "stuck", stuck_days="1")] == ["A2", "A3", "A4", "A6"]


def check_ib_scope_limits_the_funnel(data):
    rows = section_rows(data, "funnel", "stages", scope=Scope(ib_ids=frozenset({"IB-2"})))
    assert [r["clients"] for r in rows] == [2, 2, 0, 0, 0]


def test_funnel_figures(data):
    """One data set, every funnel figure (the database fixture is the slow part)."""
    for check in (
        check_stages_counts_conversion_and_medians,
        check_monthly_cohorts,
        check_cohorts_by_ib_and_filters,
        check_weekly_periods,
        check_stuck_list,
        check_ib_scope_limits_the_funnel,
    ):
        check(data)
