"""Document files fetched from Onfido and Sumsub (a loopback server with their APIs)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.db import unit_of_work
from engine.deliveries.models import OnfidoApplicant
from engine.deliveries.provider_documents import ProviderDocumentsError, fetch_documents
from engine.documents import service
from engine.documents.models import DocumentFile
from engine.documents.storage import store_for
from engine.kyc.models import KycDocument
from engine.processing import process_all_pending
from engine.values import parse_datetime, utcnow
from tests.documents.conftest import ELF, pdf, png
from tests.documents.kyc_api import ONFIDO_TOKEN, SUMSUB_SECRET, SUMSUB_TOKEN, KycApi
from tests.kyc.helpers import ingest, registered, review

APPLICANT = "8a0f1c9e-5d7b-4c1a-9b1e-0e3c5f7a9b21"


@pytest.fixture
def api():
    server = KycApi()
    yield server
    server.stop()


@pytest.fixture
def configured(database, api):
    database.config = database.config.with_overrides(
        secrets={
            "ONFIDO_API_TOKEN": ONFIDO_TOKEN,
            "ONFIDO_BASE_URL": api.url,
            "SUMSUB_APP_TOKEN": SUMSUB_TOKEN,
            "SUMSUB_APP_SECRET": SUMSUB_SECRET,
            "SUMSUB_BASE_URL": api.url,
        }
    )
    return database


def files(database):
    with unit_of_work(database) as s:
        return {f.document_id: (f.document_type, f.source, f.content_type) for f in s.scalars(select(DocumentFile))}


def test_onfido_documents_land_in_the_store_once(configured, api):
    ingest(configured, registered("C1"))
    with unit_of_work(configured) as s:
        s.add(
            OnfidoApplicant(
                applicant_id=APPLICANT, client_ref="C1", source="api", linked_by="ops@example.com", linked_at=utcnow()
            )
        )
    api.onfido[APPLICANT] = [
        {
            "id": "doc-passport",
            "type": "passport",
            "side": "front",
            "file_type": "png",
            "file_name": "passport.png",
            "created_at": "2026-11-01T12:00:00Z",
        },
        {
            "id": "doc-bill",
            "type": "utility_bill",
            "file_type": "pdf",
            "file_name": "bill.pdf",
            "created_at": "2026-11-01T12:05:00Z",
        },
        {"id": "doc-unknown", "type": "unknown", "file_type": "jpg"},
    ]
    api.files.update({"doc-passport": (png(), "image/png"), "doc-bill": (pdf(), "application/pdf")})
    report = fetch_documents(configured, "C1", "onfido", actor="comp@example.com")
    assert len(report.added) == 2 and report.skipped == ["unknown doc-unknown: a kind the broker does not track"]
    assert files(configured) == {
        "onfido-doc-passport": ("id", "onfido", "image/png"),
        "onfido-doc-bill": ("proof_of_address", "onfido", "application/pdf"),
    }
    again = fetch_documents(configured, "C1", "onfido", actor="comp@example.com")
    assert (again.added, again.known) == ([], 2)
    downloads = [r for r in api.requests if r.endswith("/download")]
    assert len(downloads) == 2  # a file already fetched is not downloaded again
    with unit_of_work(configured) as s:
        row = s.scalar(select(DocumentFile).where(DocumentFile.document_id == "onfido-doc-passport"))
        _row, data = service.open_file(s, store_for(configured.config), row.public_id)
    assert data == png()


def test_sumsub_images_are_fetched_with_signed_requests_and_dated_as_sent(configured, api):
    ingest(configured, registered("C2"), review("C2", "approved", "2026-11-02T09:00:00Z"))
    api.sumsub["C2"] = {
        "id": "5cb56e8e0a975a35f333cb83",
        "items": [
            {
                "id": "1045510331",
                "addedDate": "2026-11-01 10:00:00",
                "fileMetadata": {"fileName": "passport.jpg", "fileType": "png"},
                "idDocDef": {"country": "GBR", "idDocType": "PASSPORT"},
            },
            {"id": "1045510332", "deactivated": True, "idDocDef": {"idDocType": "PASSPORT"}},
            {"id": "1045510333", "addedDate": "2026-11-01 10:01:00", "idDocDef": {"idDocType": "UTILITY_BILL"}},
        ],
    }
    api.files.update({"1045510331": (png(), "image/png"), "1045510333": (ELF, "application/pdf")})
    report = fetch_documents(configured, "C2", "sumsub", actor="comp@example.com")
    assert len(report.added) == 1
    assert report.refused == [
        "1045510333: document.pdf: its content is application/x-executable; accepted: heic, jpg, pdf, png, webp"
    ]
    process_all_pending(configured)
    with unit_of_work(configured) as s:
        doc = s.scalar(select(KycDocument).where(KycDocument.document_id == "sumsub-1045510331"))
    # Sent on 1 Nov, before the approval of 2 Nov: the approval applies to it.
    assert doc.submitted_at == parse_datetime("2026-11-01T10:00:00Z") and doc.state == "approved"


def test_what_is_missing_is_said(configured, api, database):
    ingest(configured, registered("C3"))
    with pytest.raises(ProviderDocumentsError, match="C3 has no Onfido applicant linked"):
        fetch_documents(configured, "C3", "onfido", actor="x")
    with pytest.raises(ProviderDocumentsError, match="sumsub: GET applicant of C3: HTTP 404"):
        fetch_documents(configured, "C3", "sumsub", actor="x")
    with pytest.raises(ProviderDocumentsError, match="no client 'C9'"):
        fetch_documents(configured, "C9", "sumsub", actor="x")
    configured.config = configured.config.with_overrides(secrets={})
    with pytest.raises(ProviderDocumentsError, match="set FXCRM_ONFIDO_API_TOKEN"):
        fetch_documents(configured, "C3", "onfido", actor="x")


def test_a_wrong_signature_is_refused_by_the_provider(configured, api):
    ingest(configured, registered("C4"))
    api.sumsub["C4"] = {"id": "abc", "items": []}
    configured.config = configured.config.with_overrides(
        secrets={**configured.config.secrets, "SUMSUB_APP_SECRET": "not-the-secret"}
    )
    with pytest.raises(ProviderDocumentsError, match="HTTP 401"):
        fetch_documents(configured, "C4", "sumsub", actor="x")
