"""Fuzz every webhook endpoint through the Flask test client.

Unsigned junk must always get 401 and never store an event; correctly signed but
mutated payloads may be accepted, ignored, unmatched or rejected, never a 5xx.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from engine.db import unit_of_work
from engine.events.models import Event
from tests.connectors import helpers as fx
from tests.connectors.test_fuzz import WEBHOOKS, mutate
from tests.web.test_webhooks import SECRETS, app_with, post

FUZZ = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
SIGNERS = {
    "sumsub": lambda body: {
        "X-Payload-Digest": fx.hex_hmac(SECRETS["SUMSUB_SECRET_KEY"], body),
        "X-Payload-Digest-Alg": "HMAC_SHA256_HEX",
    },
    "onfido": lambda body: {"X-SHA2-Signature": fx.hex_hmac(SECRETS["ONFIDO_WEBHOOK_TOKEN"], body)},
    "stripe": lambda body: __import__("tests.web.test_webhooks", fromlist=["stripe_headers"]).stripe_headers(body),
    "nowpayments": lambda body: {
        "x-nowpayments-sig": __import__("tests.web.test_webhooks", fromlist=["_np_sig"])._np_sig(body)
    },
}


# What an HTTP request can carry: token names, values without control characters.
header_text = st.text(st.characters(blacklist_categories=("Cc", "Cs"), max_codepoint=255), max_size=80)
random_headers = st.dictionaries(
    st.sampled_from(
        ["X-Payload-Digest", "X-Payload-Digest-Alg", "X-SHA2-Signature", "Stripe-Signature", "x-nowpayments-sig"]
    )
    | st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=10),
    header_text,
    max_size=4,
)


@pytest.fixture(params=["sqlite"])
def backend(request):
    return request.param


@pytest.fixture
def hooks(database):
    # No Onfido API token: pending read-backs fail at once instead of calling out.
    return app_with(database, **{k: v for k, v in SECRETS.items() if k != "ONFIDO_API_TOKEN"})


def stored(db) -> int:
    with unit_of_work(db) as s:
        return s.scalar(select(func.count()).select_from(Event))


@pytest.mark.parametrize("provider", sorted(SIGNERS))
@FUZZ
@given(body=st.binary(max_size=300), given_headers=random_headers)
def test_unsigned_junk_is_401_and_stores_nothing(hooks, provider, body, given_headers):
    client, db = hooks
    response = post(client, provider, body, given_headers)
    assert response.status_code == 401, response.json
    assert stored(db) == 0


@pytest.mark.parametrize("provider", sorted(SIGNERS))
@FUZZ
@given(data=st.data())
def test_signed_mutations_never_fail_the_server(hooks, provider, data):
    client, _db = hooks
    module = next(m for m in WEBHOOKS if m.NAME == provider)
    fixture = data.draw(st.sampled_from(WEBHOOKS[module]))
    body = fx.compact(mutate(data, fx.load(fixture)))
    response = post(client, provider, body, SIGNERS[provider](body))
    assert response.status_code in (200, 202, 400), (response.status_code, response.json)
    assert response.json["status"] in ("accepted", "duplicate", "ignored", "unmatched", "pending", "rejected")
