"""Receiving a document file: checked, stored, recorded with its submission, or not at all."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.clients.models import Client
from engine.db import unit_of_work
from engine.documents import service
from engine.documents.models import DocumentFile
from engine.documents.storage import FolderStore, store_for
from engine.events.models import Event
from engine.kyc.models import KycDocument
from engine.processing import process_all_pending
from engine.processing.ingest import schedule_touched
from tests.documents.conftest import ELF, pdf, png
from tests.payments.builders import ingest, registered

LIMIT = 1024 * 1024


def receive(database, data, declared="application/pdf", **extra):
    with unit_of_work(database) as s:
        client = s.scalar(select(Client))
        got = service.receive(
            s,
            store_for(database.config),
            client=client,
            document_type=extra.pop("document_type", "id"),
            data=data,
            declared_type=declared,
            file_name=extra.pop("name", "passport.pdf"),
            actor="comp@example.com",
            source="staff",
            max_bytes=LIMIT,
            **extra,
        )
        schedule_touched(s, database)
        return got.file.public_id, got.created


def counts(database):
    with unit_of_work(database) as s:
        return (
            s.scalar(select(func.count()).select_from(DocumentFile)),
            s.scalar(select(func.count()).select_from(Event).where(Event.type == "kyc.document_submitted")),
        )


def test_a_received_file_is_stored_and_submits_its_document(database):
    ingest(database, registered("C1"))
    public_id, created = receive(database, pdf(), name="../../etc/passport scan?.pdf")
    process_all_pending(database)
    with unit_of_work(database) as s:
        row = service.get(s, public_id)
        assert created and row.content_type == "application/pdf" and row.size == len(pdf())
        assert row.file_name == "passport scan_.pdf" and row.uploaded_by == "comp@example.com"
        _row, data = service.open_file(s, store_for(database.config), public_id)
        doc = s.scalar(select(KycDocument).where(KycDocument.document_id == row.document_id))
    assert data == pdf() and (doc.document_type, doc.state) == ("id", "submitted")
    assert len(public_id) >= 32  # random, not a sequence number


def test_the_same_bytes_for_the_same_document_are_kept_once(database):
    ingest(database, registered("C1"))
    first, _ = receive(database, png(), "image/png", document_id="doc-1")
    again, created = receive(database, png(), "image/png", document_id="doc-1")
    assert (again, created) == (first, False) and counts(database) == (1, 1)


@pytest.mark.parametrize(
    "data, declared, document_type, message",
    [
        (png(), "application/pdf", "id", "passport.pdf: it was sent as application/pdf but its content is image/png"),
        (ELF, "application/pdf", "id", "its content is application/x-executable"),
        (pdf(), "application/pdf", "diploma", "document type 'diploma' is unknown"),
    ],
)
def test_a_refused_file_leaves_nothing_behind(database, data, declared, document_type, message):
    ingest(database, registered("C1"))
    with pytest.raises(service.DocumentError) as refused:
        receive(database, data, declared, document_type=document_type)
    assert message in str(refused.value)
    assert counts(database) == (0, 0)
    folder = FolderStore(database.config.documents_url).root
    assert not folder.exists() or not any(p.is_file() for p in folder.rglob("*"))


def test_ids_that_are_not_ours_find_nothing(database):
    with unit_of_work(database) as s:
        for guess in ("1", "../x", "a" * 100, "A" * 32):
            assert service.get(s, guess) is None


def test_the_bytes_of_a_file_whose_work_rolls_back_are_deleted(database):
    """The file store is outside the transaction: the bytes are put before the row is
    written, and deleted again when the unit of work rolls back (here: a later step of
    the same work fails), so no document outlives its row."""
    ingest(database, registered("C1"))
    folder = FolderStore(database.config.documents_url).root
    with pytest.raises(RuntimeError, match="a later step failed"):
        with unit_of_work(database) as s:
            service.receive(
                s,
                store_for(database.config),
                client=s.scalar(select(Client)),
                document_type="id",
                data=pdf(),
                declared_type="application/pdf",
                file_name="passport.pdf",
                actor="comp@example.com",
                source="staff",
                max_bytes=LIMIT,
            )
            assert any(p.is_file() for p in folder.rglob("*"))  # stored, not committed yet
            raise RuntimeError("a later step failed")
    assert counts(database) == (0, 0)
    assert not any(p.is_file() for p in folder.rglob("*"))
    receive(database, pdf())  # a committed file stays
    assert sum(1 for p in folder.rglob("*") if p.is_file()) == 1
