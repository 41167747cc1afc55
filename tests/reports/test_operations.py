"""Operations (tasks) figures checked against the hand-worked data set."""

from decimal import Decimal as D

from engine.reports.base import Scope
from tests.reports.helpers import pick_cols, section_rows

FIGS = ("created", "done", "dismissed", "backlog", "sla_breaches", "median_resolution_hours", "dismissed_pct")


def check_per_queue_and_rule(data):
    assert pick_cols(section_rows(data, "tasks", "queue_rule"), "queue", "rule", *FIGS) == [
        ("compliance", "kyc-stuck", 4, 3, 1, 0, 1, D("6.00"), D("25.00")),
        ("finance", "big-withdrawal", 4, 1, 2, 1, 1, D("10.00"), D("66.67")),
        ("support", "(manual)", 1, 0, 0, 1, 0, None, None),
    ]
    assert pick_cols(section_rows(data, "operations", "queues"), "queue", *FIGS) == [
        ("compliance", 4, 3, 1, 0, 1, D("6.00"), D("25.00")),
        ("finance", 4, 1, 2, 1, 1, D("10.00"), D("66.67")),
        ("support", 1, 0, 0, 1, 0, None, None),
    ]
    assert pick_cols(section_rows(data, "tasks", "rules"), "rule", "dismissed_pct") == [
        ("big-withdrawal", D("66.67")),
        ("kyc-stuck", D("25.00")),
        ("(manual)", None),
    ]


def check_filters_and_scope(data):
    rows = section_rows(data, "tasks", "queue_rule", since="2026-02-01", queue="compliance")
    assert pick_cols(rows, "queue", "rule", *FIGS) == [
        ("compliance", "kyc-stuck", 3, 2, 1, 0, 1, D("15.00"), D("33.33"))
    ]
    mine = section_rows(data, "tasks", "queues", scope=Scope(queues=frozenset({"finance"})))
    assert [r["queue"] for r in mine] == ["finance"]
    assert pick_cols(section_rows(data, "tasks", "rules", rule="(manual)"), "rule", "backlog") == [("(manual)", 1)]


def test_operations_figures(data):
    for check in (check_per_queue_and_rule, check_filters_and_scope):
        check(data)
