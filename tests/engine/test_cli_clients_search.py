"""`fxcrm clients search`: the same search as the /clients page."""

from __future__ import annotations

import json

from engine.clients.models import Client
from engine.db import unit_of_work
from engine.values import utcnow


def _seed(database):
    with unit_of_work(database) as s:
        for ref, mail, first, country in (
            ("C-A", "Anna@Example.com", "Anna", "DE"),
            ("C-B", "bob@mail.test", "Bob", "GB"),
        ):
            s.add(
                Client(
                    ref=ref,
                    email=mail,
                    first_name=first,
                    country=country,
                    created_at=utcnow(),
                    status="pending",
                    kyc_status="not_started",
                    funnel_stage="registered",
                    auto_funding=False,
                )
            )


def test_search_json_and_text(runner, database):
    _seed(database)
    result = runner.invoke(["clients", "search", "ANNA@ex", "--json"])
    assert result.exit_code == 0, result.output
    assert [c["ref"] for c in json.loads(result.output)["clients"]] == ["C-A"]
    text = runner.invoke(["clients", "search", "--country", "gb"])
    assert text.exit_code == 0 and "C-B  Bob  bob@mail.test" in text.output and "C-A" not in text.output
    none = runner.invoke(["clients", "search", "zzz"])
    assert none.exit_code == 0 and "no client matches 'zzz'" in none.output


def test_bad_filter_exits_1_with_the_reason(runner, database):
    result = runner.invoke(["clients", "search", "--registered-from", "yesterday"])
    assert result.exit_code == 1
    assert "registered_from: 'yesterday' is not a date" in result.output
