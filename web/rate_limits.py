"""Rate limits (Flask-Limiter): sign-in per address and per e-mail, the API per caller.

Counters live in Redis in distributed mode, so every gunicorn worker and host shares
them; in embedded mode (one process) they live in memory.
"""

from __future__ import annotations

import hashlib

from flask import Flask, jsonify, render_template, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address

from engine.config import Config


def _email_key() -> str:
    # Hashed so the limiter's storage holds no e-mail addresses.
    email = request.form.get("email", "").strip().lower()
    return "email:" + hashlib.sha256(email.encode()).hexdigest()


def _api_key() -> str:
    # A bearer token is the caller; without one, the address is.
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return "token:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()
    return "addr:" + get_remote_address()


def _too_many(error: RateLimitExceeded):
    """Answer 429 (JSON on the API, a page elsewhere); Flask-Limiter adds Retry-After."""
    if request.path.startswith("/api/"):
        return jsonify(error="too many requests; retry later", limit=str(error.limit.limit)), 429
    return render_template("too_many.html", limit=error.limit.limit), 429


def _limit_portal(app: Flask, limiter: Limiter, cfg: Config) -> None:
    """Clients' sign-in, registration and reset links are limited like staff sign-in."""
    if "portal.login" not in app.view_functions:
        return
    view = limiter.limit(cfg.login_rate_limit, key_func=_email_key, methods=["POST"], scope="portal-login-email")(
        app.view_functions["portal.login"]
    )
    app.view_functions["portal.login"] = limiter.limit(
        cfg.login_address_rate_limit, methods=["POST"], scope="portal-login-address"
    )(view)
    for endpoint in ("portal.register", "portal.reset_request", "portal.reset"):
        app.view_functions[endpoint] = limiter.limit(
            cfg.login_rate_limit, methods=["POST"], scope=f"{endpoint}-address"
        )(app.view_functions[endpoint])


def init_app(app: Flask, cfg: Config) -> Limiter:
    """Install the limits on the login form and the API blueprint."""
    limiter = Limiter(
        get_remote_address,
        app=app,
        headers_enabled=True,
        storage_uri=cfg.redis_url if cfg.distributed else "memory://",
        key_prefix=cfg.rate_limit_prefix,
        strategy="fixed-window",
    )
    login = app.view_functions["auth.login"]
    login = limiter.limit(cfg.login_rate_limit, key_func=_email_key, methods=["POST"], scope="login-email")(login)
    app.view_functions["auth.login"] = limiter.limit(
        cfg.login_address_rate_limit, methods=["POST"], scope="login-address"
    )(login)
    if "two_factor.login_code" in app.view_functions:  # guessing codes is limited like passwords
        app.view_functions["two_factor.login_code"] = limiter.limit(
            cfg.login_address_rate_limit, methods=["POST"], scope="login-code"
        )(app.view_functions["two_factor.login_code"])
    _limit_portal(app, limiter, cfg)
    limiter.limit(cfg.api_rate_limit, key_func=_api_key, scope="api")(app.blueprints["api"])
    app.register_error_handler(429, _too_many)
    app.extensions["fxcrm_limiter"] = limiter
    return limiter
