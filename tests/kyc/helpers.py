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


def review(client, result, at, provider="sumsub", **extra):
    """Build a kyc.review_completed event."""
    return event("kyc.review_completed", client, at, provider=provider, result=result, **extra)


def profile(database, ref) -> dict:
    """Return the client's whole profile."""
    with unit_of_work(database) as session:
        return clients_service.profile(session, clients_service.get_by_ref(session, ref))


__all__ = ["ingest", "submitted", "review", "profile", "event", "registered"]
