"""Receive, keep and hand back client document files.

A file is checked on its content (type and size, engine.documents.content), hashed,
written to the store under a random key and recorded with who sent it; receiving it
also records `kyc.document_submitted`, so the KYC state, the rules and their reminders
see the document exactly as they see one a provider reports. Reading one back goes
through `open_file`, which the web calls only after its role check.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from functools import partial
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import service as audit_service
from engine.clients.models import Client
from engine.db import after_rollback
from engine.documents import content
from engine.documents.models import SOURCES, DocumentFile
from engine.documents.storage import FileStore
from engine.events.catalogue import DOCUMENT_TYPES
from engine.events.store import record
from engine.values import iso, utcnow

SOURCE = "fxcrm-documents"  # the event source of documents received here
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ ()-]+")


class DocumentError(ValueError):
    """A document cannot be received or found (the message says which and why)."""


@dataclass(frozen=True)
class Received:
    file: DocumentFile
    created: bool  # False: the same bytes were already kept for this document


def safe_name(name: str | None, content_type: str) -> str:
    """Return a display name without path parts or odd characters (never used as a path)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE_NAME.sub("_", base).strip(" ._")[:120]
    return base or f"document.{content.ALLOWED[content_type]}"


def receive(
    session: Session,
    store: FileStore,
    *,
    client: Client,
    document_type: str,
    data: bytes,
    declared_type: str | None,
    file_name: str | None,
    actor: str,
    source: str,
    max_bytes: int,
    document_id: str | None = None,
    expires_at: datetime | None = None,
    submitted_at: datetime | None = None,
) -> Received:
    """Check, store and record one file of a client's document; record its submission.

    Nothing is recorded when the file is refused. `document_id` joins a file to a
    document a provider already reported; by default each file is a new document.
    `submitted_at` is when the client gave it (a provider's date): the KYC reviews
    made after that time apply to it, as they would have had it arrived in time.
    """
    if document_type not in DOCUMENT_TYPES:
        raise DocumentError(f"document type {document_type!r} is unknown; use one of {', '.join(DOCUMENT_TYPES)}")
    if source not in SOURCES:
        raise DocumentError(f"source {source!r} is unknown")
    try:
        kind = content.sniff(data, declared_type, max_bytes)
    except content.ContentRefused as exc:
        raise DocumentError(f"{safe_name(file_name, 'application/pdf')}: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    public_id = secrets.token_urlsafe(24)
    document_id = document_id or f"file-{public_id}"
    same = session.scalar(
        select(DocumentFile).where(
            DocumentFile.client_ref == client.ref,
            DocumentFile.document_id == document_id,
            DocumentFile.sha256 == digest,
        )
    )
    if same is not None:
        return Received(same, False)
    row = DocumentFile(
        public_id=public_id,
        client_ref=client.ref,
        document_id=document_id,
        document_type=document_type,
        file_name=safe_name(file_name, kind),
        content_type=kind,
        size=len(data),
        sha256=digest,
        storage_key=secrets.token_urlsafe(32),
        source=source,
        uploaded_by=actor,
        uploaded_at=utcnow(),
    )
    # The bytes go first (a row must never name bytes that are not there); should the
    # unit of work roll back, they are deleted again, so no file outlives its row.
    store.put(row.storage_key, data, kind)
    after_rollback(session, partial(store.delete, row.storage_key))
    session.add(row)
    session.flush()
    _record_submission(session, client, row, expires_at, submitted_at or row.uploaded_at)
    audit_service.record(
        session,
        actor=actor,
        action="document.received",
        target_type="client",
        target_id=client.ref,
        reason=row.file_name,
        detail={
            "document": row.public_id,
            "type": document_type,
            "sha256": digest,
            "bytes": len(data),
            "source": source,
        },
    )
    return Received(row, True)


def _record_submission(
    session: Session, client: Client, row: DocumentFile, expires_at: datetime | None, at: datetime
) -> None:
    data = {"document_id": row.document_id, "document_type": row.document_type, "received_via": row.source}
    if expires_at is not None:
        data["expires_at"] = iso(expires_at)
    record(
        session,
        {
            "id": f"submitted-{row.public_id}",
            "type": "kyc.document_submitted",
            "source": SOURCE,
            "occurred_at": iso(at),
            "client": client.ref,
            "data": data,
        },
        via="backoffice",
    )


def get(session: Session, public_id: str) -> DocumentFile | None:
    """Return the file with this public id, or None (ids are random: no guessing)."""
    if not isinstance(public_id, str) or not 16 <= len(public_id) <= 64:
        return None
    return session.scalar(select(DocumentFile).where(DocumentFile.public_id == public_id))


def open_file(session: Session, store: FileStore, public_id: str) -> tuple[DocumentFile, bytes]:
    """Return a file's row and bytes; raise DocumentError when there is no such file."""
    row = get(session, public_id)
    if row is None:
        raise DocumentError("no such document file")
    return row, store.get(row.storage_key)


def files_of(session: Session, client_ref: str) -> list[DocumentFile]:
    """Return a client's document files, newest first."""
    return list(
        session.scalars(
            select(DocumentFile)
            .where(DocumentFile.client_ref == client_ref)
            .order_by(DocumentFile.uploaded_at.desc(), DocumentFile.id.desc())
        )
    )
