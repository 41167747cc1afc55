"""Client document files: staff add a file a client sent, compliance opens and decides each one.

Files are reached only here, by a random id, after the role check; each opening is
audited (who looked at whose passport). The bytes are sent with their sniffed type,
never sniffed again by the browser, never cached, and only framed by our own pages.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, request, url_for

from engine.audit import service as audit_service
from engine.clients import service as clients_service
from engine.db import unit_of_work
from engine.documents import service as documents_service
from engine.documents.storage import StorageError, store_for
from engine.errors import Conflict
from engine.kyc import review as kyc_review
from engine.kyc.service import KycError
from engine.processing.ingest import schedule_touched
from engine.values import parse_datetime
from web import database
from web.auth import current_user, requires

bp = Blueprint("documents", __name__)


def _store():
    return store_for(database().config)


def _profile(ref: str):
    """Go back where the form was (a task page sends `next`), else to the profile's files."""
    back = request.form.get("next", "")
    if back.startswith("/tasks/") and back[7:].isdigit():
        return redirect(back + "#documents")
    return redirect(url_for("clients.profile", ref=ref) + "#documents")


HISTORY_WORDS = {
    "document.received": "received",
    "document.approved": "approved",
    "document.rejected": "rejected",
    "document.viewed": "opened",
}


def files_view(session, ref: str, kyc_documents: list[dict]) -> list[dict]:
    """The client's document files, each with the KYC state of its document and its history."""
    from engine.kyc.review import DECIDABLE
    from web.why_words import document_list

    state = {d["document_id"]: d for d in kyc_documents if d.get("document_id")}
    history = _history(session, ref)
    out = []
    for f in documents_service.files_of(session, ref):
        doc = state.get(f.document_id) or {}
        current = doc.get("state") or "submitted"
        out.append(
            {
                "public_id": f.public_id,
                "document_id": f.document_id,
                "name": f.file_name,
                "label": document_list([f.document_type]).capitalize(),
                "type": f.document_type,
                "content_type": f.content_type,
                "size": f.size,
                "sha256": f.sha256,
                "source": f.source,
                "by": f.uploaded_by,
                "at": f.uploaded_at,
                "state": current,
                "reason": doc.get("reason"),
                "expires_at": doc.get("expires_at"),
                "history": history.get(f.public_id, []) + history.get(f.document_id, []),
                "image": f.content_type.startswith("image/") and f.content_type != "image/heic",
                "decidable": current in DECIDABLE,
            }
        )
    for f in out:
        f["history"].sort(key=lambda h: h["at"])
    return out


def _history(session, ref: str) -> dict[str, list[dict]]:
    """{file public id or document id: [what happened to it]} from the client's audit."""
    found: dict[str, list[dict]] = {}
    for entry in audit_service.list_for(session, target_type="client", target_id=ref):
        if entry.action not in HISTORY_WORDS or not isinstance(entry.detail, dict):
            continue
        key = entry.detail.get("document") or entry.detail.get("document_id")
        if key:
            found.setdefault(key, []).append(
                {"at": entry.at, "actor": entry.actor, "what": HISTORY_WORDS[entry.action], "reason": entry.reason}
            )
    return found


def _label(session, ref: str, document_id: str) -> str:
    """Say which document it is in words ("Proof of address bill.pdf")."""
    from sqlalchemy import select

    from engine.documents.models import DocumentFile
    from web.why_words import document_list

    row = session.scalar(
        select(DocumentFile).where(DocumentFile.client_ref == ref, DocumentFile.document_id == document_id).limit(1)
    )
    kind = document_list([row.document_type]).capitalize() if row else "The document"
    return f"{kind} {row.file_name}" if row else kind


@bp.get("/documents/<public_id>")
@requires("documents.view")
def open_file(public_id: str):
    """Send one document file inline (an image to zoom, a PDF to page through)."""
    user = current_user()
    with unit_of_work(database()) as s:
        try:
            row, data = documents_service.open_file(s, _store(), public_id)
        except documents_service.DocumentError:
            abort(404)
        except StorageError:
            abort(503, description="the document store cannot be reached; try again")
        audit_service.record(
            s,
            actor=user.email,
            action="document.viewed",
            target_type="client",
            target_id=row.client_ref,
            detail={"document": row.public_id},
        )
        name, kind = row.file_name, row.content_type
    response = Response(data, mimetype=kind)
    response.headers["Content-Disposition"] = f'inline; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"  # the profile frames PDFs
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; object-src 'self'; frame-ancestors 'self'"
    )
    return response


@bp.post("/clients/<ref>/documents")
@requires("documents.upload")
def upload(ref: str):
    """Receive a file of a client's document (a scan the client e-mailed)."""
    form, sent = request.form, request.files.get("file")
    limit = database().config.document_max_bytes
    data = sent.stream.read(limit + 1) if sent else b""
    try:
        expires = parse_datetime(form["expires_on"] + "T00:00:00Z") if form.get("expires_on") else None
    except ValueError:
        flash("Not added: the expiry date must be a date like 2030-01-31")
        return _profile(ref)
    db = database()
    try:
        with unit_of_work(db) as s:
            client = clients_service.get_by_ref(s, ref)
            if client is None:
                abort(404)
            got = documents_service.receive(
                s,
                _store(),
                client=client,
                document_type=form.get("document_type", ""),
                data=data,
                declared_type=sent.mimetype if sent else None,
                file_name=sent.filename if sent else None,
                actor=current_user().email,
                source="staff",
                max_bytes=limit,
                expires_at=expires,
            )
            schedule_touched(s, db)
            name = got.file.file_name
    except documents_service.DocumentError as exc:
        flash(f"Not added: {exc}")
        return _profile(ref)
    except StorageError:
        flash("Not added: the document store cannot be reached; nothing was recorded. Try again.")
        return _profile(ref)
    flash(f"{name} added to {ref}'s documents" + ("" if got.created else " (it was already there)"))
    return _profile(ref)


@bp.post("/clients/<ref>/documents/fetch")
@requires("documents.upload")
def fetch(ref: str):
    """Fetch the client's document files from its KYC provider (Onfido, Sumsub)."""
    from engine.deliveries import provider_documents

    try:
        report = provider_documents.fetch_documents(
            database(), ref, request.form.get("provider", ""), actor=current_user().email
        )
    except provider_documents.ProviderDocumentsError as exc:
        flash(f"Not fetched: {exc}")
        return _profile(ref)
    flash(f"Fetched: {report.summary()}")
    return _profile(ref)


@bp.post("/clients/<ref>/documents/<path:document_id>/decision")
@requires("documents.review")
def decide(ref: str, document_id: str):
    """Approve or reject one document with a reason."""
    form = request.form
    decision = form.get("decision")
    if decision not in ("approve", "reject"):
        abort(400, description="decision must be approve or reject")
    try:
        with unit_of_work(database()) as s:
            client = clients_service.get_by_ref(s, ref)
            if client is None:
                abort(404)
            kyc_review.decide_document(
                s,
                client=client,
                document_id=document_id,
                approve=decision == "approve",
                actor=current_user().email,
                reason=form.get("reason"),
            )
            label = _label(s, ref, document_id)
    except (Conflict, KycError) as exc:  # a colleague decided first, or no reason given
        flash(f"Not changed: {exc}")
        return _profile(ref)
    flash(f"{label} {'approved' if decision == 'approve' else 'rejected'}")
    return _profile(ref)
