"""Fetch a client's document files from its KYC provider into the document store.

Onfido finds the applicant through the broker's links (`onfido_applicants`), Sumsub
through the applicant's externalUserId (the client ref). Every file whose kind the
broker tracks is downloaded (outside any transaction) and received like a file staff
add: checked on its content, kept once, recorded as a submitted document dated when
the client gave it to the provider. A file already fetched is not downloaded again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from connectors import FetchFailed
from connectors.kyc_documents import Onfido, ProviderFile, Sumsub
from engine.clients.models import Client
from engine.db import Database, unit_of_work
from engine.deliveries.models import OnfidoApplicant
from engine.documents import service as documents_service
from engine.documents.models import DocumentFile
from engine.documents.storage import store_for
from engine.processing.ingest import schedule_touched

PROVIDERS = ("onfido", "sumsub")


class ProviderDocumentsError(ValueError):
    """The files cannot be fetched (not configured, no applicant, provider down)."""


@dataclass
class FetchReport:
    provider: str
    added: list[str] = field(default_factory=list)
    known: int = 0
    skipped: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.added)} new file(s) from {self.provider}"]
        if self.known:
            parts.append(f"{self.known} already here")
        parts += [f"skipped {s}" for s in self.skipped] + [f"refused {r}" for r in self.refused]
        return "; ".join(parts)


def provider_named(config, name: str):
    """Return the provider's API client from configuration, or say what is missing."""
    if name == "onfido":
        token = config.secret("ONFIDO_API_TOKEN")
        if not token:
            raise ProviderDocumentsError("Onfido is not configured: set FXCRM_ONFIDO_API_TOKEN")
        return Onfido(token=token, base_url=config.secret("ONFIDO_BASE_URL"))
    if name == "sumsub":
        token, secret = config.secret("SUMSUB_APP_TOKEN"), config.secret("SUMSUB_APP_SECRET")
        if not (token and secret):
            raise ProviderDocumentsError(
                "Sumsub is not configured: set FXCRM_SUMSUB_APP_TOKEN and FXCRM_SUMSUB_APP_SECRET"
            )
        return Sumsub(token=token, secret=secret, base_url=config.secret("SUMSUB_BASE_URL"))
    raise ProviderDocumentsError(f"unknown provider {name!r}; use one of {', '.join(PROVIDERS)}")


def _applicant(database: Database, provider, client_ref: str) -> str:
    if provider.name == "sumsub":
        return provider.applicant_id(client_ref)
    with unit_of_work(database) as s:
        found = s.scalar(
            select(OnfidoApplicant.applicant_id)
            .where(OnfidoApplicant.client_ref == client_ref)
            .order_by(OnfidoApplicant.linked_at.desc())
        )
    if not found:
        raise ProviderDocumentsError(
            f"client {client_ref} has no Onfido applicant linked (link one on the API: PUT /api/onfido/applicants/<id>)"
        )
    return found


def fetch_documents(database: Database, client_ref: str, provider_name: str, *, actor: str) -> FetchReport:
    """Fetch every file of the client's documents the provider holds; return what happened."""
    provider = provider_named(database.config, provider_name)
    with unit_of_work(database) as s:
        if s.scalar(select(Client.id).where(Client.ref == client_ref)) is None:
            raise ProviderDocumentsError(f"no client {client_ref!r}")
    report = FetchReport(provider.name)
    try:
        applicant = _applicant(database, provider, client_ref)
        files = provider.list_files(applicant)
    except FetchFailed as exc:
        raise ProviderDocumentsError(f"{provider.name}: {exc}") from None
    for file in files:
        _fetch_one(database, provider, applicant, client_ref, file, actor, report)
    return report


def _fetch_one(
    database, provider, applicant: str, client_ref: str, file: ProviderFile, actor: str, report: FetchReport
) -> None:
    if file.document_type is None:
        report.skipped.append(f"{file.kind or 'unnamed'} {file.file_id}: a kind the broker does not track")
        return
    document_id = f"{provider.name}-{file.file_id}"
    with unit_of_work(database) as s:
        if s.scalar(
            select(DocumentFile.id).where(
                DocumentFile.client_ref == client_ref, DocumentFile.document_id == document_id
            )
        ):
            report.known += 1
            return
    limit = database.config.document_max_bytes
    try:
        data, kind = provider.download(applicant, file, limit)
    except FetchFailed as exc:
        report.refused.append(f"{file.file_id}: {exc}")
        return
    try:
        with unit_of_work(database) as s:
            client = s.scalar(select(Client).where(Client.ref == client_ref))
            got = documents_service.receive(
                s,
                store_for(database.config),
                client=client,
                document_type=file.document_type,
                data=data,
                declared_type=kind or file.content_type,
                file_name=file.file_name,
                actor=actor,
                source=provider.name,
                max_bytes=limit,
                document_id=document_id,
                submitted_at=file.added_at,
            )
            schedule_touched(s, database)
            report.added.append(got.file.public_id)
    except documents_service.DocumentError as exc:
        report.refused.append(f"{file.file_id}: {exc}")
