"""The client profile page: everything needed to act on one client."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from engine.clients import search
from engine.clients import service as clients_service
from engine.db import unit_of_work
from engine.events.catalogue import DOCUMENT_TYPES
from web import database, profile_view
from web.auth import current_user, requires
from web.documents import files_view
from web.viewhelpers import profile_for

bp = Blueprint("clients", __name__)


@bp.get("/clients/<ref>")
@requires("clients.view")
def profile(ref):
    """Show the client: who and where they stand, what needs action, then every section."""
    user = current_user()
    with unit_of_work(database()) as s:
        client = clients_service.get_by_ref(s, ref)
        if client is None:
            abort(404, description=f"no client {ref}")
        view = profile_view.build(profile_for(s, client, user.role), profile_view.load_extras(s, ref), user.role)
        files = files_view(s, ref, view["kyc"]["documents"]) if user.can("documents.view") else None
    return render_template(
        "client.html",
        v=view,
        can_create=user.can("tasks.create"),
        can_note=user.can("clients.note"),
        files=files,
        can_upload=user.can("documents.upload"),
        can_review=user.can("documents.review"),
        document_types=DOCUMENT_TYPES,
    )


@bp.post("/clients/<ref>/notes")
@requires("clients.note")
def add_note(ref):
    """Add a staff note to the client and go back to its profile."""
    from engine.clients import notes

    user = current_user()
    try:
        with unit_of_work(database()) as s:
            client = clients_service.get_by_ref(s, ref)
            if client is None:
                abort(404, description=f"no client {ref}")
            notes.create(s, client=client, author=user.email, text=request.form.get("text"))
    except notes.NoteError as error:
        flash(f"Note not saved: {error}")
        return redirect(url_for("clients.profile", ref=ref) + "#s-notes", code=303)
    flash("Note added.")
    return redirect(url_for("clients.profile", ref=ref) + "#s-notes", code=303)


@bp.get("/clients")
@requires("clients.view")
def find():
    """List the clients matching the search and filters; one match from the top bar opens it."""
    args = request.args.to_dict()
    if args.get("ref") and not args.get("q"):
        args["q"] = args.pop("ref")
    try:
        filters = search.parse_filters(args)
        with unit_of_work(database()) as s:
            rows, cursor = search.search(s, filters, after=args.get("after"))
            clients = [clients_service.summary(c) for c in rows]
    except search.SearchError as error:
        return render_template(
            "clients.html", f=None, clients=[], cursor=None, error=str(error), choices=_choices()
        ), 400
    if args.get("go") and filters.text and len(clients) == 1 and not args.get("after"):
        return redirect(url_for("clients.profile", ref=clients[0]["ref"]))
    return render_template("clients.html", f=filters, clients=clients, cursor=cursor, error=None, choices=_choices())


def _choices() -> dict:
    return {
        "status": search.STATUSES,
        "kyc_status": search.KYC_STATUSES,
        "funnel_stage": search.FUNNEL,
        "risk": search.RISKS,
    }
