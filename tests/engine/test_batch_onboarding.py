"""The set-based forms of the onboarding projections (clients, KYC, trading accounts) leave
exactly the tables their per-event handlers do.

Streams of the demo broker (registrations, documents, KYC results, accounts), with every
other KYC, profile and account event type added for some clients, also shuffled with
duplicate deliveries and with failing events, go through both paths (helpers of
tests/engine/test_batch_equivalence.py) and every table is compared.

Other domains also project some of these types (payments: `kyc.document_submitted`,
`kyc.review_completed`, `account.created`; IB: `client.registered`, `kyc.review_completed`)
and the shipped rules act on most of them; until those have set-based forms such events
take the per-event path. `onboarding_alone` measures these forms by themselves: only the
onboarding projections registered and a ruleset with no rules (the policies only), on
both paths alike. The shipped configuration is compared as well.
"""

from __future__ import annotations

import random
import shutil
from collections import Counter
from datetime import datetime, timedelta

import pytest

from engine import projections
from engine.values import UTC, iso
from tests.engine.test_batch_equivalence import (  # noqa: F401  (fixtures)
    _assert_same,
    _one_transaction_per_group,
    compare,
    counting_batched,
    demo_stream,
    run,
    shuffled_with_duplicates,
    urls,
)

OWNED = ("engine.clients.", "engine.kyc.", "engine.accounts.")
ONBOARDING = (
    "client.registered",
    "client.profile_updated",
    "kyc.document_submitted",
    "kyc.document_approved",
    "kyc.document_rejected",
    "kyc.review_pending",
    "kyc.on_hold",
    "kyc.review_completed",
    "kyc.reset",
    "account.created",
    "account.status_changed",
)


def _at(text: str, minutes: float) -> str:
    when = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    return iso(when + timedelta(minutes=minutes))


def with_every_onboarding_type(events: list[dict], seed: int = 4) -> list[dict]:
    """Add, around the demo's journeys, the onboarding types the demo does not send: a
    review started before its result, a reviewer's approval and rejection of one document,
    a document delivered after the review (late), a retry asking for documents again and
    the documents that answer it, a reset, profile changes and account status changes."""
    rng = random.Random(seed)
    out = list(events)
    by_client: dict[str, list[dict]] = {}
    for e in events:
        by_client.setdefault(e["client"], []).append(e)
    for n, (ref, journey) in enumerate(sorted(by_client.items())):
        extra = _extras(rng, n, ref, journey)
        out += [
            {"id": f"{ref}-x{i}", "source": "backoffice", "client": ref, "type": t, "occurred_at": at, "data": data}
            for i, (t, at, data) in enumerate(extra)
        ]
    return out


def _extras(rng: random.Random, n: int, ref: str, journey: list[dict]) -> list[tuple[str, str, dict]]:
    first = journey[0]["occurred_at"]
    docs = [e for e in journey if e["type"] == "kyc.document_submitted"]
    review = next((e for e in journey if e["type"] == "kyc.review_completed"), None)
    account = next((e for e in journey if e["type"] == "account.created"), None)
    extra: list[tuple[str, str, dict]] = []
    if review is not None:
        extra.append(("kyc.review_pending", _at(review["occurred_at"], -30), {"provider": "sumsub"}))
        # delivered late: submitted before the review, arrives after it in the stream order
        extra.append(
            (
                "kyc.document_submitted",
                _at(review["occurred_at"], -60),
                {"document_id": f"{ref}-late", "document_type": "selfie", "expires_at": "2031-01-01T00:00:00Z"},
            )
        )
    if docs and n % 3 == 0:
        doc = docs[0]["data"]
        extra.append(("kyc.document_approved", _at(docs[0]["occurred_at"], 5), dict(doc, reason="looks fine")))
    if docs and n % 3 == 1:
        doc = docs[-1]["data"]
        extra.append(("kyc.document_rejected", _at(docs[-1]["occurred_at"], 5), dict(doc, reason="blurred")))
    if review is not None and n % 4 == 0:
        labels = rng.choice([["proof_of_address"], ["BAD_SELFIE"], None, ["id", "selfie"]])
        later = _at(review["occurred_at"], 90)
        data = {"provider": "sumsub", "result": "retry", "comment": "please send again"}
        extra.append(("kyc.review_completed", later, data if labels is None else dict(data, labels=labels)))
        extra.append(
            (
                "kyc.document_submitted",
                _at(later, 30),
                {"document_id": f"{ref}-again", "document_type": (labels or ["id"])[0].lower().replace("bad_", "")},
            )
        )
    if n % 7 == 3:
        extra.append(
            ("kyc.reset", _at(first, 60 * 24 * 3), {"provider": "onfido", "reason": rng.choice([None, "fraud check"])})
        )
    if n % 5 == 0:
        fields = {"phone": f"+49 151 {n:05d}", "declared_income": "52000.50", "auto_funding": 1, "nickname": "x"}
        extra.append(("client.profile_updated", _at(first, 45), {"fields": fields}))
    if account is not None and n % 2 == 0:
        account_id, at = account["data"]["account_id"], account["occurred_at"]
        extra.append(
            (
                "account.status_changed",
                _at(at, 120),
                {"account_id": account_id, "status": "locked", "reason": "margin call"},
            )
        )
        extra.append(
            ("account.status_changed", _at(at, 60), {"account_id": account_id, "status": "disabled"})
        )  # older: only recorded
        extra.append(("account.status_changed", _at(at, 240), {"account_id": account_id, "status": "active"}))
    if account is not None and n % 6 == 1:
        extra.append(("account.created", _at(account["occurred_at"], 10), dict(account["data"])))  # a repeat
    return extra


