"""Errors every layer shares.

`Conflict` marks a refusal because someone else changed the same thing first (a task
claimed, a withdrawal step or a commission decided meanwhile). Each domain's conflict
error also derives from it, so the web answers 409 without naming a domain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

R = TypeVar("R")  # a mapped row class with an `id` column


class Conflict(Exception):
    """The state changed under the caller: someone else decided first (HTTP 409)."""


def lock_and_reread(session: Session, model: type[R], row: R) -> R | None:
    """Lock `row` (SELECT ... FOR UPDATE) and re-read it from the database.

    `populate_existing` matters: without it the session hands back the copy it loaded
    before the lock, and two people racing on one row would both decide on a stale copy.
    Pending changes are flushed first, so nothing the caller did is lost. On SQLite the
    write lock of the first writer serialises the two instead. None when the row was
    deleted meanwhile.
    """
    from sqlalchemy import select

    if row.id is None:
        return row
    session.flush()
    return session.scalar(
        select(model).where(model.id == row.id).with_for_update().execution_options(populate_existing=True)
    )
