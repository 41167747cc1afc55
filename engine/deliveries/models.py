"""Deliveries that did not simply become events: rejected, ignored, unmatched, pending."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.types import BigId, JsonType, UTCDateTime

REJECTED, IGNORED, UNMATCHED = "rejected", "ignored", "unmatched"
PENDING, DONE, FAILED = "pending", "done", "failed"  # read-backs (Onfido checks)
STATUSES = (REJECTED, IGNORED, UNMATCHED, PENDING, DONE, FAILED)


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        # One row per provider delivery: a re-delivery finds the row instead of adding one.
        UniqueConstraint("provider", "delivery_id", name="uq_deliveries_provider_delivery"),
        Index("ix_deliveries_status_due", "status", "next_attempt_at"),
        Index("ix_deliveries_received", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(32))
    delivery_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Only authentic bodies are kept; a body whose signature failed is known by hash.
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    body_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    event_ids: Mapped[list | None] = mapped_column(JsonType, nullable=True)


class Mt5Cursor(Base):
    """Where the MT5 poller of one trade server stands: the last deal handed on."""

    __tablename__ = "mt5_cursors"

    server: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_time_msc: Mapped[int] = mapped_column(BigInteger, default=0)  # trade-server time
    last_deal: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OnfidoApplicant(Base):
    """Which client an Onfido applicant is: linked by the broker or learnt from a check tag."""

    __tablename__ = "onfido_applicants"

    applicant_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    client_ref: Mapped[str] = mapped_column(String(100), index=True)
    source: Mapped[str] = mapped_column(String(16))  # cli or api (the broker), or tag (a check)
    linked_by: Mapped[str] = mapped_column(String(320))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime)
