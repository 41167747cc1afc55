"""Document states, provider results and what is missing, projected from events."""

from __future__ import annotations

from engine.clients import service as clients_service
from engine.db import get_database, unit_of_work
from engine.kyc import profile as kyc_profile
from tests.conftest import make_config
from tests.kyc.helpers import documented_events, event, ingest, profile, registered, review, submitted


def states(p) -> dict:
    """Map document type to state (a missing type shows as its own `missing` entry)."""
    out = {}
    for doc in p["kyc"]["documents"]:
        out.setdefault(doc["type"], doc["state"])
    return out


def test_required_documents_follow_client_type_and_country(database):
    ingest(database, registered("I1"), registered("N1", country="NG"), registered("K1", client_type="corporate"))
    assert profile(database, "I1")["kyc"]["missing"] == ["id", "proof_of_address"]
    assert profile(database, "N1")["kyc"]["missing"] == ["id", "proof_of_address", "source_of_funds"]
    assert profile(database, "K1")["kyc"]["required"] == ["incorporation", "ubo_declaration"]


def test_submitted_documents_are_no_longer_missing(database):
    ingest(database, registered("C1"), submitted("C1", "id", "2026-11-01T11:00:00Z"))
    p = profile(database, "C1")
    assert p["kyc"]["missing"] == ["proof_of_address"]
    assert states(p) == {"id": "submitted", "proof_of_address": "missing"}
    assert p["next_step"] == "Complete the profile: first name, last name"


def test_next_step_names_missing_documents_in_words(database):
    ingest(database, registered("C1", first_name="Ana", last_name="Lopez"))
    assert profile(database, "C1")["next_step"] == "Upload documents: identity document, proof of address"


def test_review_moves_documents_through_in_review_to_approved(database):
    ingest(
        database,
        *documented_events(poa_at="2026-11-01T11:05:00Z"),
        event("kyc.review_pending", "C1", "2026-11-01T11:10:00Z", provider="sumsub"),
    )
    p = profile(database, "C1")
    assert (p["kyc"]["status"], set(states(p).values())) == ("pending", {"in_review"})
    ingest(database, review("C1", "approved", "2026-11-01T12:00:00Z"))
    p = profile(database, "C1")
    assert p["kyc"]["status"] == "approved"
    assert set(states(p).values()) == {"approved"}
    assert p["kyc"]["provider_result"]["result"] == "approved"


def test_a_late_older_result_never_moves_the_client_back(database):
    ingest(
        database,
        registered("C1"),
        submitted("C1", "id", "2026-11-01T11:00:00Z"),
        review("C1", "approved", "2026-11-01T12:00:00Z"),
    )
    ingest(
        database,
        event("kyc.review_pending", "C1", "2026-11-01T11:30:00Z", provider="sumsub"),
        review("C1", "retry", "2026-11-01T11:40:00Z", labels=["BLURRY"]),
    )
    p = profile(database, "C1")
    assert p["kyc"]["status"] == "approved"
    assert p["kyc"]["provider_result"]["result"] == "approved"
    assert states(p)["id"] == "approved"
    assert p["kyc"]["requests"] == []


def test_retry_rejects_the_labelled_documents_and_asks_again(database):
    ingest(
        database,
        *documented_events(poa_at="2026-11-01T11:05:00Z"),
        review("C1", "retry", "2026-11-01T12:00:00Z", labels=["BAD_PROOF_OF_ADDRESS"]),
    )
    p = profile(database, "C1")
    assert p["kyc"]["missing"] == ["proof_of_address"]
    poa = [d for d in p["kyc"]["documents"] if d["document_id"] == "C1-proof_of_address"][0]
    assert poa["state"] == "rejected" and poa["reason"].startswith("Your proof of address")
    assert [(r["type"], r["fulfilled_at"]) for r in p["kyc"]["requests"]] == [("proof_of_address", None)]
    ingest(database, submitted("C1", "proof_of_address", "2026-11-02T09:00:00Z", doc_id="poa-2"))
    p = profile(database, "C1")
    assert p["kyc"]["missing"] == []
    assert p["kyc"]["requests"][0]["fulfilled_at"] == "2026-11-02T09:00:00Z"


def test_retry_without_known_labels_asks_for_every_required_document(database):
    ingest(
        database,
        *documented_events(poa_at="2026-11-01T11:05:00Z"),
        review("C1", "retry", "2026-11-01T12:00:00Z", labels=["SOMETHING_NEW"]),
    )
    assert profile(database, "C1")["kyc"]["missing"] == ["id", "proof_of_address"]


def test_rejected_and_expired_documents_count_as_missing(database):
    ingest(
        database,
        registered("C1"),
        submitted("C1", "id", "2026-11-01T11:00:00Z", expires_at="2026-11-01T12:00:00Z"),
        submitted("C1", "proof_of_address", "2026-11-01T11:05:00Z"),
        event(
            "kyc.document_rejected",
            "C1",
            "2026-11-01T11:30:00Z",
            document_id="C1-proof_of_address",
            document_type="proof_of_address",
            reason="older than 3 months",
        ),
    )
    p = profile(database, "C1")
    assert states(p) == {"id": "expired", "proof_of_address": "rejected"}
    assert p["kyc"]["missing"] == ["id", "proof_of_address"]
    assert [d["reason"] for d in p["kyc"]["documents"]][1] == "older than 3 months"


def test_on_hold_and_rejected_final_are_recorded_with_reasons(database):
    ingest(
        database,
        registered("C1"),
        submitted("C1", "id", "2026-11-01T11:00:00Z"),
        event("kyc.on_hold", "C1", "2026-11-01T12:00:00Z", provider="sumsub", reason="awaiting sanctions screening"),
    )
    p = profile(database, "C1")
    assert p["kyc"]["status"] == "on_hold"
    assert p["kyc"]["provider_result"]["reason"] == "awaiting sanctions screening"
    ingest(database, review("C1", "rejected", "2026-11-01T13:00:00Z", reason="forged document", labels=["FORGERY"]))
    p = profile(database, "C1")
    assert p["kyc"]["status"] == "rejected"
    assert states(p)["id"] == "rejected"
    assert p["kyc"]["documents"][0]["reason"] == "forged document"


def test_a_broken_policy_shows_in_the_profile_instead_of_breaking_it(database, tmp_path):
    ingest(database, registered("C1"), submitted("C1", "id", "2026-11-01T11:00:00Z"))
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "kyc.yaml").write_text("required: [id]\nreason_codes: {x: y}\n")
    broken = get_database(make_config(database.config.database_url, rules_dir=str(tmp_path)))
    with unit_of_work(broken) as session:
        client = clients_service.get_by_ref(session, "C1")
        p = {"kyc": kyc_profile.kyc(session, client), "next_step": kyc_profile.next_step(session, client)}
    assert p["kyc"]["policy_error"].endswith("kyc.yaml:1: required: Not a valid mapping type")
    assert (p["kyc"]["missing"], p["kyc"]["documents"][0]["state"]) == (None, "submitted")
    assert p["next_step"] == "Fix the onboarding policy file (see kyc.policy_error)"
