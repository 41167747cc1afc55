"""The MT5 Web API client against a local server that checks the handshake as MT5 does."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

import pytest

from connectors import mt5_webapi
from connectors.mt5_webapi import AuthError, WebApi, WebApiError, password_hash, rand_answer
from tests.connectors import helpers as fx
from tests.connectors.mt5_server import MANAGER, PASSWORD, Mt5Server

DEALS = [json.loads(line) for line in fx.raw("mt5/deals_export.jsonl").splitlines()[:9]]


@pytest.fixture
def mt5():
    server = Mt5Server()
    server.deals = DEALS
    yield server
    server.close()


def client(server, password=PASSWORD) -> WebApi:
    return WebApi(server.url, login=MANAGER, password=password)


def test_hashes_match_the_metaquotes_documentation_example():
    # webapi_rest_authentication: password Password1, its hash, and both worked answers.
    hashed = password_hash("Password1")
    assert hashed.hex() == "904ba8ecb16273d2f0ae9c3b8a023752"
    assert rand_answer(hashed, bytes.fromhex("73007dc7184747ce0f7c98516ef1c851")) == (
        "77fe51827f7fa69dd80fbec9aa33f1bb"
    )
    assert rand_answer(hashed, bytes.fromhex("4db98fec17aab4dc5a240bdc659e8395")) == (
        "1732021b1b332f51660b2b315eed3a35"
    )


def test_login_then_deals_page_by_page(mt5):
    api = client(mt5)
    deals = list(api.deals(1011, 0, 2_000_000_000, page_size=4))
    assert sorted(d["Deal"] for d in deals) == [3, 10, 11, 12, 20, 21, 30, 31, 40]
    start = mt5.requests[0][1]
    assert mt5.requests[0][0] == "/api/auth/start"
    assert (start["login"], start["type"], start["agent"]) == (MANAGER, "manager", "fxcrm")
    assert int(start["version"]) >= 484
    pages = [q for p, q in mt5.requests if p == "/api/deal/get_page"]
    assert [(q["login"], q["offset"], q["total"]) for q in pages] == [
        ("1011", "0", "4"),
        ("1011", "4", "4"),
        ("1011", "8", "4"),
    ]
    assert mt5.paths().count("/api/auth/answer") == 1 and api.logins == 1


def test_unauthenticated_calls_are_refused_by_the_server(mt5):
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{mt5.url}/api/deal/get_page?login=1011&from=0&to=1&offset=0&total=1", timeout=5)
    assert caught.value.code == 403


def test_wrong_password_is_a_clear_error_without_the_password(mt5, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as caught:
        list(client(mt5, password="wrong-password").deals(1011, 0, 1))
    reason = caught.value.reason
    assert "/api/auth/answer" in reason and "1001 Invalid account" in reason
    assert "FXCRM_MT5_MANAGER_PASSWORD" in reason and "wrong-password" not in reason
    assert "wrong-password" not in caplog.text
    assert "/api/deal/get_page" not in mt5.paths()


def test_wrong_login_is_refused_at_start(mt5):
    api = WebApi(mt5.url, login="999", password=PASSWORD)
    with pytest.raises(AuthError, match="auth/start.*1001 Invalid account"):
        api.authenticate()


def test_a_server_that_does_not_know_the_password_is_refused(mt5):
    mt5.bad_cli_answer = True
    api = client(mt5)
    with pytest.raises(AuthError, match="cli_rand_answer is wrong"):
        list(api.deals(1011, 0, 2_000_000_000))
    assert not api.authenticated and "/api/deal/get_page" not in mt5.paths()


def test_close_says_quit(mt5):
    api = client(mt5)
    api.authenticate()
    api.close()
    assert mt5.paths()[-1] == "/api/quit" and not api.authenticated


def test_an_expired_session_logs_in_again(mt5):
    api = client(mt5)
    assert len(list(api.deals(1011, 0, 2_000_000_000))) == 9
    mt5.expire()
    assert len(list(api.deals(1011, 0, 2_000_000_000))) == 9
    assert api.logins == 2 and mt5.paths().count("/api/auth/start") == 2


def test_a_closed_connection_logs_in_again(mt5):
    api = client(mt5)
    list(api.deals(1011, 0, 2_000_000_000))
    mt5.close_next = True  # the server ends the keep-alive connection (and its session)
    list(api.deals(1011, 0, 2_000_000_000))
    assert len(list(api.deals(1011, 0, 2_000_000_000))) == 9
    assert api.logins == 2


def test_a_connection_dropped_by_the_server_logs_in_again(mt5):
    api = client(mt5)
    list(api.deals(1011, 0, 2_000_000_000))
    mt5.drop_connections()  # the access server's 180-second idle rule
    assert len(list(api.deals(1011, 0, 2_000_000_000))) == 9
    assert api.logins == 2


def test_a_session_refused_again_after_login_is_an_error(mt5):
    api = client(mt5)
    api.authenticate()
    mt5.refuse_all = True
    with pytest.raises(WebApiError, match="HTTP 403 right after a new login"):
        list(api.deals(1011, 0, 1))
    assert api.logins == 2


@pytest.mark.parametrize("retcode", ["13 Not found", "9 Operation timeout"])
def test_a_retcode_error_is_raised_with_the_retcode(mt5, retcode):
    mt5.fail_retcode = retcode
    with pytest.raises(WebApiError) as caught:
        list(client(mt5).deals(1011, 0, 1))
    assert retcode in caught.value.reason and "/api/deal/get_page" in caught.value.reason


def test_configuration_errors_say_what_is_missing():
    with pytest.raises(WebApiError, match="base URL"):
        WebApi("mt5.example.com", login="1", password="x")
    with pytest.raises(WebApiError, match="use https://"):
        WebApi("http://mt5.example.com:443", login="1", password="x")
    with pytest.raises(WebApiError, match="login: expected a number"):
        WebApi("https://mt5.example.com", login="", password="x")
    with pytest.raises(WebApiError, match="password: not set"):
        WebApi("https://mt5.example.com", login="1", password="")


def test_the_password_is_not_kept():
    api = WebApi("https://mt5.example.com", login="1", password="s3cret-Pa55")
    assert "s3cret-Pa55" not in repr(api) and "s3cret-Pa55" not in repr(vars(api))


def test_unreachable_server_is_an_error():
    api = WebApi("http://127.0.0.1:9", login="1", password="x", timeout=2)
    with pytest.raises(WebApiError, match="auth/start"):
        api.authenticate()
    assert mt5_webapi.PAGE_SIZE == 100
