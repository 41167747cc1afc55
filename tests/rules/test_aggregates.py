"""Aggregates over windows (`sum(type.field within D where ...)`) on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select, text

from engine.db import unit_of_work
from engine.clients.models import Client
from engine.events.catalogue import EVENT_TYPES
from engine.processing.ingest import ingest_lines
from engine.rules import aggregates
from engine.rules.paths import PathError, Scope, resolve
from engine.values import Money, parse_datetime
from tests.helpers import deposit_failed, event, jsonl, registered
from tests.rules.conftest import all_facts

SCOPE = Scope((), EVENT_TYPES, all_facts())
AT = "2026-11-03T10:00:00Z"


def deposit(at, amount, currency="USD", method="card"):
    return event(
        "payment.deposit_completed",
        "C1",
        at,
        payment_id=f"d-{at}-{amount}",
        amount=amount,
        currency=currency,
        method=method,
        provider="stripe",
    )


def ingest(database, *events):
    report = ingest_lines(database, jsonl(events).splitlines())
    assert report.ok, report.rejected


def value(database, written: str, at: str = AT):
    spec = resolve(written, SCOPE).value.aggregate
    with unit_of_work(database) as s:
        client = s.scalar(select(Client).where(Client.ref == "C1"))
        return aggregates.compute(s, client.ref, spec, parse_datetime(at))


@pytest.fixture
def history(database):
    ingest(
        database,
        registered("C1", at="2026-10-01T09:00:00Z"),
        deposit("2026-10-01T10:00:00Z", "5000.00"),  # long before every window
        deposit("2026-11-01T10:00:00Z", "1000.00"),  # exactly 48h before AT
        deposit("2026-11-01T10:00:01Z", "0.10", method="wire"),
        deposit("2026-11-02T10:00:00Z", "2500.00", currency="EUR"),
        deposit("2026-11-03T10:00:00Z", "0.20"),  # at AT itself
        deposit("2026-11-03T10:00:01Z", "9999.00"),  # after AT: never counted
        deposit_failed("C1", at="2026-11-03T09:30:00Z", amount="12.5"),
    )
    return database


def test_sum_count_min_max_avg_in_one_currency_are_exact(history):
    usd = "payment.deposit_completed.amount within 48h where currency == USD"
    assert value(history, f"sum({usd})") == Money(Decimal("1000.30"), "USD")
    assert value(history, f"min({usd})") == Money(Decimal("0.1"), "USD")
    assert value(history, f"max({usd})") == Money(Decimal("1000"), "USD")
    assert value(history, f"avg({usd})") == Money(Decimal("333.43333333"), "USD")
    assert value(history, "count(payment.deposit_completed within 48h)") == 4
    assert value(history, "count(payment.deposit_completed)") == 5
    assert str(value(history, f"max({usd})").amount) == "1000"  # shown as written, not 1E+3


def test_window_includes_both_ends_and_is_anchored_on_the_moment(history):
    # 2026-11-01T10:00:00Z is exactly 48h before AT: inside; one second later it is outside.
    assert value(history, "count(payment.deposit_completed within 48h)") == 4
    assert value(history, "count(payment.deposit_completed within 48h)", "2026-11-03T10:00:01Z") == 4
    assert value(history, "count(payment.deposit_completed within 172799s)") == 3
    # anchored on the given moment, not on now: a month earlier only the first deposit exists
    assert value(history, "count(payment.deposit_completed within 48h)", "2026-10-02T10:00:00Z") == 1


def test_filters_on_amounts_text_and_lists(history):
    assert value(history, "count(payment.deposit_completed within 30d where amount >= 1000 USD)") == 1
    assert value(history, "count(payment.deposit_completed within 60d where amount >= 1000 USD)") == 2
    assert value(history, "count(payment.deposit_completed within 30d where amount >= 1000 EUR)") == 1
    assert value(history, "count(payment.deposit_completed within 48h where method == wire)") == 1
    assert value(history, "count(payment.deposit_completed within 48h where method != wire)") == 3
    assert value(history, "count(payment.deposit_completed within 48h where method in [wire, sepa])") == 1
    assert value(history, "count(payment.deposit_completed within 48h where method not in [wire])") == 3
    assert value(history, "sum(payment.deposit_completed.amount within 48h where amount < 1 USD)") == Money(
        Decimal("0.3"), "USD"
    )


def test_no_events_in_the_window(history):
    few = "payment.deposit_completed.amount within 1h where currency == GBP"
    assert value(history, f"sum({few})") == Money(Decimal(0), "GBP")
    assert value(history, f"min({few})") is None and value(history, f"avg({few})") is None
    assert value(history, "count(payment.deposit_completed within 1s)", "2026-11-02T12:00:00Z") == 0


def test_the_query_reads_the_client_type_time_index(database):
    """The plan of the real aggregate query: one index range on client, type and window."""
    spec = resolve("sum(payment.deposit_completed.amount within 48h where currency == USD)", SCOPE).value.aggregate
    with unit_of_work(database) as s:
        stmt = aggregates.statement(s, "C1", spec, parse_datetime(AT))
        dialect = s.get_bind().dialect
        sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        if dialect.name == "postgresql":  # an empty table: forbid the sequential scan to see the index
            s.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(row[0] for row in s.execute(text("EXPLAIN " + sql)))
            assert "ix_events_client_type_time" in plan, plan
        else:
            plan = " ".join(str(row[-1]) for row in s.execute(text("EXPLAIN QUERY PLAN " + sql)))
            assert (
                "INDEX ix_events_client_type_time (client_ref=? AND type=? AND occurred_at>? AND occurred_at<?)" in plan
            ), plan


@pytest.mark.parametrize(
    "written, message",
    [
        (
            "sum(payment.deposit_completed.amount within 30d)",
            "sum() of payment.deposit_completed.amount adds up amounts in any currency: "
            "name one with `where currency == USD`",
        ),
        (
            "sum(payment.deposit_completed within 30d)",
            "sum() needs a field: write sum(payment.deposit_completed.<field> within 7d)",
        ),
        (
            "avg(payment.deposit_completed.method within 30d)",
            "avg(): payment.deposit_completed.method is not a number or an amount",
        ),
        (
            "count(payment.deposit_completed within 30d where amount >= 1000)",
            "count(): amount is money, compared with a plain number (write the currency: 1000 USD)",
        ),
        (
            "count(payment.deposit_completed within 30d where colour == red)",
            "count(): colour is not a field of payment.deposit_completed",
        ),
        (
            "sum(payment.deposit_completed.amount within 30d where currency == USD and amount > 1 EUR)",
            "sum() filters name two currencies (EUR, USD): no event has both",
        ),
        ("max(trade.closed.volume_lots within soon)", "max() window must be a duration like 1h or 7d, not 'soon'"),
    ],
)
def test_mistakes_are_refused_with_a_message(written, message):
    with pytest.raises(PathError) as info:
        resolve(written, SCOPE)
    assert str(info.value) == message
