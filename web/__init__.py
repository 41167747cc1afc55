"""The Flask app: create_app() with one blueprint per area."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from flask import Flask

from engine import config as config_mod
from engine.db import get_database

log = logging.getLogger(__name__)


def _secret_key(cfg: config_mod.Config, instance: Path) -> str:
    if cfg.secret_key:
        return cfg.secret_key
    # Embedded mode without FXCRM_SECRET_KEY: a random key kept in the instance folder.
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def create_app(test_config: dict | None = None) -> Flask:
    """Create the web app; `test_config` may hold FXCRM setting overrides and Flask keys."""
    app = Flask(__name__, instance_path=str(Path("instance").resolve()))
    test_config = dict(test_config or {})
    cfg = test_config.pop("FXCRM_CONFIG", None) or config_mod.load()
    app.config.update(
        SECRET_KEY=_secret_key(cfg, Path(app.instance_path)),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=cfg.cookies_secure,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        TICKER=True,
    )
    app.config.update(test_config)
    app.extensions["fxcrm_db"] = get_database(cfg)
    app.extensions["fxcrm_config"] = cfg
    if cfg.proxy_hops > 0:  # behind N trusted proxies: the client address they forward
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = cfg.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    from web import api, auth, formatting, health, pages, rate_limits, security

    security.init_app(app)
    formatting.register(app)
    for module in (health, auth, api, pages):
        app.register_blueprint(module.bp)
    _register_optional(app)
    rate_limits.init_app(app, cfg)

    if app.config["TICKER"] and not app.testing and not cfg.distributed:
        _start_ticker_on_first_request(app)
    return app


def _start_ticker_on_first_request(app: Flask) -> None:
    """Embedded mode: process in the background, fire timers and sweep once the app serves.

    Started on the first request rather than at creation, so CLI commands that
    build the app never leave a background thread behind.
    """
    import threading

    lock = threading.Lock()

    @app.before_request
    def _ensure_ticker():
        if "fxcrm_ticker" not in app.extensions:
            with lock:
                if "fxcrm_ticker" not in app.extensions:
                    from engine.processing import ticker

                    db = app.extensions["fxcrm_db"]
                    db.background = ticker.Background(db)
                    app.extensions["fxcrm_ticker"] = ticker.start(db)


def _register_optional(app: Flask) -> None:
    """Register the blueprints of the domains' web areas that exist (engine.domains)."""
    from engine.domains import blueprint_modules
    from engine.plugins import import_all

    for module in import_all(blueprint_modules()):
        app.register_blueprint(module.bp)


def database():
    """Return the app's database."""
    from flask import current_app

    return current_app.extensions["fxcrm_db"]
