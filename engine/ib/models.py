"""Introducing brokers: the IB tree, attributions, qualification projections, commissions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.types import Amount, BigId, JsonType, UTCDateTime

PENDING_REVIEW, APPROVED, REJECTED, PAID = "pending_review", "approved", "rejected", "paid"
COMMISSION_STATUSES = (PENDING_REVIEW, APPROVED, REJECTED, PAID)
COMMISSION_TYPES = ("cpa", "lot_rebate", "spread_share", "revshare", "override", "adjustment", "reversal")


class IntroducingBroker(Base):
    """An IB: a partner record, usually also a client (its own `client_ref`)."""

    __tablename__ = "ib_brokers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ib_id: Mapped[str] = mapped_column(String(100), unique=True)
    referral_code: Mapped[str] = mapped_column(String(64), unique=True)
    client_ref: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    parent_ib_id: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_seq: Mapped[int | None] = mapped_column(BigId, nullable=True)


class IbClientStats(Base):
    """One referred client: who owns it now and what counts towards qualification."""

    __tablename__ = "ib_client_stats"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_ref: Mapped[str] = mapped_column(String(100), unique=True)
    ib_id: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    # A referral code nobody had registered yet: resolved when that IB registers.
    pending_code: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    attributed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    kyc_approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    chargebacks: Mapped[int] = mapped_column(Integer, default=0)


class IbAttribution(Base):
    """One change (or refused change) of a client's IB, with who and why."""

    __tablename__ = "ib_attributions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_ref: Mapped[str] = mapped_column(String(100), index=True)
    ib_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    previous_ib_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))  # attributed, reassigned, disputed, refused
    source: Mapped[str] = mapped_column(String(32))  # referral_code, event, manual
    actor: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The event or request that caused it: the same cause is never recorded twice.
    key: Mapped[str] = mapped_column(String(300), unique=True)


class IbMoneyMove(Base):
    """A referred client's deposit or withdrawal, as the IB projections saw it."""

    __tablename__ = "ib_money_moves"
    __table_args__ = (UniqueConstraint("client_ref", "kind", "payment_id", name="uq_ib_money_moves_payment"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_ref: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # deposit, withdrawal
    payment_id: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))  # completed, refunded, charged_back, paid
    at: Mapped[datetime] = mapped_column(UTCDateTime)  # when it completed
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IbTrade(Base):
    """A referred client's closed trade, with how long it was held."""

    __tablename__ = "ib_trades"
    __table_args__ = (UniqueConstraint("client_ref", "account_id", "ticket", name="uq_ib_trades_ticket"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_ref: Mapped[str] = mapped_column(String(100), index=True)
    account_id: Mapped[str] = mapped_column(String(100))
    ticket: Mapped[str] = mapped_column(String(100))
    symbol: Mapped[str] = mapped_column(String(32))
    lots: Mapped[Decimal] = mapped_column(Amount)
    open_time: Mapped[datetime] = mapped_column(UTCDateTime)
    close_time: Mapped[datetime] = mapped_column(UTCDateTime)
    held_seconds: Mapped[int] = mapped_column(Integer)
    profit: Mapped[Decimal] = mapped_column(Amount)
    fee: Mapped[Decimal] = mapped_column(Amount, default=Decimal(0))  # commission charged
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)


class IbPayoutBatch(Base):
    """A batch of approved commissions paid together; finance works it as one task."""

    __tablename__ = "ib_payout_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal] = mapped_column(Amount)
    status: Mapped[str] = mapped_column(String(16))  # open, paid
    task_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(320))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    paid_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)


class IbCommission(Base):
    """One commission record; its amount never changes, corrections are new records."""

    __tablename__ = "ib_commissions"
    __table_args__ = (Index("ix_ib_commissions_ib_status", "ib_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)  # what it pays for, once
    ib_id: Mapped[str] = mapped_column(String(100))
    client_ref: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    type: Mapped[str] = mapped_column(String(16))
    level: Mapped[int] = mapped_column(Integer, default=0)  # 0: the introducing IB
    amount: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default=PENDING_REVIEW)
    profile: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("ib_commissions.id"), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    explanation: Mapped[dict] = mapped_column(JsonType)
    earned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(320))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("ib_payout_batches.id"), nullable=True)


class IbCommissionChange(Base):
    """One status change of a commission: who, when, why."""

    __tablename__ = "ib_commission_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    commission_id: Mapped[int] = mapped_column(ForeignKey("ib_commissions.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(320))
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
