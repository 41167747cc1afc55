"""CSRF protection for forms, security headers, and the current user."""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, request, session
from werkzeug.routing import IntegerConverter

# The largest id a BIGINT column holds; a larger path id is simply not found.
MAX_ID = 2**63 - 1


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` that matches only ids the database can hold (larger ones answer 404)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Routes authenticated by a provider signature, never by the session cookie.
CSRF_EXEMPT_PREFIXES = ("/webhooks/",)


def csrf_token() -> str:
    """Return this session's CSRF token, creating it if needed."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _bearer_authenticated() -> bool:
    # A browser never adds this header to a cross-site request, and with it present
    # current_user() ignores the session cookie, so the cookie cannot be ridden.
    return request.headers.get("Authorization", "").startswith("Bearer ")


def _check_csrf() -> None:
    if request.method in SAFE_METHODS or request.path.startswith(CSRF_EXEMPT_PREFIXES):
        return
    if _bearer_authenticated():
        return
    if request.path.startswith("/api/") and not session.get("user_id"):
        return  # no cookie identity to ride: the API answers 401 itself
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        abort(400, description="missing or wrong CSRF token; reload the page and try again")


def unstorable(text: str) -> str | None:
    """Say why `text` cannot be stored as text (a NUL, a lone surrogate), or None."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a character that is not valid Unicode"
    return None


def _refuse_unstorable_text() -> None:
    """Refuse, with where and what, text no database can store in the path or a query
    field (PostgreSQL rejects NUL in text: a NUL in any filter would be a 500). Forms
    check their own fields, so a mistake is shown on the form itself."""
    why = unstorable(request.path)
    if why:
        abort(400, description=f"the address {why}")
    for where, fields in (("query", request.args),):
        for key, values in fields.lists():
            for value in [key, *values]:
                why = unstorable(value)
                if why:
                    abort(
                        400,
                        description=f"{unstorable(key) and 'a ' + where + ' field name' or key}: "
                        f"{why}; nothing was done",
                    )


def _headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'; form-action 'self'",
    )
    if _authenticated() and not request.path.startswith("/static/"):
        # Client data must not stay in a shared proxy or the browser's disk cache.
        response.headers["Cache-Control"] = "no-store"
    return response


def _authenticated() -> bool:
    return bool(session.get("user_id")) or _bearer_authenticated()


def has_endpoint(name: str) -> bool:
    """Return whether the app has a route called `name` (areas other teams may not have built)."""
    from flask import current_app

    return name in current_app.view_functions


def init_app(app: Flask) -> None:
    """Install CSRF checks, security headers, bounded path ids and the template helpers."""
    app.url_map.converters["int"] = BoundedIntConverter  # before the blueprints' routes
    app.before_request(_refuse_unstorable_text)
    app.before_request(_check_csrf)
    app.after_request(_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["has_endpoint"] = has_endpoint
