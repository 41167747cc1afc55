"""Client portal logins and their one-time tokens (e-mail confirmation, password reset)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.types import BigId, UTCDateTime

PURPOSES = ("verify", "reset")


class ClientLogin(Base):
    """A client's sign-in to the portal: one per client, by a confirmed e-mail address."""

    __tablename__ = "client_logins"
    __table_args__ = (
        UniqueConstraint("client_ref", name="uq_client_logins_client"),
        UniqueConstraint("email", name="uq_client_logins_email"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_ref: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(320))  # lower case
    password_hash: Mapped[str] = mapped_column(String(300))
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Raised by a password reset: every session signed in before it ends.
    session_generation: Mapped[int] = mapped_column(Integer, default=1)


class PortalToken(Base):
    """A one-time link sent by e-mail; only its SHA-256 is kept."""

    __tablename__ = "portal_tokens"
    __table_args__ = (
        UniqueConstraint("token_hash", name="uq_portal_tokens_hash"),
        Index("ix_portal_tokens_login", "login_id", "purpose"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    login_id: Mapped[int] = mapped_column(BigId, ForeignKey("client_logins.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
