"""Two reviewers deciding one document at the same moment decide it once (PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.audit.models import AuditEntry
from engine.clients import service as clients_service
from engine.db import unit_of_work
from engine.events.models import Event
from engine.kyc import review
from engine.kyc.models import KycDocument
from tests.concurrency.race import ROUNDS, race, winners
from tests.kyc.helpers import ingest, registered, submitted


@pytest.fixture
def documented(pg_database):
    ingest(pg_database, registered("C1", "2026-11-01T10:00:00Z"), submitted("C1", "id", "2026-11-01T11:00:00Z"))
    with unit_of_work(pg_database) as s:
        return pg_database, s.scalar(select(KycDocument.document_id))


def _decide(document_id, approve, actor):
    def run(s):
        client = clients_service.get_by_ref(s, "C1")
        review.decide_document(
            s,
            client=client,
            document_id=document_id,
            approve=approve,
            actor=actor,
            reason=None if approve else "blurred photo",
        )

    return run


@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize("second", [True, False])
def test_two_reviewers_decide_a_document_once(documented, second, round_):
    database, document_id = documented
    outcomes = race(
        database, _decide(document_id, True, "ana@example.com"), _decide(document_id, second, "bo@example.com")
    )
    [won] = winners(outcomes)
    assert "already" in str(outcomes[1 - won])
    with unit_of_work(database) as s:
        decisions = list(
            s.scalars(select(AuditEntry.actor).where(AuditEntry.action.in_(["document.approved", "document.rejected"])))
        )
        events = list(
            s.scalars(select(Event.type).where(Event.type.in_(["kyc.document_approved", "kyc.document_rejected"])))
        )
        state = s.scalar(select(KycDocument.state))
    assert decisions == [["ana@example.com", "bo@example.com"][won]] and len(events) == 1
    assert state == ("approved" if won == 0 or second else "rejected")
