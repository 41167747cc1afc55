"""Client portal accounts: register, confirm the e-mail, sign in, reset the password.

A registration records `client.registered` (source `portal`), so the new client goes
through the same onboarding rules as one a CRM or provider reports. Links sent by
e-mail carry a random token of which only the SHA-256 is stored; each works once and
expires. Failed sign-ins are counted and lock the account for a while, and every path
checks one password hash, so a wrong e-mail costs what a wrong password costs.

Races (two requests at the same moment, tests/concurrency/test_portal.py): whatever
changes a login happens under that login's row lock, taken before any of its tokens'
locks (one order, no deadlock); the unique e-mail decides between two registrations.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine.audit import service as audit_service
from engine.clients.models import Client
from engine.errors import lock_and_reread
from engine.events.store import record
from engine.portal.models import ClientLogin, PortalToken
from engine.users import passwords
from engine.values import iso, utcnow

SOURCE = "portal"
TOKEN_TTL = {"verify": timedelta(days=2), "reset": timedelta(hours=1)}
MAX_FAILURES, LOCK_FOR = 10, timedelta(minutes=15)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[A-Za-z]{2,}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_NAME = re.compile(r"^[^\x00-\x1f\x7f<>]{1,100}$")
# NUL and the C0 controls but tab, line feed and carriage return (PostgreSQL stores no NUL).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def plain(value: str | None) -> bool:
    """Whether `value` is text a person typed (no NUL or other control characters)."""
    return value is None or _CONTROL.search(value) is None


class PortalError(ValueError):
    """A portal request is refused; the message is safe to show the client."""


def actor(login: ClientLogin) -> str:
    """How the audit names a client acting in the portal."""
    return f"client:{login.client_ref}"


def audit(
    session: Session,
    login: ClientLogin,
    action: str,
    *,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Audit what the client did in the portal: the client as actor, its own record as target."""
    audit_service.record(
        session,
        actor=actor(login),
        action=action,
        target_type="client",
        target_id=login.client_ref,
        reason=reason,
        detail=detail,
    )


def record_event(
    session: Session, client_ref: str, event_id: str, type_: str, data: dict[str, Any], at: datetime | None = None
) -> None:
    """Record what the client did in the portal as the client's event (source `portal`)."""
    event = {
        "id": event_id,
        "type": type_,
        "source": SOURCE,
        "occurred_at": iso(at or utcnow()),
        "client": client_ref,
        "data": data,
    }
    record(session, event, via="portal")


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@functools.cache
def _decoy() -> str:
    return generate_password_hash(secrets.token_urlsafe(16), method="scrypt")


def _new_ref(session: Session) -> str:
    """A client ref no one has: W + 8 random digits (not a sequence to guess from)."""
    while True:
        ref = f"W{secrets.randbelow(10**8):08d}"
        if session.scalar(select(Client.id).where(Client.ref == ref)) is None:
            return ref


def register(
    session: Session, *, email: str, password: str, first_name: str, last_name: str, country: str, phone: str = ""
) -> tuple[ClientLogin, str]:
    """Create the client (by its registration event) and its login; return (login, verify token)."""
    email = (email or "").strip().lower()
    problems = _registration_problems(email, password, first_name, last_name, country)
    if not plain(phone):
        problems.append("phone: digits, spaces and + ( ) - only")
    if problems:
        raise PortalError("; ".join(problems))
    if _email_taken(session, email):
        raise PortalError(TAKEN)
    ref, now = _new_ref(session), utcnow()
    data = {
        "email": email,
        "first_name": first_name.strip(),
        "last_name": last_name.strip(),
        "country": country.strip().upper(),
        "client_type": "individual",
        "source": SOURCE,
    }
    if phone.strip():
        data["phone"] = phone.strip()[:40]
    record_event(session, ref, f"registered-{ref}", "client.registered", data, at=now)
    login = ClientLogin(
        client_ref=ref,
        email=email,
        created_at=now,
        failed_logins=0,
        password_hash=generate_password_hash(password, method="scrypt"),
        session_generation=1,
    )
    _insert_login(session, login)
    audit(session, login, "portal.registered", detail={"email": email})
    return login, issue_token(session, login, "verify")


