"""Rules in the database: stored ruleset versions, activations, durable timers, action log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.types import BigId, JsonType, UTCDateTime

TIMER_PENDING, TIMER_FIRED, TIMER_CANCELLED = "pending", "fired", "cancelled"
DELAY, NAMED = "delay", "named"  # a rule's `after:` delay, or a `start_timer` action
# An absence rule's silence (restarted by each of its events); a scheduled rule's run of
# one day (a marker: fired when every client was looked at).
ABSENCE, SCHEDULE = "absence", "schedule"


class RulesetVersion(Base):
    """A validated ruleset: its files as they were, so any worker can rebuild it."""

    __tablename__ = "rule_versions"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    files: Mapped[dict] = mapped_column(JsonType)  # {relative path: text}
    source: Mapped[str | None] = mapped_column(Text, nullable=True)  # directory it came from
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(320))


class RulesetActivation(Base):
    """One activation; the newest row names the active version (history and rollback)."""

    __tablename__ = "rule_activations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64), index=True)
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    activated_by: Mapped[str] = mapped_column(String(320))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    # What the activation did to each pending timer (engine.rules.settlement): kept,
    # rescheduled or cancelled, with rule and client; None before it was recorded.
    timers: Mapped[list | None] = mapped_column(JsonType, nullable=True)


class RuleTimer(Base):
    """A durable timer: fires once when due, unless cancelled first."""

    __tablename__ = "rule_timers"
    __table_args__ = (
        UniqueConstraint("key", name="uq_rule_timers_key"),
        Index("ix_rule_timers_status_due", "status", "due_at"),
        Index("ix_rule_timers_client_status", "client_ref", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(300))  # what makes it unique (idempotent starts)
    kind: Mapped[str] = mapped_column(String(8))  # delay | named | absence | schedule
    client_ref: Mapped[str] = mapped_column(String(100))
    rule_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    ruleset_version: Mapped[str] = mapped_column(String(64))
    event_seq: Mapped[int | None] = mapped_column(BigId, nullable=True)  # the triggering event
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12), default=TIMER_PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[str | None] = mapped_column(Text, nullable=True)  # why it fired or was cancelled
    # The clock of the timer run (`fire_due`) that fired or cancelled it when due: backtests
    # run the sandbox's timers at the same moments.
    run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    explanation: Mapped[dict | None] = mapped_column(JsonType, nullable=True)


class RuleAction(Base):
    """Every action a rule took, with its explanation (backtests compare these)."""

    __tablename__ = "rule_actions"
    __table_args__ = (
        UniqueConstraint("key", name="uq_rule_actions_key"),
        Index("ix_rule_actions_client", "client_ref", "id"),
        Index("ix_rule_actions_rule", "rule_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(300))  # rule, trigger and action index: run once
    client_ref: Mapped[str] = mapped_column(String(100))
    rule_id: Mapped[str] = mapped_column(String(100))
    ruleset_version: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict] = mapped_column(JsonType)
    event_seq: Mapped[int | None] = mapped_column(BigId, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)  # e.g. "task 12 created"
    explanation: Mapped[dict] = mapped_column(JsonType)
