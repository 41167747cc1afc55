"""Attribution: referral codes, later attribution, conflicts (first/last touch), history, disputes."""

from __future__ import annotations

import json

from sqlalchemy import select

from engine.db import unit_of_work
from engine.events.models import Event
from tests.helpers import event
from tests.ib.builders import at, client, deposit, ib, trade

TREE = ib("P-A", "IB-A", "CODE-A") + ib("P-B", "IB-B", "CODE-B")


def claim(ref: str, ib_id: str, day: float, reason: str = "signed a partner form") -> dict:
    return event("ib.referral_attributed", ref, at(day), ib_id=ib_id, reason=reason)


def profile(runner, ref: str) -> dict:
    result = runner.invoke(["clients", "show", ref, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_first_touch_keeps_the_client_and_shows_the_dispute(feed, runner):
    feed(TREE)
    feed(client("C1", "CODE-A") + [claim("C1", "IB-B", 2)])
    ib_section = profile(runner, "C1")["ib"]
    assert ib_section["ib_id"] == "IB-A"
    assert [(h["outcome"], h["ib_id"], h["source"]) for h in ib_section["history"]] == [
        ("attributed", "IB-A", "referral_code"),
        ("disputed", "IB-B", "event"),
    ]
    assert ib_section["disputes"][0]["reason"] == (
        "signed a partner form; already attributed to IB-A (first touch keeps it)"
    )


def test_last_touch_moves_the_client_and_later_earnings(feed, runner, earned, ib_rules):
    ib_rules("attribution.yaml", "conflicts: first_touch", "conflicts: last_touch")
    feed(TREE)
    feed(
        client("C1", "CODE-A") + [trade("C1", "1", 1, held=600), claim("C1", "IB-B", 2), trade("C1", "1", 3, held=600)]
    )
    history = profile(runner, "C1")["ib"]["history"]
    assert [(h["outcome"], h["previous_ib_id"], h["ib_id"]) for h in history] == [
        ("attributed", None, "IB-A"),
        ("reassigned", "IB-A", "IB-B"),
    ]
    assert [row[0] for row in earned(type="lot_rebate")] == ["IB-A", "IB-B"]


def test_attribution_after_activity_counts_the_earlier_deposits_and_trades(feed, earned):
    feed(TREE)
    feed(
        client("C1")
        + [
            deposit("C1", "300.00", 1),
            trade("C1", "2", 2, held=600),
            claim("C1", "IB-A", 5, reason="affiliate postback"),
        ]
    )
    # The CPA counts the earlier activity; trades closed before the IB had the client earn nothing.
    assert earned() == [("IB-A", "C1", "cpa", "200.00", "pending_review")]


def test_a_code_used_before_its_ib_registered_is_resolved_later(feed, earned, runner):
    feed(client("C1", "LATE-CODE") + [deposit("C1", "300.00", 1), trade("C1", "2", 2, held=600)])
    assert profile(runner, "C1")["ib"]["pending_referral_code"] == "LATE-CODE"
    feed(ib("P-L", "IB-L", "LATE-CODE", day=3))
    assert profile(runner, "C1")["ib"]["ib_id"] == "IB-L"
    assert [row[2] for row in earned()] == ["lot_rebate", "cpa"]


def test_refused_claims_are_recorded_not_applied(feed, runner, database):
    feed(TREE)
    feed(client("C1") + [claim("C1", "IB-NOPE", 1)] + [claim("P-A", "IB-A", 1)])
    assert last_error(database, "C1") == "IbError: no IB 'IB-NOPE'"
    assert profile(runner, "C1")["ib"] is None
    own = profile(runner, "P-A")["ib"]
    assert own["ib_id"] is None
    assert own["history"][0]["reason"] == "signed a partner form; an IB cannot refer itself"
    assert own["own"]["referral_link"] == "https://www.example-broker.com/open-account?ref=CODE-A"


def test_manual_reassignment_needs_a_reason_and_records_who(feed, runner):
    feed(TREE)
    feed(client("C1", "CODE-A"))
    missing = runner.invoke(["ib", "attribute", "C1", "IB-B"])
    assert missing.exit_code == 2 and "--reason" in missing.output
    done = runner.invoke(["ib", "attribute", "C1", "IB-B", "--reason", "IB-A agreed", "--by", "ops@x.com"])
    assert done.output.strip() == "reassigned: C1 -> IB-B"
    last = profile(runner, "C1")["ib"]["history"][-1]
    assert (last["actor"], last["reason"], last["source"]) == ("ops@x.com", "IB-A agreed", "manual")
    assert runner.invoke(["ib", "attribute", "C1", "IB-ZZ", "--reason", "x"]).exit_code == 1


def last_error(database, ref: str) -> str | None:
    with unit_of_work(database) as s:
        return s.scalar(select(Event.last_error).where(Event.client_ref == ref, Event.last_error.is_not(None)))


def test_a_taken_referral_code_is_refused(feed, database):
    feed(TREE)
    feed([event("ib.registered", "P-X", at(1), ib_id="IB-X", referral_code="CODE-A")])
    assert last_error(database, "P-X") == "IbError: referral code 'CODE-A' already belongs to IB IB-A"


def test_an_ib_cannot_sit_below_its_own_sub_ib(feed, database):
    feed(ib("P-C", "IB-C", "CODE-C", "IB-D"))  # IB-D is not registered yet
    feed([event("ib.registered", "P-D", at(1), ib_id="IB-D", referral_code="CODE-D", parent_ib="IB-C")])
    assert last_error(database, "P-D") == "IbError: IB IB-D cannot be below itself (parent IB-C)"
