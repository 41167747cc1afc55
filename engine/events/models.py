"""The event store table: every event is stored before it is processed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.types import BigId, JsonType, UTCDateTime

PENDING, PROCESSED, PARKED = "pending", "processed", "parked"


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source", "event_id", name="uq_events_source_id"),
        Index("ix_events_client_time", "client_ref", "occurred_at"),
        # Rule aggregates (`count(type within D)`): one client, one type, one window.
        Index("ix_events_client_type_time", "client_ref", "type", "occurred_at"),
        Index("ix_events_status_client", "status", "client_ref"),
        Index("ix_events_type_time", "type", "occurred_at"),
        # The pending events of subjects other than clients (engine.processing.subjects):
        # a partial index, so the clients' events (nearly all) add nothing to it.
        Index(
            "ix_events_subject_pending",
            "subject",
            "client_ref",
            postgresql_where=text("subject <> 'client' AND status = 'pending'"),
            sqlite_where=text("subject <> 'client' AND status = 'pending'"),
        ),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(64))
    # The subject's ref: a client's, or `<kind>:<id>` for another kind (engine.subjects).
    client_ref: Mapped[str] = mapped_column(String(100))
    # What the event is about: "client", or the kind of another subject ("staff").
    subject: Mapped[str] = mapped_column(String(16), default="client", server_default="client")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict] = mapped_column(JsonType)
    via: Mapped[str] = mapped_column(String(20), default="api")
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # After a failure the event waits until then before it is tried again (back-off).
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ruleset_version: Mapped[str | None] = mapped_column(String(64), nullable=True)

    def envelope(self) -> dict:
        """Return the canonical envelope of this event."""
        from engine.values import iso

        return {
            "id": self.event_id,
            "type": self.type,
            "source": self.source,
            "occurred_at": iso(self.occurred_at),
            "client": self.client_ref,
            "data": self.data,
        }


class EventConflict(Base):
    """An event id delivered again with different content.

    Same (source, id) and same content is an idempotent duplicate; different content is
    kept here (the stored event is never overwritten) so operations can see, count and
    resolve it: one row per distinct content, `times` counting its deliveries."""

    __tablename__ = "event_conflicts"
    __table_args__ = (UniqueConstraint("source", "event_id", "digest", name="uq_event_conflicts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(200))
    digest: Mapped[str] = mapped_column(String(64))  # sha256 of the refused envelope
    event_seq: Mapped[int] = mapped_column(BigId, index=True)  # the event stored first
    envelope: Mapped[dict] = mapped_column(JsonType)
    differs: Mapped[list] = mapped_column(JsonType)  # the fields that differ
    via: Mapped[str] = mapped_column(String(20))
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    times: Mapped[int] = mapped_column(Integer, default=1)
