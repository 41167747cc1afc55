"""A document delivered after a review that came later in time ends as in-order delivery leaves it."""

from __future__ import annotations

import random

from tests.kyc.helpers import ingest, profile, registered, review, submitted


def history(ref: str, result: str, **extra) -> list[dict]:
    return [
        registered(ref),
        submitted(ref, "id", "2026-11-01T11:00:00Z"),
        submitted(ref, "proof_of_address", "2026-11-01T11:30:00Z"),
        submitted(ref, "selfie", "2026-11-01T11:40:00Z"),
        review(ref, result, "2026-11-01T12:00:00Z", **extra),
    ]


def documents(database, ref: str) -> list[tuple]:
    p = profile(database, ref)["kyc"]
    return sorted((d["type"], d["state"]) for d in p["documents"]) + [("missing", tuple(p["missing"]))]


def deliver_one_by_one(database, events) -> None:
    for e in events:
        ingest(database, e)


def test_late_documents_get_what_the_review_did_to_them(database):
    cases = [
        ("approved", {}),
        ("rejected", {"reason": "forged"}),
        ("retry", {"labels": ["BAD_PROOF_OF_ADDRESS"]}),
        ("retry", {"labels": ["UNKNOWN"]}),
    ]
    for n, (result, extra) in enumerate(cases):
        deliver_one_by_one(database, history(f"IN{n}", result, **extra))
        expected = documents(database, f"IN{n}")
        for seed in range(3):
            ref = f"S{n}-{seed}"
            events = history(ref, result, **extra)
            late = events[1:]
            random.Random(seed).shuffle(late)
            deliver_one_by_one(database, [events[0]] + late)
            assert documents(database, ref) == expected, (result, extra, seed)
    # In order, a retry asks for the proof of address again; the other documents stay usable.
    assert documents(database, "IN2") == [
        ("id", "submitted"),
        ("proof_of_address", "missing"),
        ("proof_of_address", "rejected"),
        ("selfie", "submitted"),
        ("missing", ("proof_of_address",)),
    ]
    assert documents(database, "IN0")[-1] == ("missing", ())
