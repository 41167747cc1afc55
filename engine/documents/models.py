"""Stored document files: what was received, from whom, and where its bytes are kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.types import BigId, UTCDateTime

SOURCES = ("staff", "portal", "sumsub", "onfido")


class DocumentFile(Base):
    """One file of a client's document (a passport scan, a utility bill), stored once.

    `public_id` is random and is the only id pages and links use; `storage_key` is
    another random value that names the bytes in the store. The KYC state of the
    document (`kyc_documents`, by `document_id`) says whether it was approved.
    """

    __tablename__ = "document_files"
    __table_args__ = (
        UniqueConstraint("public_id", name="uq_document_files_public_id"),
        # The same bytes for the same document are kept once (a double click, a re-fetch).
        UniqueConstraint("client_ref", "document_id", "sha256", name="uq_document_files_content"),
        Index("ix_document_files_client", "client_ref", "uploaded_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(64))
    client_ref: Mapped[str] = mapped_column(String(100))
    document_id: Mapped[str] = mapped_column(String(200))
    document_type: Mapped[str] = mapped_column(String(32))
    file_name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(16))
    uploaded_by: Mapped[str] = mapped_column(String(320))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
