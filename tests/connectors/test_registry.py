"""The connector registry, the shared API of webhook connectors, and import hygiene."""

from __future__ import annotations

import subprocess
import sys

import pytest

import connectors


def test_registry_names_every_connector():
    assert sorted(connectors.REGISTRY) == ["bank_camt054", "mt5", "nowpayments", "onfido", "stripe", "sumsub"]
    for name, module in connectors.REGISTRY.items():
        assert module.NAME == name and connectors.get(name) is module


@pytest.mark.parametrize("name", connectors.WEBHOOKS)
def test_webhook_connectors_share_one_api(name):
    module = connectors.get(name)
    for function in ("verify", "parse", "delivery_id", "normalize"):
        assert callable(getattr(module, function)), (name, function)
    assert connectors.SignatureError in module.ERRORS
    assert connectors.MalformedPayload in module.ERRORS


def test_unknown_provider():
    with pytest.raises(connectors.UnknownProvider, match="known: bank_camt054"):
        connectors.get("paypal")


def test_connectors_import_no_database_no_flask_and_no_engine():
    code = (
        "import sys, connectors, connectors.mt5_feed;"
        "bad = [m for m in ('flask', 'sqlalchemy', 'engine', 'web') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
