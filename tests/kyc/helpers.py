"""Builders for KYC events and a one-call ingest for KYC tests."""

from __future__ import annotations

import json

from engine.clients import service as clients_service
from engine.db import unit_of_work
from engine.processing.ingest import ingest_lines
from tests.helpers import event, registered


def ingest(database, *events) -> None:
    """Store and process these events (embedded mode processes right after commit)."""
    report = ingest_lines(database, [json.dumps(e) for e in events])
    assert report.ok, report.rejected


def submitted(client, doc_type, at, doc_id=None, **extra):
    """Build a kyc.document_submitted event."""
    return event(
        "kyc.document_submitted",
        client,
        at,
        document_id=doc_id or f"{client}-{doc_type}",
        document_type=doc_type,
        **extra,
    )


def documented_events(client="C1", poa_at="2026-11-01T11:01:00Z", **registration) -> list[dict]:
    """Build the events of a client who registered at 10:00, sent an identity document at 11:00
    and a proof of address at `poa_at`: every document KYC asks of an individual."""
    return [
        registered(client, **registration),
        submitted(client, "id", "2026-11-01T11:00:00Z"),
        submitted(client, "proof_of_address", poa_at),
    ]


def review(client, result, at, provider="sumsub", **extra):
    """Build a kyc.review_completed event."""
    return event("kyc.review_completed", client, at, provider=provider, result=result, **extra)


def profile(database, ref) -> dict:
    """Return the client's whole profile."""
    with unit_of_work(database) as session:
        return clients_service.profile(session, clients_service.get_by_ref(session, ref))


__all__ = ["ingest", "submitted", "documented_events", "review", "profile", "event", "registered"]