TAKEN = "this e-mail already has an account: sign in, or reset the password"


def _email_taken(session: Session, email: str) -> bool:
    return session.scalar(select(ClientLogin.id).where(ClientLogin.email == email)) is not None


def _insert_login(session: Session, login: ClientLogin) -> None:
    """Insert `login`; the e-mail's unique constraint decides a race between two
    registrations of one address. The one that loses gets the same refusal as a
    registration after it (no more, no less), not a database error: the insert runs in a
    savepoint, so the transaction stays usable to look the address up again."""
    try:
        with session.begin_nested():
            session.add(login)
    except IntegrityError:
        if _email_taken(session, login.email):  # committed by the other registration
            raise PortalError(TAKEN) from None
        raise


def _registration_problems(email: str, password: str, first_name: str, last_name: str, country: str) -> list[str]:
    problems = []
    if not _EMAIL.match(email) or not plain(email):
        problems.append("e-mail: write an address like name@example.com")
    problems += [f"password: {p}" for p in passwords.policy_problems(password or "", email)]
    for label, value in (("first name", first_name), ("last name", last_name)):
        if not _NAME.match((value or "").strip()):
            problems.append(f"{label}: 1 to 100 characters, no < or >")
    if not _COUNTRY.match((country or "").strip().upper()):
        problems.append("country: choose the country you live in")
    return problems


EDITABLE = ("first_name", "last_name", "phone", "country")


def update_details(session: Session, login: ClientLogin, values: Mapping[str, str]) -> dict[str, str]:
    """Record the details the client changed (`client.profile_updated`); return them."""
    client = session.scalar(select(Client).where(Client.ref == login.client_ref))
    if client is None:  # a login is made with its client and a client is never deleted
        raise LookupError(f"login {login.id}: no client {login.client_ref}")
    wanted = {k: (values.get(k) or "").strip() for k in EDITABLE}
    wanted["country"] = wanted["country"].upper()
    changed = {k: v for k, v in wanted.items() if v != (getattr(client, k) or "")}
    problems = [
        f"{k.replace('_', ' ')}: 1 to 100 characters, no < or >"
        for k in ("first_name", "last_name")
        if k in changed and not _NAME.match(changed[k])
    ]
    if "country" in changed and not _COUNTRY.match(changed["country"]):
        problems.append("country: choose the country you live in")
    if "phone" in changed and (len(changed["phone"]) > 40 or not plain(changed["phone"])):
        problems.append("phone: digits, spaces and + ( ) - only")
    if problems:
        raise PortalError("; ".join(problems))
    if changed:
        record_event(
            session, client.ref, f"details-{secrets.token_hex(8)}", "client.profile_updated", {"fields": changed}
        )
        audit(session, login, "portal.details_changed", detail={"fields": sorted(changed)})
    return changed


def issue_token(session: Session, login: ClientLogin, purpose: str) -> str:
    """Return a new one-time token for `purpose`; earlier unused ones of it stop working.

    Under the login's row lock: two requests at once must not leave two live links."""
    lock_and_reread(session, ClientLogin, login)
    now = utcnow()
    for old in session.scalars(
        select(PortalToken).where(
            PortalToken.login_id == login.id, PortalToken.purpose == purpose, PortalToken.used_at.is_(None)
        )
    ):
        old.used_at = now
    raw = secrets.token_urlsafe(32)
    session.add(
        PortalToken(
            login_id=login.id,
            purpose=purpose,
            token_hash=_hash(raw),
            created_at=now,
            expires_at=now + TOKEN_TTL[purpose],
        )
    )
    session.flush()
    return raw