def with_failing_events(events: list[dict]) -> list[dict]:
    """Events whose projection raises on both paths (retried later, the group redone client
    by client): a status change of an account nobody opened, and another client's account
    created again for a second client."""
    account = next(e for e in events if e["type"] == "account.created")
    other = next(e for e in events if e["type"] == "client.registered" and e["client"] != account["client"])
    return events + [
        {
            **account,
            "id": "bad-status",
            "type": "account.status_changed",
            "data": {"account_id": "MT5-NONE", "status": "locked"},
        },
        {**account, "id": "bad-created", "client": other["client"], "occurred_at": _at(account["occurred_at"], 1)},
    ]


STREAMS = {
    "demo": lambda: with_every_onboarding_type(demo_stream()),
    "demo-shuffled": lambda: shuffled_with_duplicates(with_every_onboarding_type(demo_stream())),
    "demo-failing": lambda: with_failing_events(with_every_onboarding_type(demo_stream())),
}


@pytest.fixture
def onboarding_alone(monkeypatch, tmp_path):
    """Only the onboarding projections of the onboarding types, and no rules (the shipped
    policies only): the events' only forms are the ones under test. Returns the rules dir."""
    projections.load_handlers()
    for name, handlers in list(projections.PROJECTIONS.items()):
        if name in ONBOARDING:
            monkeypatch.setitem(projections.PROJECTIONS, name, [h for h in handlers if h.__module__.startswith(OWNED)])
    monkeypatch.setattr(
        projections, "EVALUATORS", [h for h in projections.EVALUATORS if h.__module__.startswith("engine.rules.")]
    )
    # the form for `account.created` too (engine.accounts.projections: not registered yet)
    from engine.accounts import projections as accounts

    monkeypatch.setattr(projections, "BATCH_FORMS", list(projections.BATCH_FORMS))
    accounts.register_form(accounts.WITH_CREATED)
    rules = tmp_path / "policies-only"
    shutil.copytree("rules/policy", rules / "policy")
    return str(rules)


def _taken(urls, backend, events, rules) -> Counter:
    """Process `events` on the set-based path; return how many of each type it took."""
    with counting_batched() as taken:
        run(urls[1], backend, events, batch=True, per_client=False, rules=rules)
    return Counter(taken)


