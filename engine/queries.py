"""Reads every domain makes of its own tables the same way (the module names no domain)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

Row = TypeVar("Row")  # a mapped row class with `id` and `client_ref` columns


def newest_first(session: Session, model: type[Row], client_ref: str, at: Any, limit: int) -> list[Row]:
    """Return the client's rows of `model`, newest by column `at` first (then by id), at most `limit`."""
    table: Any = model  # typed as the row class it returns; its columns are read here
    return list(
        session.scalars(
            select(table).where(table.client_ref == client_ref).order_by(at.desc(), table.id.desc()).limit(limit)
        )
    )
