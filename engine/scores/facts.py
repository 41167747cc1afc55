"""Client facts of the scores domain."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from engine.facts import fact

if TYPE_CHECKING:
    from engine.clients.models import Client


@fact("score", "integer", params={"name": "string"}, names={"name": "score"})
def score(session: Session, client: Client, name: str | None = None) -> int | None:
    """The client's named score (`client.score(name=aml_risk)`): the sum of the points rules added; 0 with none."""
    from engine.scores import service

    return service.total(session, client.ref, name) if name else None
