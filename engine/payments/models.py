"""Payments state: the double-entry ledger, deposits, withdrawals and transfers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db import Base
from engine.types import Amount, BigId, JsonType, UTCDateTime

DEPOSIT_STATUSES = ("requested", "failed", "completed", "refunded", "charged_back")
WITHDRAWAL_STATUSES = ("pending", "paid", "rejected", "failed", "refused")
WAITING_FOR = ("compliance", "finance", "payment_provider", "client_documents")
TRANSFER_STATUSES = ("completed", "failed", "refused")


class Posting(Base):
    """One balanced set of ledger entries, applied once per key."""

    __tablename__ = "ledger_postings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # What the posting is for, e.g. `deposit:stripe:p-1:credit`: a replay posts nothing twice.
    key: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    client_ref: Mapped[str] = mapped_column(String(100), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    memo: Mapped[str | None] = mapped_column(Text, nullable=True)
    event_seq: Mapped[int | None] = mapped_column(BigId, nullable=True)

    entries: Mapped[list["LedgerEntry"]] = relationship(back_populates="posting", order_by="LedgerEntry.id")


class LedgerEntry(Base):
    """One leg of a posting: a signed amount on one ledger account."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_account", "account", "currency"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    posting_id: Mapped[int] = mapped_column(ForeignKey("ledger_postings.id"), index=True)
    account: Mapped[str] = mapped_column(String(200))
    client_ref: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(Amount)

    posting: Mapped[Posting] = relationship(back_populates="entries")


class Deposit(Base):
    __tablename__ = "deposits"
    __table_args__ = (
        UniqueConstraint("provider", "payment_id", name="uq_deposits_payment"),
        Index("ix_deposits_client", "client_ref", "status"),
        Index("ix_deposits_reference", "reference"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_ref: Mapped[str] = mapped_column(String(100))
    provider: Mapped[str] = mapped_column(String(64))
    payment_id: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    account_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # Made on the trading platform (an MT5 balance deal): the money is on `account_id`,
    # so the ledger credits that account, not the wallet (counted once).
    on_platform: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    refund_amount: Mapped[Decimal | None] = mapped_column(Amount, nullable=True)
    charged_back_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    chargeback_amount: Mapped[Decimal | None] = mapped_column(Amount, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Withdrawal(Base):
    __tablename__ = "withdrawals"
    __table_args__ = (
        Index("ix_withdrawals_client", "client_ref", "status"),
        Index("ix_withdrawals_waiting", "status", "waiting_for"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    withdrawal_id: Mapped[str] = mapped_column(String(200), unique=True)
    client_ref: Mapped[str] = mapped_column(String(100))
    amount: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str | None] = mapped_column(String(64), nullable=True)
    account_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    # The chain step the withdrawal stands at, and who that step waits for.
    step: Mapped[str | None] = mapped_column(String(64), nullable=True)
    waiting_for: Mapped[str | None] = mapped_column(String(20), nullable=True)
    chain: Mapped[list] = mapped_column(JsonType)  # the step ids that apply, in order
    requested_by: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    decisions: Mapped[list["WithdrawalDecision"]] = relationship(
        back_populates="withdrawal", order_by="WithdrawalDecision.id"
    )


class WithdrawalDecision(Base):
    """One step of the approval chain passed or refused, by whom and why."""

    __tablename__ = "withdrawal_decisions"
    __table_args__ = (UniqueConstraint("event", name="uq_withdrawal_decisions_event"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    withdrawal_pk: Mapped[int] = mapped_column(ForeignKey("withdrawals.id"), index=True)
    step: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))  # approved, rejected, skipped, done
    actor: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The event (source/id) that made the decision, so a replay decides nothing twice.
    event: Mapped[str | None] = mapped_column(String(300), nullable=True)

    withdrawal: Mapped[Withdrawal] = relationship(back_populates="decisions")


class Transfer(Base):
    __tablename__ = "transfers"
    __table_args__ = (Index("ix_transfers_client", "client_ref", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    transfer_id: Mapped[str] = mapped_column(String(200), unique=True)
    client_ref: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(100))  # `wallet` or a trading account id
    destination: Mapped[str] = mapped_column(String(100))
    amount: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
