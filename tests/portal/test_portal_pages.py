"""The client portal over HTTP: register, confirm by e-mail, sign in, act; never staff pages."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from engine.audit.models import AuditEntry
from engine.clients.models import Client
from engine.db import unit_of_work
from engine.documents.models import DocumentFile
from engine.events.models import Event
from engine.portal.models import ClientLogin, PortalToken
from engine.tasks.models import Task
from tests.documents.conftest import png
from tests.notifications.smtp_server import SmtpServer
from web import create_app

PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def portal(database, smtp):
    database.config = database.config.with_overrides(smtp_url=smtp.url)
    app = create_app({"TESTING": True, "FXCRM_CONFIG": database.config, "TICKER": False})
    return app.test_client()


def csrf(client, path="/portal/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))[1]


def register(client, email="ana@example.com", **extra):
    return client.post(
        "/portal/register",
        data={
            "csrf_token": csrf(client, "/portal/register"),
            "email": email,
            "password": PASSWORD,
            "first_name": "Ana",
            "last_name": "Lopez",
            "country": "ES",
            **extra,
        },
    )


def link_in(smtp, kind: str) -> str:
    body = smtp.messages[-1]["message"].get_payload(decode=True).decode()
    return re.search(rf"http://localhost(/portal/{kind}/\S+)", body)[1]


def sign_in(client, email="ana@example.com", password=PASSWORD):
    return client.post("/portal/login", data={"csrf_token": csrf(client), "email": email, "password": password})


def signed_up(client, smtp) -> None:
    """Register Ana, confirm her e-mail with the mailed link and sign her in."""
    register(client)
    client.get(link_in(smtp, "verify"))
    sign_in(client)


def test_register_confirm_and_sign_in(portal, smtp, database):
    r = register(portal)
    assert r.status_code == 200 and "We sent a link to ana@example.com" in r.get_data(as_text=True)
    with unit_of_work(database) as s:
        login = s.scalar(select(ClientLogin))
        client = s.scalar(select(Client).where(Client.ref == login.client_ref))
        event = s.scalar(select(Event).where(Event.type == "client.registered"))
        stored = s.scalar(select(PortalToken.token_hash))
    assert (client.email, client.first_name, client.country) == ("ana@example.com", "Ana", "ES")
    assert event.source == "portal" and login.email_verified_at is None
    link = link_in(smtp, "verify")
    assert link.rsplit("/", 1)[1] not in stored  # only a hash of the token is kept
    refused = sign_in(portal)
    assert refused.status_code == 401 and "confirm your e-mail first" in refused.get_data(as_text=True)
    assert portal.get(link).status_code == 302
    assert portal.get(link).status_code == 400  # a link works once
    assert sign_in(portal).status_code == 302
    home = portal.get("/portal").get_data(as_text=True)
    assert "Hello Ana Lopez" in home and "We need your documents" in home


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("email", "not-an-address", "e-mail: write an address like name@example.com"),
        ("password", "short", "password:"),
        ("country", "Spain", "country: choose the country you live in"),
        ("first_name", "<script>", "first name: 1 to 100 characters, no &lt; or &gt;"),
    ],
)
def test_a_bad_registration_says_what_and_stores_nothing(portal, database, field, value, message):
    r = register(portal, **{field: value})
    assert r.status_code == 400 and message in r.get_data(as_text=True)
    with unit_of_work(database) as s:
        assert s.scalar(select(ClientLogin)) is None and s.scalar(select(Event)) is None


def test_a_client_acts_and_staff_see_it(portal, smtp, database):
    signed_up(portal, smtp)
    token = csrf(portal, "/portal")
    r = portal.post(
        "/portal/documents",
        content_type="multipart/form-data",
        data={"csrf_token": token, "document_type": "id", "file": (io.BytesIO(png()), "id.png", "image/png")},
    )
    assert r.status_code == 302
    home = portal.get("/portal").get_data(as_text=True)
    assert "is sent and under review" in home and "Under review" in home
    portal.post(
        "/portal/support",
        data={"csrf_token": token, "subject": "Card declined", "message": "My card was declined twice."},
    )
    r = portal.post(
        "/portal/withdrawals", data={"csrf_token": token, "amount": "50", "currency": "USD", "method": "card"}
    )
    assert "you have no wallet in this currency" in portal.get("/portal").get_data(as_text=True)
    with unit_of_work(database) as s:
        login = s.scalar(select(ClientLogin))
        ref = login.client_ref
        doc = s.scalar(select(DocumentFile))
        task = s.scalar(select(Task).where(Task.queue == "support"))
        actions = [a.action for a in s.scalars(select(AuditEntry).where(AuditEntry.target_id == ref))]
    assert (doc.client_ref, doc.source, doc.uploaded_by) == (ref, "portal", f"client:{ref}")
    assert task.title == "Client message: Card declined" and task.client_ref == ref
    assert task.created_by == f"client:{ref}"
    assert {
        "portal.registered",
        "portal.email_confirmed",
        "portal.login",
        "document.received",
        "portal.support_message",
    } <= set(actions)


def test_a_client_never_reaches_staff_pages_nor_another_clients_data(portal, smtp, database):
    signed_up(portal, smtp)
    for path in (
        "/inbox",
        "/clients",
        "/clients/C1",
        "/admin/users",
        "/withdrawals",
        "/rules",
        "/audit",
        "/api/tasks",
        "/documents/" + "A" * 32,
    ):
        r = portal.get(path)
        assert r.status_code in (302, 401, 403), path
        assert "/portal" not in r.headers.get("Location", ""), path  # staff sign-in, not ours
    r = portal.post(
        "/portal/documents",
        content_type="multipart/form-data",
        data={"csrf_token": "wrong", "document_type": "id", "file": (io.BytesIO(png()), "a.png")},
    )
    assert r.status_code == 400


def test_password_reset_by_e_mail_ends_old_sessions(portal, smtp, database, app):
    signed_up(portal, smtp)
    other = app.test_client()
    r = other.post("/portal/reset", data={"csrf_token": csrf(other, "/portal/reset"), "email": "ana@example.com"})
    assert "If an account uses this address" in r.get_data(as_text=True)
    unknown = other.post(
        "/portal/reset", data={"csrf_token": csrf(other, "/portal/reset"), "email": "nobody@example.com"}
    )
    # An unknown address gets the same answer and no e-mail: nobody learns who has an account.
    assert unknown.status_code == 200 and len(smtp.messages) == 2
    assert "If an account uses this address" in unknown.get_data(as_text=True)
    link = link_in(smtp, "reset")
    new = "another long passphrase 77"
    weak = other.post(link, data={"csrf_token": csrf(other, link), "password": "password"})
    assert weak.status_code == 400
    assert other.post(link, data={"csrf_token": csrf(other, link), "password": new}).status_code == 302
    assert portal.get("/portal").status_code == 302  # the old session ended
    assert sign_in(other, password=PASSWORD).status_code == 401
    assert sign_in(other, password=new).status_code == 302


CAMT = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn>
<GrpHdr><MsgId>T-1</MsgId><CreDtTm>2030-01-02T18:00:00Z</CreDtTm></GrpHdr>
<Ntfctn><Id>N-1</Id><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Ntry><NtryRef>E-1</NtryRef><Amt Ccy="EUR">250.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2030-01-02</Dt></BookgDt><AcctSvcrRef>B-1</AcctSvcrRef>
<NtryDtls><TxDtls><RmtInf><Ustrd>{reference}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"""