def _use_token(session: Session, raw: str, purpose: str) -> ClientLogin:
    """Spend the one-time token `raw`; return its login, locked for the caller's change.

    The login is locked first, then the token re-read under its own lock, so a link
    opened twice at once works once and a token is never locked before its login (the
    order `issue_token` takes them in)."""
    if not isinstance(raw, str) or not 20 <= len(raw) <= 100:
        raise PortalError("this link is not valid; ask for a new one")
    token = session.scalar(
        select(PortalToken).where(PortalToken.token_hash == _hash(raw), PortalToken.purpose == purpose)
    )
    owner = session.get(ClientLogin, token.login_id) if token is not None else None
    login = lock_and_reread(session, ClientLogin, owner) if owner is not None else None
    if login is not None:
        token = lock_and_reread(session, PortalToken, token)
    if token is None or login is None or token.used_at is not None:
        raise PortalError("this link was already used or is not valid; ask for a new one")
    if token.expires_at < utcnow():
        raise PortalError("this link has expired; ask for a new one")
    token.used_at = utcnow()
    return login


def confirm_email(session: Session, raw: str) -> ClientLogin:
    """Mark the login's e-mail confirmed (the link of the registration mail)."""
    login = _use_token(session, raw, "verify")
    if login.email_verified_at is None:
        login.email_verified_at = utcnow()
        audit(session, login, "portal.email_confirmed")
    return login


def authenticate(session: Session, email: str, password: str) -> ClientLogin:
    """Return the login for a right e-mail and password, or raise PortalError (one message)."""
    login = (
        session.scalar(select(ClientLogin).where(ClientLogin.email == (email or "").strip().lower()))
        if plain(email)
        else None
    )
    if login is None:
        check_password_hash(_decoy(), password or "")
        raise PortalError("the e-mail or the password is wrong")
    checked = login.password_hash
    right = check_password_hash(checked, password or "")
    lock_and_reread(session, ClientLogin, login)
    if login.password_hash != checked:  # reset meanwhile: the password in force decides
        right = check_password_hash(login.password_hash, password or "")
    now = utcnow()
    if login.locked_until and login.locked_until > now:
        _announce_login(session, login, "client.login_failed", now, reason="locked")
        raise PortalError("too many wrong passwords: try again in a few minutes, or reset it")
    if not right:
        login.failed_logins += 1
        if login.failed_logins >= MAX_FAILURES:
            login.failed_logins, login.locked_until = 0, now + LOCK_FOR
        audit(session, login, "portal.login_failed")
        _announce_login(session, login, "client.login_failed", now, reason="wrong_password")
        raise PortalError("the e-mail or the password is wrong")
    if login.email_verified_at is None:
        raise PortalError("confirm your e-mail first: open the link we sent you")
    login.failed_logins, login.locked_until, login.last_login_at = 0, None, now
    audit(session, login, "portal.login")
    _announce_login(session, login, "client.logged_in", now)
    return login


def _announce_login(session: Session, login: ClientLogin, type_: str, at: datetime, **data: object) -> None:
    """Record a sign-in (or a failed one) as the client's event, for rules.

    The caller must commit even when the sign-in fails (web.portal does), so the
    failure counter, its audit entry and this event are kept together."""
    from engine.processing.ingest import record_app_event

    record_app_event(
        session,
        type_=type_,
        client_ref=login.client_ref,
        event_id=f"portal-{type_.rsplit('.', 1)[1]}-{uuid.uuid4().hex}",
        at=at,
        data={"email": login.email, **data},
    )


def request_reset(session: Session, email: str) -> tuple[ClientLogin, str] | None:
    """Return (login, reset token) for a known e-mail, else None (the page says the same)."""
    if not plain(email):
        return None
    login = session.scalar(select(ClientLogin).where(ClientLogin.email == (email or "").strip().lower()))
    return (login, issue_token(session, login, "reset")) if login is not None else None


def reset_password(session: Session, raw: str, password: str) -> ClientLogin:
    """Set a new password with a reset link; every session signed in before ends."""
    login = _use_token(session, raw, "reset")
    problems = passwords.policy_problems(password or "", login.email)
    if problems:
        raise PortalError("; ".join(f"password: {p}" for p in problems))
    login.password_hash = generate_password_hash(password, method="scrypt")
    login.session_generation += 1
    login.failed_logins, login.locked_until = 0, None
    if login.email_verified_at is None:  # the link reached the inbox: the address works
        login.email_verified_at = utcnow()
    audit(session, login, "portal.password_reset")
    return login
