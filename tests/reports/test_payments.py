"""Payments figures checked against the hand-worked data set, on SQLite and PostgreSQL."""

from decimal import Decimal as D

from tests.reports.helpers import pick_cols, section_rows

MONEY = ("count", "amount")


def check_deposits(data):
    rows = section_rows(data, "payments", "deposits")
    assert pick_cols(rows, "status", "provider", "method", "currency", *MONEY) == [
        ("charged_back", "camt054", "bank_wire", "EUR", 1, D("1000.00")),
        ("completed", "stripe", "card", "USD", 1, D("100.00")),
        ("failed", "nowpayments", "crypto", "BTC", 1, D("0.01")),
        ("failed", "stripe", "card", "USD", 2, D("155.00")),
        ("refunded", "stripe", "card", "USD", 1, D("250.50")),
        ("requested", "stripe", "card", "USD", 1, D("20.00")),
    ]
    feb = section_rows(data, "payments", "deposits", since="2026-02-01", provider="stripe")
    assert pick_cols(feb, "status", "count", "amount") == [("requested", 1, D("20.00"))]


def check_withdrawals_and_failures(data):
    rows = section_rows(data, "payments", "withdrawals")
    assert pick_cols(rows, "status", "method", "currency", *MONEY) == [
        ("paid", "card", "USD", 1, D("30.00")),
        ("pending", "bank_wire", "USD", 1, D("60.00")),
        ("pending", "card", "USD", 2, D("50.00")),
        ("rejected", "bank_wire", "EUR", 1, D("500.00")),
    ]
    rows = section_rows(data, "payments", "failures")
    assert pick_cols(rows, "kind", "status", "provider", "reason_code", "reason", "currency", *MONEY) == [
        ("deposit", "failed", "nowpayments", "expired", "Payment expired", "BTC", 1, D("0.01")),
        ("deposit", "failed", "stripe", "card_declined", "Your card was declined.", "USD", 2, D("155.00")),
        ("withdrawal", "rejected", "", "", "insufficient balance", "EUR", 1, D("500.00")),
    ]


def check_pending(data):
    rows = section_rows(data, "payments", "pending")
    assert pick_cols(rows, "waiting_for", "currency", "count", "amount", "oldest_hours", "median_hours") == [
        ("compliance", "USD", 1, D("40.00"), D("216.00"), D("216.00")),
        ("finance", "USD", 2, D("70.00"), D("96.00"), D("66.00")),
    ]
    rows = section_rows(data, "payments", "pending_list")
    assert pick_cols(rows, "withdrawal", "client", "amount", "waiting_for", "waiting_hours") == [
        ("w2", "A2", D("40.00"), "compliance", D("216.00")),
        ("w3", "A1", D("60.00"), "finance", D("96.00")),
        ("w4", "A2", D("10.00"), "finance", D("36.00")),
    ]


def check_net(data):
    cols = ("currency", "deposits", "refunds", "chargebacks", "withdrawals", "net")
    assert pick_cols(section_rows(data, "payments", "net"), *cols) == [
        ("EUR", D("1000.00"), D(0), D("1000.00"), D(0), D("0.00")),
        ("USD", D("350.50"), D("50.00"), D(0), D("30.00"), D("270.50")),
    ]
    feb = section_rows(data, "payments", "net", since="2026-02-01")
    assert pick_cols(feb, *cols) == [
        ("EUR", D("1000.00"), D(0), D("1000.00"), D(0), D("0.00")),
        ("USD", D(0), D("50.00"), D(0), D(0), D("-50.00")),
    ]
    assert pick_cols(section_rows(data, "payments", "net", currency="EUR"), "currency") == [("EUR",)]


def test_payments_figures(data):
    for check in (check_deposits, check_withdrawals_and_failures, check_pending, check_net):
        check(data)
