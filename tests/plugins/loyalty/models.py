"""Loyalty points earned per deposit, and badges rules award."""

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base


class LoyaltyPoints(Base):
    __tablename__ = "loyalty_points"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_ref: Mapped[str] = mapped_column(String(64), index=True)
    points: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # "deposit" or "badge:<name>"
