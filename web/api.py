"""The JSON API (bearer tokens): events in, tasks and client profiles out."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify

from engine.clients import service as clients_service
from engine.db import unit_of_work
from engine.events import conflicts
from engine.events.schemas import InvalidEvent, validate_envelope
from engine.events.store import record_many
from engine.processing.ingest import schedule_touched
from web import database
from engine.values import iso
from web.viewhelpers import profile_for
from web.auth import current_user, requires
from web.json_input import json_body

bp = Blueprint("api", __name__, url_prefix="/api")
MAX_EVENTS_PER_REQUEST = 1000


@bp.errorhandler(403)
def _forbidden(_exc):
    return jsonify(error="your role may not do this"), 403


@bp.errorhandler(404)
def _not_found(exc):
    return jsonify(error=getattr(exc, "description", "not found")), 404


@bp.errorhandler(400)
def _bad_request(exc):
    return jsonify(error=getattr(exc, "description", "bad request")), 400


@bp.post("/events")
@requires("events.post")
def post_events():
    """Accept one canonical event or a list; all are validated before any is stored."""
    payload = json_body()
    if payload is None:
        return jsonify(error="the body must be JSON: one event object or a list of them"), 400
    items = payload if isinstance(payload, list) else [payload]
    if len(items) > MAX_EVENTS_PER_REQUEST:
        return jsonify(error=f"at most {MAX_EVENTS_PER_REQUEST} events per request"), 400
    errors, envelopes = [], []
    for index, item in enumerate(items):
        try:
            envelopes.append(validate_envelope(item))
        except InvalidEvent as exc:
            errors.append({"index": index, "problems": exc.problems})
    if errors:
        return jsonify(error="invalid events; nothing was stored", events=errors), 400
    db = database()
    with unit_of_work(db) as session:
        created = record_many(session, envelopes, via="api")
        schedule_touched(session, db)
    results = []
    for env in envelopes:
        key = (env["source"], env["id"])
        # conflict: the id is taken by an event with other content (kept, not applied)
        status = (
            "accepted"
            if key in created
            else ("conflict" if conflicts.digest(env) in created.conflicts else "duplicate")
        )
        created.discard(key)  # a second copy in the same request is a duplicate
        results.append({"source": env["source"], "id": env["id"], "status": status})
    return jsonify(events=results), 202


def _link_json(row) -> dict:
    return {
        "applicant_id": row.applicant_id,
        "client": row.client_ref,
        "source": row.source,
        "linked_by": row.linked_by,
        "linked_at": iso(row.linked_at),
    }


@bp.get("/onfido/applicants/<applicant_id>")
@requires("kyc.link")
def get_onfido_link(applicant_id: str):
    """Return which client an Onfido applicant is linked to (404 when it is not)."""
    from engine.deliveries import applicants

    with unit_of_work(database()) as session:
        row = applicants.get(session, applicant_id.strip().lower())
        if row is None:
            abort(404, description=f"onfido applicant {applicant_id[:60]!r} is not linked")
        return jsonify(_link_json(row))


@bp.put("/onfido/applicants/<applicant_id>")
@requires("kyc.link")
def put_onfido_link(applicant_id: str):
    """Link an Onfido applicant to a client: `{"client": REF, "replace": false}` (audited)."""
    from engine.deliveries import applicants

    body = json_body()
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("client"), str)
        or not isinstance(body.get("replace", False), bool)
    ):
        return jsonify(error='the body must be {"client": "<client ref>", "replace": false}'), 400
    try:
        with unit_of_work(database()) as session:
            row = applicants.link(
                session,
                applicant_id=applicant_id,
                client_ref=body["client"],
                actor=current_user().email,
                replace=body.get("replace", False),
                source="api",
            )
            return jsonify(_link_json(row))
    except applicants.LinkConflict as exc:
        return jsonify(error=f'{exc}; send "replace": true to move it'), 409
    except applicants.LinkError as exc:
        return jsonify(error=str(exc)), 400


@bp.get("/clients/<ref>")
@requires("clients.view")
def get_client(ref):
    """Return the whole client profile."""
    with unit_of_work(database()) as s:
        client = clients_service.get_by_ref(s, ref)
        if client is None:
            abort(404, description=f"no client {ref}")
        return jsonify(profile_for(s, client, current_user().role))


@bp.get("/openapi.json")
def openapi():
    """Return the OpenAPI 3 document of this API."""
    from web.openapi import document

    return jsonify(document())


from web import api_tasks  # noqa: E402,F401  (registers the task routes on bp)
