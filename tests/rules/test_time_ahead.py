"""`within_next D`: a date in the data from now to D ahead (both ends included)."""

from __future__ import annotations

import pytest

from engine.rules.matcher import RuleMatcher
from tests.rules.conftest import compile_text

NOW = 1_800_000_000  # the moment of evaluation (the event's occurred_at), epoch seconds
DAY = 86400


def _matched(expires_at: int | None) -> list[list[str]]:
    rs = compile_text("""
        ruleset: t
        description: d
        rules:
          - id: expiring
            description: A document that expires within the next 30 days.
            when: kyc.document_submitted
            if: ["event.expires_at within_next 30d"]
            then: [{task: {queue: finance, title: t}}]
        """)
    data = {"document_id": "d1", "document_type": "passport"}
    if expires_at is not None:
        from datetime import datetime, timezone

        data["expires_at"] = datetime.fromtimestamp(expires_at, timezone.utc).isoformat()
    found = []
    for engine in ("durable", "python"):
        matcher = RuleMatcher(rs, engine=engine)
        values = matcher.read({"type": "kyc.document_submitted", "data": data}, {}, NOW)
        found.append([r.id for r in matcher.match("kyc.document_submitted", values)])
    return found


@pytest.mark.parametrize(
    "expires_at, expected",
    [
        (NOW, ["expiring"]),  # expires now: included
        (NOW + 30 * DAY, ["expiring"]),  # exactly 30 days ahead: included
        (NOW + 30 * DAY + 1, []),  # a second later: not yet
        (NOW - 1, []),  # already expired: `older_than` / `within` say that
        (None, []),  # no date: false
    ],
)
def test_within_next_includes_both_ends(expires_at, expected):
    assert _matched(expires_at) == [expected, expected]