@pytest.fixture
def small_groups(monkeypatch):
    """8 clients per transaction: a failing event rolls back its group, which is redone
    client by client on the per-event path; the other groups stay set-based."""
    import engine.processing

    monkeypatch.setattr(engine.processing, "CLIENTS_PER_TXN", 8)


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_onboarding_forms_leave_the_same_tables(urls, backend, stream, onboarding_alone, small_groups):
    events = STREAMS[stream]()
    with counting_batched() as taken:
        per_event, batched = compare(urls, backend, events, per_client=False, rules=onboarding_alone)
    assert sum(1 for t in taken if t in ONBOARDING) > 0.5 * sum(1 for e in events if e["type"] in ONBOARDING)
    if stream == "demo-failing":
        failed = {row[1] for row in per_event["events"] if "AccountError" in " ".join(row)}
        # pending again with their error, on both paths: the status change of no account;
        # the account another client claimed first, so its owner's creation and changes fail
        assert '"bad-status"' in failed and len(failed) >= 3, failed
    assert len(per_event["kyc_documents"]) > 100 and per_event["kyc_document_requests"]
    states = Counter(v for row in per_event["kyc_documents"] for v in row if v in ('"approved"', '"rejected"'))
    assert len(states) == 2, states  # documents approved and rejected
    _assert_same(per_event, batched)


def test_one_client_at_a_time_even_the_ids_are_the_same(urls, backend, onboarding_alone):
    per_event, batched = compare(urls, backend, STREAMS["demo-shuffled"](), per_client=True, rules=onboarding_alone)
    _assert_same(per_event, batched)


def test_the_onboarding_events_go_set_based(urls, backend, onboarding_alone):
    """In the stream's order (no account created after its trades, nothing malformed)
    every onboarding event goes set-based."""
    from tests.engine.test_batch_equivalence import NOW
    from engine.values import clock

    clock.freeze(NOW)
    events = STREAMS["demo"]()
    taken = _taken(urls, backend, events, onboarding_alone)
    sent = Counter(e["type"] for e in events if e["type"] in ONBOARDING)
    assert {t: taken[t] for t in sent} == sent


@pytest.mark.parametrize("stream", ["demo", "demo-failing"])
def test_with_every_projection_and_the_shipped_rules_the_same_tables(urls, backend, stream, small_groups):
    """Where another domain's projection or a rule acts, the event takes the per-event path."""
    events = STREAMS[stream]()
    with counting_batched() as taken:
        per_event, batched = compare(urls, backend, events, per_client=False)
    assert {"kyc.review_pending", "kyc.document_rejected"} <= set(taken)  # the rules leave these alone
    _assert_same(per_event, batched)


def _delivered_late(events: list[dict]) -> tuple[list[dict], list[dict]]:
    """Split off documents, document decisions and account events that arrive after the
    client's later events were processed: the late documents replay the reviews applied
    since, the accounts created after their trades replay those trades."""
    late = [
        e
        for e in events
        if e["id"].endswith(("-x1", "-x2", "-x3")) or (e["type"] == "account.created" and e["client"][-1] in "02468")
    ]
    ids = {e["id"] for e in late}
    return [e for e in events if e["id"] not in ids], late


def _run_late(url: str, backend: str, waves: tuple[list[dict], list[dict]], *, batch: bool, rules: str):
    from engine.db import unit_of_work
    from engine.events.store import parse_line, record_many
    from engine.processing import process_all_pending
    import json

    database = run(url, backend, waves[0], batch=batch, per_client=False, rules=rules)
    with unit_of_work(database) as session:
        record_many(session, [parse_line(json.dumps(e)) for e in waves[1]], via="file")
    process_all_pending(database)
    return database


def test_late_deliveries_the_same_tables(urls, backend, onboarding_alone):
    """Documents delivered after the reviews that followed them (each is given what those
    reviews did), accounts created after their trades (the trades are replayed: per event)."""
    from tests.engine.test_batch_equivalence import NOW, snapshot
    from engine.values import clock

    clock.freeze(NOW)
    waves = _delivered_late(STREAMS["demo"]())
    per_event = snapshot(_run_late(urls[0], backend, waves, batch=False, rules=onboarding_alone), ids=False)
    with counting_batched() as taken:
        batched = snapshot(_run_late(urls[1], backend, waves, batch=True, rules=onboarding_alone), ids=False)
    assert Counter(taken)["kyc.document_submitted"] > 100
    late_rejected = [row for row in per_event["kyc_documents"] if '"rejected"' in row and "-late" in row[1]]
    assert late_rejected  # a late document rejected by the review applied since its submission
    _assert_same(per_event, batched)
