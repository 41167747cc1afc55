"""KYC facts the rules read."""

from __future__ import annotations

from engine.clients import service as clients_service
from engine.db import unit_of_work
from engine.facts import get
from tests.kyc.helpers import ingest, registered, review, submitted


def facts(database, ref, *names):
    with unit_of_work(database) as session:
        client = clients_service.get_by_ref(session, ref)
        return {n: get(n).loader(session, client) for n in names}


NAMES = (
    "kyc.documents.missing",
    "kyc.documents.missing_count",
    "kyc.provider_result",
    "kyc.labels",
    "kyc.labels_explained",
    "country_risk",
    "profile.missing_fields",
)


def test_facts_follow_documents_and_provider_results(database):
    ingest(
        database,
        registered("C1", country="TR", first_name="Ece", last_name="Kaya"),
        submitted("C1", "id", "2026-11-01T11:00:00Z"),
        review("C1", "retry", "2026-11-01T12:00:00Z", labels=["DOCUMENT_PAGE_MISSING"]),
    )
    assert facts(database, "C1", *NAMES) == {
        "kyc.documents.missing": ["id", "proof_of_address", "source_of_funds"],
        "kyc.documents.missing_count": 3,
        "kyc.provider_result": "retry",
        "kyc.labels": ["DOCUMENT_PAGE_MISSING"],
        "kyc.labels_explained": "A page of your identity document is missing. Please send both sides.",
        "country_risk": "medium",
        "profile.missing_fields": [],
    }


def test_a_new_client_misses_everything_and_has_no_result(database):
    ingest(database, registered("C2", country="IR", client_type="corporate"))
    got = facts(database, "C2", *NAMES)
    assert got["kyc.documents.missing"] == ["incorporation", "ubo_declaration"]
    assert (got["kyc.provider_result"], got["kyc.labels"], got["country_risk"]) == (None, [], "high")
