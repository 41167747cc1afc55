"""Clients are found by their trading account ids too (the staff search box)."""

from __future__ import annotations

from sqlalchemy import Select, func, select

from engine.accounts.models import TradingAccount
from engine.clients.models import Client
from engine.clients.search import client_search, contains


@client_search
def by_account_id(needle: str, dialect: str) -> Select:
    """The ids of clients with a trading account whose id contains `needle` (lower case)."""
    return (
        select(Client.id)
        .join(TradingAccount, TradingAccount.client_ref == Client.ref)
        .where(contains(func.lower(TradingAccount.account_id), needle, dialect))
    )
