"""Trading accounts: their state from platform events, and a history of what changed."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.types import Amount, BigId, JsonType, UTCDateTime

STATUSES = ("active", "locked", "disabled")


class TradingAccount(Base):
    __tablename__ = "trading_accounts"
    __table_args__ = (Index("ix_trading_accounts_client", "client_ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(100), unique=True)
    client_ref: Mapped[str] = mapped_column(String(100))
    platform: Mapped[str] = mapped_column(String(64))
    account_type: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    leverage: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    balance: Mapped[Decimal | None] = mapped_column(Amount, nullable=True)
    equity: Mapped[Decimal | None] = mapped_column(Amount, nullable=True)
    balance_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_trade_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_trade_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AccountActivity(Base):
    """One thing that happened to a trading account: created, status, first trade, manual update."""

    __tablename__ = "account_activity"
    __table_args__ = (Index("ix_account_activity_client", "client_ref", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # What happened, once: e.g. `status:ACC-1:<event seq>`; a duplicate adds nothing.
    key: Mapped[str] = mapped_column(String(300), unique=True)
    account_id: Mapped[str] = mapped_column(String(100), index=True)
    client_ref: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # created, status, first_trade, manual_update
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(320))
    summary: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict | None] = mapped_column(JsonType, nullable=True)
