"""Staff fetch a client's files from the KYC provider from the profile, or with the CLI."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from engine.cli import main
from tests.documents.conftest import png
from tests.documents.kyc_api import SUMSUB_SECRET, SUMSUB_TOKEN, KycApi
from tests.kyc.helpers import ingest, registered
from tests.web.conftest import csrf


@pytest.fixture
def api(database):
    server = KycApi()
    database.config = database.config.with_overrides(
        secrets={"SUMSUB_APP_TOKEN": SUMSUB_TOKEN, "SUMSUB_APP_SECRET": SUMSUB_SECRET, "SUMSUB_BASE_URL": server.url}
    )
    yield server
    server.stop()


def test_staff_fetch_from_the_profile_and_the_cli(api, as_role, database, monkeypatch):
    ingest(database, registered("C5"))
    api.sumsub["C5"] = {
        "id": "app-5",
        "items": [{"id": "77", "idDocDef": {"idDocType": "ID_CARD"}, "addedDate": "2026-11-01 08:00:00"}],
    }
    api.files["77"] = (png(), "image/png")
    page = as_role("compliance")
    r = page.post("/clients/C5/documents/fetch", data={"csrf_token": csrf(page), "provider": "sumsub"})
    assert r.status_code == 302
    html = page.get("/clients/C5").get_data(as_text=True)
    assert "Fetched: 1 new file(s) from sumsub" in html and "Identity document" in html
    sales = as_role("sales")
    assert (
        sales.post("/clients/C5/documents/fetch", data={"csrf_token": csrf(sales), "provider": "sumsub"}).status_code
        == 403
    )
    monkeypatch.setattr("engine.deliveries.cli._database", lambda: database)
    out = CliRunner().invoke(main, ["documents", "fetch", "C5", "--provider", "sumsub"])
    assert out.exit_code == 0 and out.output.strip() == "0 new file(s) from sumsub; 1 already here"
    out = CliRunner().invoke(main, ["documents", "fetch", "C5", "--provider", "onfido"])
    assert out.exit_code == 1 and "set FXCRM_ONFIDO_API_TOKEN" in out.output
