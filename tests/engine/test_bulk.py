"""engine.bulk.insert_rows writes the rows an ORM insert would (COPY on PostgreSQL)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.accounts.models import AccountActivity
from engine.bulk import insert_rows
from engine.db import cached, unit_of_work
from engine.ib.models import IbTrade
from engine.values import UTC

AT = datetime(2026, 11, 3, 9, 30, 15, 123456, tzinfo=UTC)


def _trade(ticket: str, **extra) -> dict:
    return {
        "client_ref": "C-1",
        "account_id": "ACC-1",
        "ticket": ticket,
        "symbol": "EURUSD",
        "lots": Decimal("1.25"),
        "open_time": AT,
        "close_time": AT,
        "held_seconds": 61,
        "profit": Decimal("-12.345"),
        "currency": "USD",
        **extra,
    }


def test_rows_come_back_as_written_with_python_defaults(database):
    with unit_of_work(database) as session:
        assert insert_rows(session, IbTrade, [_trade("1"), _trade("2", fee=Decimal("0.7"))]) == 2
        insert_rows(
            session,
            AccountActivity,
            [
                {
                    "key": "k1",
                    "account_id": "ACC-1",
                    "client_ref": "C-1",
                    "kind": "created",
                    "occurred_at": AT,
                    "actor": "system",
                    "summary": "Opened \t with a tab\nand a newline \\ backslash",
                    "detail": {"lots": "1.25", "note": None, "nested": [1, "two"]},
                }
            ],
        )
    with unit_of_work(database) as session:
        trades = session.scalars(select(IbTrade).order_by(IbTrade.ticket)).all()
        assert [(t.ticket, t.lots, t.profit, t.fee, t.open_time) for t in trades] == [
            ("1", Decimal("1.25"), Decimal("-12.345"), Decimal(0), AT),
            ("2", Decimal("1.25"), Decimal("-12.345"), Decimal("0.7"), AT),
        ]
        assert trades[0].id != trades[1].id  # ids from the table's own sequence
        activity = session.scalars(select(AccountActivity)).one()
        assert activity.summary == "Opened \t with a tab\nand a newline \\ backslash"
        assert activity.detail == {"lots": "1.25", "note": None, "nested": [1, "two"]}


def test_an_unknown_column_is_refused_and_nothing_is_written(database):
    with pytest.raises(ValueError, match="ib_trades: no column colour"):
        with unit_of_work(database) as session:
            insert_rows(session, IbTrade, [_trade("1", colour="red")])
    with unit_of_work(database) as session:
        assert session.scalars(select(IbTrade)).all() == []


def test_the_read_cache_forgets_the_table(database):
    with unit_of_work(database) as session:
        count = lambda: len(session.scalars(select(IbTrade)).all())  # noqa: E731
        assert cached(session, ("n",), frozenset({"ib_trades"}), count) == 0
        insert_rows(session, IbTrade, [_trade("1")])
        assert cached(session, ("n",), frozenset({"ib_trades"}), count) == 1
