"""Tasks and their history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db import Base
from engine.types import BigId, JsonType, UTCDateTime

STATUSES = ("open", "in_progress", "waiting", "done", "dismissed")
OPEN_STATUSES = ("open", "in_progress", "waiting")
PRIORITIES = {"low": 10, "normal": 20, "high": 30, "urgent": 40}
_OPEN_SQL = "status IN ('open', 'in_progress', 'waiting')"


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_queue_status_due", "queue", "status", "due_at", "id"),
        Index("ix_tasks_client", "client_ref", "status"),
        Index("ix_tasks_assignee_status", "assignee", "status"),
        Index("ix_tasks_rule", "rule_id", "status"),
        # The inbox works on open tasks, a small share of all: partial indexes keep
        # its lists and counts fast however many closed tasks pile up.
        Index("ix_tasks_open_queue_id", "queue", "id", postgresql_where=text(_OPEN_SQL), sqlite_where=text(_OPEN_SQL)),
        Index(
            "ix_tasks_open_queue_due",
            "queue",
            "due_at",
            "id",
            postgresql_where=text(_OPEN_SQL),
            sqlite_where=text(_OPEN_SQL),
        ),
        Index(
            "ix_tasks_open_queue_prio",
            "queue",
            "priority_rank",
            "id",
            postgresql_where=text(_OPEN_SQL),
            sqlite_where=text(_OPEN_SQL),
        ),
        Index("ix_tasks_open_id", "id", postgresql_where=text(_OPEN_SQL), sqlite_where=text(_OPEN_SQL)),
        Index("ix_tasks_open_due", "due_at", "id", postgresql_where=text(_OPEN_SQL), sqlite_where=text(_OPEN_SQL)),
        Index(
            "ix_tasks_open_prio", "priority_rank", "id", postgresql_where=text(_OPEN_SQL), sqlite_where=text(_OPEN_SQL)
        ),
        Index(
            "ix_tasks_open_queue_assignee",
            "queue",
            "assignee",
            "id",
            postgresql_where=text(_OPEN_SQL),
            sqlite_where=text(_OPEN_SQL),
        ),
        Index(
            "ix_tasks_open_assignee", "assignee", "id", postgresql_where=text(_OPEN_SQL), sqlite_where=text(_OPEN_SQL)
        ),
        # Closed-task history per queue and everything of one rule, newest first.
        Index("ix_tasks_queue_status_id", "queue", "status", "id"),
        Index("ix_tasks_rule_id", "rule_id", "id"),
        # The tasks of one withdrawal, payout batch or delivery (the web's task actions).
        Index("ix_tasks_subject", "subject_kind", "subject_id"),
        Index(
            "ix_tasks_open_lease",
            "lease_expires_at",
            postgresql_where=text("lease_expires_at IS NOT NULL"),
            sqlite_where=text("lease_expires_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    queue: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="open")
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    priority_rank: Mapped[int] = mapped_column(Integer, default=20)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    client_ref: Mapped[str | None] = mapped_column(String(100), nullable=True)
    rule_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    ruleset_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    assignee: Mapped[str | None] = mapped_column(String(320), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    waiting_for: Mapped[str | None] = mapped_column(String(200), nullable=True)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    # Set while the task is open: at most one open task per (rule, scope) key.
    open_key: Mapped[str | None] = mapped_column(String(300), nullable=True, unique=True)
    # The rule and trigger that made it: the same trigger never makes a second task.
    trigger_key: Mapped[str | None] = mapped_column(String(300), nullable=True, unique=True)
    explanation: Mapped[dict | None] = mapped_column(JsonType, nullable=True)
    data: Mapped[dict | None] = mapped_column(JsonType, nullable=True)
    # What the task is about, set by the domain that opens it (engine.tasks.subjects):
    # the web offers that domain's actions without reading the task's JSON.
    subject_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    subject_id: Mapped[str | None] = mapped_column(String(200), nullable=True)

    history: Mapped[list["TaskEvent"]] = relationship(
        back_populates="task", order_by="TaskEvent.id", cascade="all, delete-orphan"
    )
    comments: Mapped[list["TaskComment"]] = relationship(order_by="TaskComment.id", cascade="all, delete-orphan")

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class TaskEvent(Base):
    """One entry in a task's history: created, claimed, commented, resolved..."""

    __tablename__ = "task_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    data: Mapped[dict | None] = mapped_column(JsonType, nullable=True)

    task: Mapped[Task] = relationship(back_populates="history")


class TaskComment(Base):
    """A note a staff member left on a task."""

    __tablename__ = "task_comments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    author: Mapped[str] = mapped_column(String(320))
    body: Mapped[str] = mapped_column(Text)


class SavedView(Base):
    """A named set of inbox filters a user keeps (optionally shared with everyone)."""

    __tablename__ = "task_saved_views"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_task_views_owner_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(100))
    filters: Mapped[dict] = mapped_column(JsonType)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskCount(Base):
    """How many open tasks a queue holds per assignee ('' = unassigned).

    Kept by engine.tasks.counters in the transaction of every task change, so the
    inbox's counts add up a few rows instead of counting tasks.
    """

    __tablename__ = "task_counts"
    __table_args__ = (Index("ix_task_counts_assignee", "assignee", "queue", "n"),)

    queue: Mapped[str] = mapped_column(String(32), primary_key=True)
    assignee: Mapped[str] = mapped_column(String(320), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class TaskDueCount(Base):
    """How many open tasks of a queue fall due in one hour (hours since 1970-01-01 UTC)."""

    __tablename__ = "task_due_counts"

    queue: Mapped[str] = mapped_column(String(32), primary_key=True)
    due_hour: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(BigInteger)


# Every session keeps the counters right (the module registers its session hooks).
from engine.tasks import counters as _counters  # noqa: E402,F401
