"""Error answers: pages in the app's layout with a way back; JSON under /api/."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

bp = Blueprint("errors", __name__)
log = logging.getLogger(__name__)

MESSAGES = {
    403: ("Not allowed", "Your role may not open this page or do this."),
    404: ("Not found", "There is nothing here, or nothing you may see."),
    500: ("Something went wrong", "The error has been logged. Please try again later."),
}


def _answer(status: int, detail: str | None):
    """Answer `status` as JSON for the API, or as a page in the layout."""
    title, text = MESSAGES[status]
    if request.path.startswith("/api/"):
        return jsonify(error=detail or text.lower().rstrip(".")), status
    return render_template("errors/error.html", status=status, title=title, text=text, detail=detail), status


@bp.app_errorhandler(403)
def forbidden(exc: HTTPException):
    return _answer(403, None)


@bp.app_errorhandler(404)
def not_found(exc: HTTPException):
    # The same words for "missing" and "not yours", so a 404 never hints.
    return _answer(404, None)


@bp.app_errorhandler(500)
def server_error(exc: Exception):
    # Log the cause only; never show it to the viewer.
    original = getattr(exc, "original_exception", None) or exc
    if not isinstance(original, InternalServerError):
        log.error(
            "unhandled error on %s %s",
            request.method,
            request.path,
            exc_info=(type(original), original, original.__traceback__),
        )
    return _answer(500, None)
