"""An event id reused with different content is kept as a conflict (visible, countable),
never silently dropped as a duplicate and never applied."""

from __future__ import annotations

import json

from engine.db import unit_of_work
from engine.events import conflicts
from engine.processing.ingest import ingest_lines
from tests.helpers import deposit_failed, registered


def _lines(*events):
    return [json.dumps(e) for e in events]


def test_same_id_same_content_is_a_duplicate_other_content_a_conflict(database, runner):
    first = deposit_failed("C1", amount="50.00", id="ev-1")
    same = dict(first)
    changed = {**first, "data": {**first["data"], "amount": "5000.00"}}
    report = ingest_lines(database, _lines(registered("C1", id="ev-0"), first))
    assert (report.accepted, report.duplicate, report.conflict) == (2, 0, 0)
    report = ingest_lines(database, _lines(same, changed, changed))
    assert (report.accepted, report.duplicate, report.conflict) == (0, 1, 2)
    with unit_of_work(database) as s:
        assert conflicts.count(s) == 1
        (row,) = conflicts.list_conflicts(s)
    assert (row["id"], row["differs"], row["times"]) == ("ev-1", ["data"], 2)
    assert row["stored"]["data"]["amount"] == "50.00" and row["refused"]["data"]["amount"] == "5000.00"
    listed = runner.invoke(["events", "conflicts"])
    assert "test/ev-1: data differ; seen 2 time(s)" in listed.output


def test_the_api_says_conflict(client, tokens, database):
    first = deposit_failed("C1", amount="50.00", id="ev-9")
    client.post("/api/events", json=[registered("C1", id="ev-8"), first], headers=tokens["admin"])
    response = client.post("/api/events", json=[first, {**first, "client": "C2"}], headers=tokens["admin"])
    assert [r["status"] for r in response.get_json()["events"]] == ["duplicate", "conflict"]
