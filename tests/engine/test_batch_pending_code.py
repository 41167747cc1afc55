"""A client waiting for its IB's referral code (`pending_code`) and the IB registering that
code in the same group (issue 20, step 9): the per-event path runs the group client after
client, so the IB's `ib.registered` attributes the client after all of the client's events
when the client comes first, and before all of them when the IB comes first. The set-based
path must keep that order across clients, though it runs every client's events in rounds.
"""

from __future__ import annotations

from datetime import timedelta

from tests.engine.test_batch_equivalence import START, _assert_same, urls  # noqa: F401  (fixtures)
from tests.engine.test_batch_referred import _client, _compare, _event, _registered


def _ib(ref: str, ib_id: str, at) -> list[dict]:
    data = {"ib_id": ib_id, "referral_code": f"CODE-{ib_id}", "parent_ib": "IB-MASTER"}
    return [_registered(ref, at), _event(ref, 1, "ib.registered", at + timedelta(minutes=30), data)]


def test_a_client_before_the_ib_registering_its_code_the_same_tables(urls, backend):
    """A-REF sorts before Z-IB: per event its trades are recorded unreferred and caught up
    when Z-IB registers; set-based they must be too (its deposit, refused while the code is
    pending, used to send its trades to a round after Z-IB's registration)."""
    at = START + timedelta(hours=1)
    events = [*_client("A-REF", "IB-Z", at), *_ib("Z-IB", "IB-Z", at + timedelta(minutes=5))]
    per_event, batched, taken = _compare(urls, backend, events)
    assert any(ib == "IB-Z" for ib, *_ in _ib_rows(per_event)), per_event["ib_commissions"]
    _assert_same(per_event, batched)


def test_a_client_after_the_ib_registering_its_code_the_same_tables(urls, backend):
    """A-IB sorts before Z-REF: per event A-IB is registered when Z-REF registers with its
    code, so Z-REF is attributed at once and its trades earn the rebate as they come; set-based
    too (Z-REF's trades, no deposit to refuse among them, used to go in the first round,
    before A-IB's `ib.registered` in the second, and were caught up)."""
    at = START + timedelta(hours=1)
    client = [e for e in _client("Z-REF", "IB-A", at) if e["type"] != "payment.deposit_completed"]
    events = [*_ib("A-IB", "IB-A", at + timedelta(minutes=5)), *client]
    per_event, batched, taken = _compare(urls, backend, events)
    assert any(ib == "IB-A" for ib, *_ in _ib_rows(per_event)), per_event["ib_commissions"]
    _assert_same(per_event, batched)


def _ib_rows(tables: dict) -> list[tuple]:
    import json

    return [(json.loads(r[1]), *r[2:]) for r in tables["ib_commissions"]]
