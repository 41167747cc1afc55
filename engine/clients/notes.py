"""Staff notes on a client: create (audited) and list, newest first."""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.audit import service as audit_service
from engine.clients.models import NOTE_MAX, Client, ClientNote
from engine.queries import newest_first
from engine.values import iso, utcnow


class NoteError(ValueError):
    """A note is empty, too long or malformed (the message says which)."""


def _checked(text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        raise NoteError("note: write some text")
    if "\x00" in text:
        raise NoteError("note: contains a NUL character")
    if len(text) > NOTE_MAX:
        raise NoteError(f"note: {len(text)} characters; at most {NOTE_MAX}")
    return text


def create(session: Session, *, client: Client, author: str, text: str | None) -> ClientNote:
    """Add a note to the client and audit it, or raise NoteError storing nothing."""
    note = ClientNote(client_ref=client.ref, author=author, text=_checked(text), created_at=utcnow())
    session.add(note)
    session.flush()
    audit_service.record(
        session,
        actor=author,
        action="client.note",
        target_type="client",
        target_id=client.ref,
        detail={"note_id": note.id},
    )
    return note


def list_for(session: Session, client_ref: str, limit: int = 200) -> list[ClientNote]:
    """Return the client's notes, newest first."""
    return newest_first(session, ClientNote, client_ref, ClientNote.created_at, limit)


def to_dict(note: ClientNote) -> dict:
    """Return the note as JSON-ready data."""
    return {"id": note.id, "at": iso(note.created_at), "author": note.author, "text": note.text}


def timeline_items(notes: list[ClientNote]) -> list[dict]:
    """Return the notes as timeline items."""
    return [
        {"at": iso(n.created_at), "kind": "note", "title": f"Note by {n.author}: {n.text}", "ref": str(n.id)}
        for n in notes
    ]
