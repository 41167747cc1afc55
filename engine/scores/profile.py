"""The scores section of the client profile: each score's total and every contribution."""

from __future__ import annotations

from engine.clients.service import section
from engine.scores import service
from engine.values import iso


@section("scores")
def scores(session, client) -> dict:
    """{name: {total, contributions: [{rule_id, points, reason, at}]}}, names in first-added order."""
    out: dict[str, dict] = {}
    for c in service.contributions(session, client.ref):
        entry = out.setdefault(c.name, {"total": 0, "contributions": []})
        entry["total"] += c.points
        entry["contributions"].append({"rule_id": c.rule_id, "points": c.points, "reason": c.reason, "at": iso(c.at)})
    return out
