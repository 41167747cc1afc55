"""KYC state: documents, provider results, overrides, document requests and status history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.types import BigId, JsonType, UTCDateTime

# Stored document states; `missing` is derived (a required type with no usable document)
# and `expired` is derived from `expires_at` when read.
DOCUMENT_STATES = ("submitted", "in_review", "approved", "rejected", "expired")
USABLE_STATES = ("submitted", "in_review", "approved")
# Provider results as recorded; `pending`, `on_hold` and `reset` come from their own event types.
RESULTS = ("pending", "approved", "rejected", "retry", "on_hold", "reset")


class KycDocument(Base):
    """One document a client submitted, with its review state."""

    __tablename__ = "kyc_documents"
    __table_args__ = (
        UniqueConstraint("client_ref", "document_id", name="uq_kyc_documents_doc"),
        Index("ix_kyc_documents_client", "client_ref", "document_type"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_ref: Mapped[str] = mapped_column(String(100))
    document_id: Mapped[str] = mapped_column(String(200))
    document_type: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # occurred_at of the last event that changed it: older events never move it back.
    state_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KycReview(Base):
    """One KYC provider (or reviewer) result, kept even when it arrived too late to apply."""

    __tablename__ = "kyc_reviews"
    __table_args__ = (Index("ix_kyc_reviews_client", "client_ref", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_ref: Mapped[str] = mapped_column(String(100))
    event_seq: Mapped[int | None] = mapped_column(BigId, nullable=True, unique=True)
    provider: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(16))
    labels: Mapped[list | None] = mapped_column(JsonType, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # False when a newer result had already been applied (out-of-order delivery).
    applied: Mapped[bool] = mapped_column(default=True)


class KycOverride(Base):
    """A reviewer overrode a provider result: who, what, and why."""

    __tablename__ = "kyc_overrides"
    __table_args__ = (Index("ix_kyc_overrides_client", "client_ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_ref: Mapped[str] = mapped_column(String(100))
    review_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    provider: Mapped[str | None] = mapped_column(String(64), nullable=True)
    from_result: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_result: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class DocumentRequest(Base):
    """Documents asked for again (a provider retry or a reviewer), open until one arrives."""

    __tablename__ = "kyc_document_requests"
    __table_args__ = (Index("ix_kyc_document_requests_client", "client_ref", "fulfilled_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_ref: Mapped[str] = mapped_column(String(100))
    document_type: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    requested_by: Mapped[str] = mapped_column(String(320))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StatusChange(Base):
    """One change of a client's lifecycle status: from, to, who or which rule, and why."""

    __tablename__ = "client_status_changes"
    __table_args__ = (Index("ix_client_status_changes_client", "client_ref", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_ref: Mapped[str] = mapped_column(String(100))
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(Text)
    rule_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
