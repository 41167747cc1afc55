"""One row per contribution to a client's named score: who added how many points, and why."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.types import BigId, UTCDateTime


class ScoreContribution(Base):
    """Points a rule added to a client's score; `trigger_key` (the rule action's key:
    trigger, rule, action index) is unique, so a replayed trigger adds nothing."""

    __tablename__ = "client_score_contributions"
    __table_args__ = (Index("ix_client_scores_client_name", "client_ref", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_ref: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(64))
    points: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    rule_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    ruleset_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    trigger_key: Mapped[str] = mapped_column(String(300), unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
