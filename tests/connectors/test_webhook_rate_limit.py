"""POST /webhooks/<provider>: repeated signature failures from one address get 429."""

from __future__ import annotations

import logging

import pytest

from tests.connectors.test_sumsub import VECTOR_BODY, VECTOR_SHA256
from tests.web.test_webhooks import SECRETS, app_with, deliveries, events
from web.webhooks import FailureLimiter

ATTACKER, PROVIDER_IP = "203.0.113.7", "198.51.100.20"
GOOD = {"X-Payload-Digest": VECTOR_SHA256, "X-Payload-Digest-Alg": "HMAC_SHA256_HEX"}
BAD = {"X-Payload-Digest": "0" * 64, "X-Payload-Digest-Alg": "HMAC_SHA256_HEX"}


@pytest.fixture(params=["sqlite"])
def backend(request):
    return request.param


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def hooks(database):
    client, db = app_with(database, **SECRETS)
    clock = Clock()
    client.application.extensions["fxcrm_webhook_limiter"] = FailureLimiter(limit=3, window=60, clock=clock)
    return client, db, clock


def post(client, address, headers, provider="sumsub", body=VECTOR_BODY):
    return client.post(
        f"/webhooks/{provider}",
        data=body,
        headers=headers,
        content_type="application/json",
        environ_base={"REMOTE_ADDR": address},
    )


def test_failures_over_the_limit_get_429_with_retry_after(hooks, caplog):
    client, db, clock = hooks
    caplog.set_level(logging.WARNING, logger="web.webhooks")
    assert [post(client, ATTACKER, BAD).status_code for _ in range(3)] == [401, 401, 401]
    clock.now += 15
    limited = post(client, ATTACKER, BAD)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "45"
    # A correct signature from the blocked address waits too: nothing is read or stored.
    assert post(client, ATTACKER, GOOD).status_code == 429
    assert events(db) == [] and len(deliveries(db)) == 3
    warnings = [r.getMessage() for r in caplog.records if r.name == "web.webhooks"]
    assert len(warnings) == 1 and ATTACKER in warnings[0] and "sumsub" in warnings[0]
    assert VECTOR_SHA256 not in warnings[0] and "test-secret" not in warnings[0]


def test_other_addresses_and_providers_are_unaffected(hooks):
    client, db, _clock = hooks
    for _ in range(4):
        post(client, ATTACKER, BAD)
    assert post(client, ATTACKER, BAD).status_code == 429
    assert post(client, PROVIDER_IP, GOOD).status_code == 200
    # Another provider's endpoint keeps its own count for the same address.
    assert post(client, ATTACKER, {}, provider="stripe", body=b"{}").status_code == 401
    assert [e.source for e in events(db)] == ["sumsub"]


def test_the_window_ends_and_successes_do_not_count(hooks, caplog):
    client, _db, clock = hooks
    caplog.set_level(logging.WARNING, logger="web.webhooks")
    for _ in range(3):
        post(client, ATTACKER, BAD)
    assert post(client, ATTACKER, BAD).status_code == 429
    clock.now += 60
    assert post(client, ATTACKER, GOOD).status_code == 200
    assert [post(client, ATTACKER, BAD).status_code for _ in range(3)] == [401, 401, 401]
    assert post(client, ATTACKER, BAD).status_code == 429
    # Logged once per window.
    assert len([r for r in caplog.records if r.name == "web.webhooks"]) == 2


def test_loopback_is_not_limited(hooks):
    client, _db, _clock = hooks
    codes = {post(client, "127.0.0.1", BAD).status_code for _ in range(6)}
    assert codes == {401}


def test_the_default_limit_is_twenty_a_minute(database):
    client, _db = app_with(database, **SECRETS)
    codes = [post(client, ATTACKER, BAD).status_code for _ in range(21)]
    assert codes == [401] * 20 + [429]


def test_behind_a_trusted_proxy_the_forwarded_address_is_limited(database):
    """FXCRM_PROXY_HOPS=1: the proxy's own (loopback) address is not what gets limited."""
    from web import create_app

    cfg = database.config.with_overrides(secrets=SECRETS, proxy_hops=1)
    client = create_app({"TESTING": True, "FXCRM_CONFIG": cfg, "TICKER": False}).test_client()
    client.application.extensions["fxcrm_webhook_limiter"] = FailureLimiter(limit=3, window=60)

    def via_proxy(forwarded, headers):
        return client.post(
            "/webhooks/sumsub",
            data=VECTOR_BODY,
            headers={**headers, "X-Forwarded-For": forwarded},
            content_type="application/json",
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        )

    assert [via_proxy(ATTACKER, BAD).status_code for _ in range(4)] == [401, 401, 401, 429]
    assert via_proxy(PROVIDER_IP, GOOD).status_code == 200


def test_without_trusted_proxies_a_forwarded_header_is_ignored(hooks):
    client, _db, _clock = hooks
    # An attacker cannot dodge the limit by sending a different X-Forwarded-For each time.
    codes = [
        client.post(
            "/webhooks/sumsub",
            data=VECTOR_BODY,
            content_type="application/json",
            headers={**BAD, "X-Forwarded-For": f"192.0.2.{n}"},
            environ_base={"REMOTE_ADDR": ATTACKER},
        ).status_code
        for n in range(4)
    ]
    assert codes == [401, 401, 401, 429]


def test_memory_is_bounded_when_many_addresses_fail(monkeypatch):
    import web.webhooks as hooks_mod

    monkeypatch.setattr(hooks_mod, "MAX_TRACKED", 50)
    clock = Clock()
    limiter = FailureLimiter(limit=2, window=60, clock=clock)
    for n in range(200):  # all within one window: nothing expires
        limiter.failed("sumsub", f"198.51.100.{n % 250}-{n}")
    assert len(limiter._windows) <= 50
    limiter.failed("sumsub", ATTACKER)
    limiter.failed("sumsub", ATTACKER)
    assert limiter.retry_after("sumsub", ATTACKER) == 60
