"""IB figures checked against the hand-worked data set, on SQLite and PostgreSQL."""

from decimal import Decimal as D

import pytest

from engine.reports.base import ReportError, Scope
from tests.reports.helpers import pick_cols, section_rows

COUNTS = ("ib", "parent", "registrations", "kyc_approved", "funded", "active_traders", "volume_lots")
MONEY = ("ib", "currency", "pending_review", "approved", "rejected", "paid", "reversals", "payouts")
Z = D(0)


def check_per_ib_and_tree(data):
    assert pick_cols(section_rows(data, "ib", "ibs"), *COUNTS) == [
        ("IB-1", None, 2, 2, 2, 1, D("1.75")),
        ("IB-2", "IB-1", 2, 2, 0, 0, Z),
        ("IB-3", None, 0, 0, 0, 0, Z),
    ]
    assert pick_cols(section_rows(data, "ib", "trees"), *COUNTS) == [
        ("IB-1", None, 4, 4, 2, 1, D("1.75")),
        ("IB-2", "IB-1", 2, 2, 0, 0, Z),
        ("IB-3", None, 0, 0, 0, 0, Z),
    ]


def check_commissions(data):
    assert pick_cols(section_rows(data, "ib", "commissions"), *MONEY) == [
        ("IB-1", "EUR", Z, Z, D("10.00"), Z, D("-1.00"), Z),
        ("IB-1", "USD", D("3.25"), D("11.50"), Z, D("50.00"), D("-2.00"), D("48.00")),
        ("IB-2", "USD", D("20.00"), Z, Z, Z, Z, Z),
    ]
    assert pick_cols(section_rows(data, "ib", "tree_commissions"), *MONEY) == [
        ("IB-1", "EUR", Z, Z, D("10.00"), Z, D("-1.00"), Z),
        ("IB-1", "USD", D("23.25"), D("11.50"), Z, D("50.00"), D("-2.00"), D("48.00")),
        ("IB-2", "USD", D("20.00"), Z, Z, Z, Z, Z),
    ]
    assert pick_cols(section_rows(data, "ib", "reversals"), "ib", "reason", "currency", "count", "amount") == [
        ("IB-1", "chargeback", "USD", 1, D("-2.00")),
        ("IB-1", "fraud", "EUR", 1, D("-1.00")),
    ]


def check_period(data):
    feb = dict(since="2026-02-01", until="2026-03-01")
    assert pick_cols(section_rows(data, "ib", "ibs", **feb), *COUNTS) == [
        ("IB-1", None, 0, 0, 0, 1, D("0.25")),
        ("IB-2", "IB-1", 1, 1, 0, 0, Z),
        ("IB-3", None, 0, 0, 0, 0, Z),
    ]
    assert pick_cols(section_rows(data, "ib", "commissions", **feb), *MONEY) == [
        ("IB-1", "EUR", Z, Z, D("10.00"), Z, D("-1.00"), Z),
        ("IB-1", "USD", D("3.25"), Z, Z, Z, Z, D("48.00")),
    ]


def check_partner_scope(data):
    own = Scope(ib_ids=frozenset({"IB-2"}))
    assert [r["ib"] for r in section_rows(data, "ib", "ibs", scope=own)] == ["IB-2"]
    assert [r["ib"] for r in section_rows(data, "ib", "commissions", scope=own)] == ["IB-2"]
    assert section_rows(data, "ib", "reversals", scope=own) == []
    with pytest.raises(ReportError, match="filter ib: no IB 'IB-1'"):
        section_rows(data, "ib", "ibs", scope=own, ib="IB-1")
    assert pick_cols(section_rows(data, "ib", "trees", ib="IB-2"), "ib", "registrations") == [("IB-2", 2)]


def test_ib_figures(data):
    for check in (check_per_ib_and_tree, check_commissions, check_period, check_partner_scope):
        check(data)