def test_a_wire_deposit_reference_is_matched_and_money_moves_to_an_account(portal, smtp, database):
    from datetime import datetime, timezone

    from engine.deliveries.replay import replay_camt054
    from tests.helpers import event
    from engine.processing.ingest import ingest_lines
    import json

    database.config = database.config.with_overrides(
        bank_wire_beneficiary="Demo Broker Ltd", bank_wire_iban="DE89370400440532013000", bank_wire_bic="COBADEFFXXX"
    )
    signed_up(portal, smtp)
    token = csrf(portal, "/portal")
    home = portal.get("/portal").get_data(as_text=True)
    assert "DE89370400440532013000" in home and "Demo Broker Ltd" in home
    assert "not a number" not in home
    bad = portal.post("/portal/deposits", data={"csrf_token": token, "amount": "2.505", "currency": "EUR"})
    assert "at most 2 decimals" in portal.get("/portal").get_data(as_text=True) and bad.status_code == 302
    portal.post("/portal/deposits", data={"csrf_token": token, "amount": "250", "currency": "EUR"})
    home = portal.get("/portal").get_data(as_text=True)
    reference = re.search(r'class="deposit-reference">([^<]+)<', home)[1]
    assert "Waiting for your transfer" in home
    report = replay_camt054(
        database, CAMT.format(reference=reference).encode(), datetime(2030, 1, 2, 19, tzinfo=timezone.utc)
    )
    assert report.counts.get("accepted") == 1, report.entries
    home = portal.get("/portal").get_data(as_text=True)
    assert "Received" in home and "250.00 EUR" in home
    with unit_of_work(database) as s:
        ref = s.scalar(select(ClientLogin.client_ref))
    ingest_lines(
        database,
        [
            json.dumps(
                event(
                    "account.created",
                    ref,
                    account_id="MT-77",
                    platform="mt5",
                    currency="EUR",
                    account_type="standard",
                    leverage=100,
                )
            )
        ],
    )
    r = portal.post(
        "/portal/transfers",
        data={"csrf_token": token, "from": "wallet", "to": "MT-77", "amount": "100", "currency": "EUR"},
    )
    assert r.status_code == 302
    home = portal.get("/portal").get_data(as_text=True)
    assert "Moved 100 EUR from wallet to MT-77" in home and "150.00 EUR" in home
    portal.post(
        "/portal/transfers",
        data={"csrf_token": token, "from": "wallet", "to": "C1-ACCOUNT", "amount": "10", "currency": "EUR"},
    )
    assert "Not moved:" in portal.get("/portal").get_data(as_text=True)  # not its account


