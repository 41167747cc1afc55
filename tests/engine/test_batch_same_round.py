"""The rules' set-based form decides on what the round's projections have just changed.

Each event's projections are applied in memory first; then the rules' form decides, with
clients columns read from the clients as they now are and the KYC facts read from the KYC
form's group state (engine.facts.STATE_FACTS). Where the rules' form cannot decide, the
event's projections stay applied and only its evaluators take the per-event path
(engine.projections.apply_evaluators). With the shipped rules, documents, registrations
and KYC results therefore go set-based where they all went per event before (the
reminders' `unless` reads the documents the round changes; the risk rules set the risk;
the decisions set the status), and both paths still leave the same tables.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.engine.test_batch_equivalence import (  # noqa: F401  (fixtures)
    _assert_same,
    _one_transaction_per_group,
    compare,
    counting_batched,
    urls,
)
from tests.engine.test_batch_onboarding import STREAMS, small_groups  # noqa: F401  (fixture)


@pytest.fixture
def evaluated_per_event(monkeypatch) -> list[str]:
    """Count the events whose projections a round applied and whose evaluators went per event."""
    from engine.processing import batch

    seen: list[str] = []
    original = batch.apply_evaluators

    def counting(session, event, client, start=0):
        seen.append(event.type)
        return original(session, event, client, start)

    monkeypatch.setattr(batch, "apply_evaluators", counting)
    return seen


def _sent(events: list[dict], kind: str, keep=lambda e: True) -> int:
    return sum(1 for e in events if e["type"] == kind and keep(e))


@pytest.mark.parametrize("stream", ["demo", "demo-shuffled"])
def test_with_the_shipped_rules_onboarding_events_go_set_based(urls, backend, stream, small_groups):
    events = STREAMS[stream]()
    with counting_batched() as taken:
        per_event, batched = compare(urls, backend, events, per_client=False)
    took = Counter(taken)
    # documents: the reminders' `unless` and the review task read the documents facts
    assert took["kyc.document_submitted"] > 0.8 * _sent(events, "kyc.document_submitted"), took
    # registrations without a referral code: the risk rules read the country's risk and set the risk
    plain = _sent(events, "client.registered", lambda e: not (e.get("data") or {}).get("referral_code"))
    assert took["client.registered"] > 0.6 * plain, took
    # KYC results: the decisions set the status (the IB's referred clients go per event)
    assert took["kyc.review_completed"] > 0.3 * _sent(events, "kyc.review_completed"), took
    _assert_same(per_event, batched)


def test_an_event_the_rules_refuse_keeps_its_projections_from_the_round(
    urls, backend, small_groups, evaluated_per_event
):
    """A KYC retry's rules (an episode task the form does not take) go per event after the
    round applied its KYC projections: its documents and requests are recorded once."""
    events = STREAMS["demo"]()
    per_event, batched = compare(urls, backend, events, per_client=False)
    assert evaluated_per_event, "no event had its evaluators alone go per event"
    _assert_same(per_event, batched)
