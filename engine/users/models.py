"""Staff accounts and API tokens (secrets are stored hashed only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db import Base
from engine.types import UTCDateTime

ROLES = ("admin", "compliance", "finance", "support", "sales", "ib_ops", "partner")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(300), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # For role `partner`: the IB whose tree this user may see.
    ib_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Stored in the session cookie at login; bumping it refuses every older cookie at once.
    session_generation: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # IANA zone name (`Europe/Berlin`) the user reads times in; NULL means UTC.
    time_zone: Mapped[str | None] = mapped_column(String(64), nullable=True)

    tokens: Mapped[list["ApiToken"]] = relationship(back_populates="user")

    # A staff member is a rule subject of its own (engine.subjects; engine.users.events).
    subject_kind = "staff"

    @property
    def ref(self) -> str:
        """The ref the staff member's events are stored with."""
        return f"staff:{self.id}"


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship(back_populates="tokens")


class UserTotp(Base):
    """A user's TOTP second factor: the shared secret and the last time step accepted."""

    __tablename__ = "user_totp"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    # Base32 secret; needed in clear to compute codes, so it is never logged or shown again.
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The last accepted step (30 s windows since the epoch): a code is good once.
    last_step: Mapped[int] = mapped_column(Integer, default=0)
