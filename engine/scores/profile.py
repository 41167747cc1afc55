"""The scores section of the client profile: each score's total and every contribution."""

from __future__ import annotations

from typing import TypedDict

from sqlalchemy.orm import Session

from engine.clients.models import Client
from engine.clients.service import section
from engine.scores import service
from engine.values import iso


class Contribution(TypedDict):
    rule_id: str | None
    points: int
    reason: str
    at: str


class ScoreEntry(TypedDict):
    total: int
    contributions: list[Contribution]


@section("scores")
def scores(session: Session, client: Client) -> dict[str, ScoreEntry]:
    """{name: {total, contributions: [{rule_id, points, reason, at}]}}, names in first-added order."""
    out: dict[str, ScoreEntry] = {}
    for c in service.contributions(session, client.ref):
        entry = out.setdefault(c.name, {"total": 0, "contributions": []})
        entry["total"] += c.points
        entry["contributions"].append({"rule_id": c.rule_id, "points": c.points, "reason": c.reason, "at": iso(c.at)})
    return out
