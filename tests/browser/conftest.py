"""A real server on a SQLite database and a headless Debian chromium driven by Playwright."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from engine.db import forget_databases, get_database, unit_of_work
from engine.events.store import record
from engine.tasks import service as tasks_service
from tests import services
from tests.conftest import make_config
from tests.helpers import add_staff, registered, rule_task
from tests.helpers import staff_email as email

CHROMIUM = os.environ.get("FXCRM_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
PASSWORD = "browser-pass-123"
VERSION = "0f1e2d3c4b5a69788796a5b4"  # the ruleset version the seeded rule tasks name

pytestmark = pytest.mark.browser


def _seed(database) -> dict:
    from werkzeug.security import generate_password_hash

    digest = generate_password_hash(PASSWORD, method="scrypt")
    ids: dict = {}
    with unit_of_work(database) as s:
        add_staff(s, digest)
        seq, _ = record(s, registered("C100", first_name="Anna", last_name="Meyer"), via="api")
        for n, queue in enumerate(("compliance", "finance", "support", "sales", "ib_ops") * 2):
            why = {
                "description": f"The {queue} team reviews this.",
                "conditions": [{"text": "event.amount >= 10 USD", "result": "true", "read": "event.amount = 250 USD"}],
                "facts": {"client.kyc.status": "pending", "event.amount": "250 USD"},
            }
            task = rule_task(
                s,
                queue,
                "C100",
                f"{queue} check {n}",
                seq,
                version=VERSION,
                why=why,
                priority=("normal", "high")[n % 2],
            )
            ids.setdefault(queue, []).append(task.id)
    return ids


def serve(tmp_path_factory, sqlite_template, **overrides):
    """Serve the app on 127.0.0.1 (free port) over a seeded SQLite copy; yield (url, task ids, config)."""
    if not Path(CHROMIUM).exists():
        if services.REQUIRED:
            pytest.fail(
                f"chromium is required (FXCRM_TEST_REQUIRE_SERVICES=1) but {CHROMIUM} "
                f"is missing; run: sudo bash .ci/install-browser",
                pytrace=False,
            )
        pytest.skip(f"chromium is not installed at {CHROMIUM}; run .ci/install-browser")
    from web import create_app

    folder = tmp_path_factory.mktemp("browser")
    url = services.sqlite_copy(sqlite_template, folder)
    forget_databases()
    cfg = make_config(url, documents_url=str(folder / "documents"), **overrides)
    ids = _seed(get_database(cfg))
    app = create_app({"FXCRM_CONFIG": cfg, "TICKER": False})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", ids, cfg
    httpd.shutdown()
    forget_databases()


@pytest.fixture(scope="module")
def server(tmp_path_factory, sqlite_template):
    """The app over a seeded SQLite copy (a test module seeds what else it needs through
    `get_database(server[2])`)."""
    yield from serve(tmp_path_factory, sqlite_template)


@pytest.fixture(scope="module")
def browser(server):
    """A headless chromium for the whole module."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    """A fresh browser context at 1280x800 (a laptop screen)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=server[0])
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


def login(page, role: str) -> None:
    """Log in through the form as the user of `role`."""
    page.goto("/login")
    page.get_by_label("Email").fill(email(role))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def shot(page, name: str) -> None:
    """Save a full-page screenshot into test-artifacts/browser/."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