@pytest.mark.parametrize(
    "path, field",
    [
        ("/portal/register", "email"),
        ("/portal/register", "phone"),
        ("/portal/login", "email"),
        ("/portal/reset", "email"),
    ],
)
def test_nul_characters_are_refused_never_a_500(portal, database, path, field):
    data = {
        "csrf_token": csrf(portal, path),
        "email": "ana@example.com",
        "password": PASSWORD,
        "first_name": "Ana",
        "last_name": "Lopez",
        "country": "ES",
        field: "a\x00b@example.com",
    }
    response = portal.post(path, data=data)
    assert response.status_code in (200, 400, 401), response.status_code
    with unit_of_work(database) as s:
        assert s.scalar(select(ClientLogin)) is None


def test_a_support_message_with_nul_is_refused(portal, smtp, database):
    signed_up(portal, smtp)
    portal.post("/portal/support", data={"csrf_token": csrf(portal, "/portal"), "subject": "Hi\x00", "message": "x"})
    assert "as plain text" in portal.get("/portal").get_data(as_text=True)
    with unit_of_work(database) as s:
        assert s.scalar(select(Task)) is None


def test_a_client_changes_its_details(portal, smtp, database):
    signed_up(portal, smtp)
    token = csrf(portal, "/portal")
    form = {
        "csrf_token": token,
        "first_name": "Ana",
        "last_name": "López García",
        "phone": "+34 600 123 456",
        "country": "es",
    }
    portal.post("/portal/details", data=form)
    assert "Your details are saved." in portal.get("/portal").get_data(as_text=True)
    portal.post("/portal/details", data={**form, "country": "Spain"})
    assert "Not saved: country: choose the country you live in" in portal.get("/portal").get_data(as_text=True)
    with unit_of_work(database) as s:
        client = s.scalar(select(Client))
        updates = s.scalars(select(Event).where(Event.type == "client.profile_updated")).all()
    assert (client.last_name, client.phone, client.country) == ("López García", "+34 600 123 456", "ES")
    assert len(updates) == 1 and sorted(updates[0].data["fields"]) == ["last_name", "phone"]


def test_documents_sent_in_the_portal_stop_the_reminders(portal, smtp, database):
    from datetime import timedelta

    from engine.notifications.models import Notification
    from engine.rules import activation
    from engine.rules.loader import load_dir
    from engine.rules.timers import fire_due
    from engine.values import utcnow

    with unit_of_work(database) as s:
        activation.activate_files(
            s, {f"onboarding/{n}": t for n, t in load_dir("rules/onboarding").items()}, actor="test"
        )
    register(portal)
    register(portal.application.test_client(), email="bo@example.com")
    with unit_of_work(database) as s:
        logins = {login.email: login for login in s.scalars(select(ClientLogin))}
        for login in logins.values():
            login.email_verified_at = utcnow()
    sign_in(portal)
    token = csrf(portal, "/portal")
    for kind in ("id", "proof_of_address"):
        portal.post(
            "/portal/documents",
            content_type="multipart/form-data",
            data={"csrf_token": token, "document_type": kind, "file": (io.BytesIO(png()), f"{kind}.png", "image/png")},
        )
    fire_due(database, now=utcnow() + timedelta(days=8))
    with unit_of_work(database) as s:
        reminded = {
            n.client_ref
            for n in s.scalars(select(Notification).where(Notification.template == "kyc-documents-reminder"))
        }
    assert reminded == {logins["bo@example.com"].client_ref}  # Ana sent hers, Bo did not
