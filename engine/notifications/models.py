"""Notification records: what was sent (or only recorded) to a client, and how it went."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.types import BigId, JsonType, UTCDateTime

# queued: waiting for the sender; sent: handed to the SMTP server; recorded: no sender is
# configured for the channel, so it is only recorded; failed: the sender gave up (see error).
STATUSES = ("queued", "sent", "recorded", "failed")


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_client", "client_ref", "id"),
        Index("ix_notifications_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_ref: Mapped[str] = mapped_column(String(100))
    template: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str | None] = mapped_column(String(320), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(300), nullable=True)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When a sender took it for delivery: two processes never send the same one at once.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rule_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # The same key never sends twice (a replayed event, a re-fired timer).
    dedup_key: Mapped[str | None] = mapped_column(String(300), nullable=True, unique=True)
    explanation: Mapped[dict | None] = mapped_column(JsonType, nullable=True)
