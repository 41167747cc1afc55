"""The client record: one row per client reference, created by its first event."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.types import Amount, UTCDateTime

STATUSES = ("pending", "approved", "rejected", "blocked")
FUNNEL = ("registered", "kyc_approved", "funded", "account_opened", "first_trade")


def phone_digits(text: str | None) -> str:
    """A phone number's digits without the international prefix (`+49 (151) 234-56` and
    `0049 151 23456` both give `4915123456`), so any way of writing it matches."""
    digits = re.sub(r"[^0-9]", "", text or "")
    return digits[2:] if (text or "").strip().startswith("00") else digits


def search_text(client) -> str:
    """The one lower-cased text a client search looks in."""
    name = f"{client.first_name or ''} {client.last_name or ''}".strip()
    parts = [client.ref, client.email, name, client.referral_code, phone_digits(client.phone)]
    return " | ".join((p or "").lower() for p in parts)


# Created by migration 1099 on PostgreSQL when pg_trgm is available; not declared on the
# model because SQLite has no such index (the schema comparison test skips it).
OPTIONAL_INDEXES = frozenset({"ix_clients_search_trgm", "ix_trading_accounts_id_trgm"})
# SQLite only: the FTS5 trigram table over search_text (and its shadow tables), made and
# kept by migration 1099's triggers.
SEARCH_FTS = "clients_fts"


class Client(Base):
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    first_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    last_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Lower-cased ref, e-mail, names, referral code and phone digits in one column, kept
    # by the projections: one LIKE (a pg_trgm index on PostgreSQL) finds any of them.
    search_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    client_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    referral_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source: Mapped[str | None] = mapped_column(String(100), nullable=True)
    auto_funding: Mapped[bool] = mapped_column(Boolean, default=False)
    declared_income: Mapped[Decimal | None] = mapped_column(Amount, nullable=True)
    declared_income_currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    kyc_status: Mapped[str] = mapped_column(String(16), default="not_started")
    kyc_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    risk_category: Mapped[str | None] = mapped_column(String(8), nullable=True)
    risk_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    funnel_stage: Mapped[str] = mapped_column(String(20), default="registered")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


NOTE_MAX = 5000


class ClientNote(Base):
    """A staff note on a client (not tied to a task)."""

    __tablename__ = "client_notes"
    __table_args__ = (Index("ix_client_notes_client", "client_ref", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_ref: Mapped[str] = mapped_column(String(100))
    author: Mapped[str] = mapped_column(String(320))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


@event.listens_for(Client, "before_insert")
@event.listens_for(Client, "before_update")
def _keep_search_text(_mapper, _connection, client: Client) -> None:
    # Whatever writes a client (projection, staff, import), its search text follows.
    client.search_text = search_text(client)
