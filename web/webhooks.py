"""POST /webhooks/<provider>: verify on the raw body, store, answer fast."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

import connectors
from engine.deliveries import fetches, intake
from engine.values import utcnow
from web import database

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
MAX_BODY = 1024 * 1024  # provider notifications are a few kilobytes


@bp.post("/<provider>")
def receive(provider: str):
    """Take one provider delivery; the answer's status code is what the provider acts on."""
    if provider not in connectors.WEBHOOKS:
        abort(404)
    if (request.content_length or 0) > MAX_BODY:
        return jsonify(status="rejected", reason="body too large"), 413
    db = database()
    # The raw bytes: signatures are over the body exactly as sent.
    body = request.get_data(cache=False)
    outcome = intake.receive(db, provider=provider, headers=request.headers, body=body,
                             now=utcnow(), on_pending=lambda: fetches.schedule(db))
    return jsonify(outcome.as_json()), outcome.http_status


@bp.errorhandler(404)
def _not_found(_exc):
    return jsonify(status="rejected", reason="no such webhook"), 404
