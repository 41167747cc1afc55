"""TOTP two-factor login: enrol a secret, confirm it, check codes once each."""

from __future__ import annotations

import hmac

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.users.models import User, UserTotp
from engine.values import utcnow

ISSUER = "fxcrm"
# Codes of the previous and next 30 s step are accepted too (clock drift of phones).
VALID_WINDOW = 1


def get(session: Session, user_id: int) -> UserTotp | None:
    """Return the user's TOTP record (confirmed or not), or None."""
    return session.get(UserTotp, user_id)


def is_enrolled(session: Session, user_id: int) -> bool:
    """Return whether the user has a confirmed second factor."""
    row = get(session, user_id)
    return bool(row and row.confirmed_at)


def begin(session: Session, user: User) -> UserTotp:
    """Give the user a fresh unconfirmed secret (replacing an unconfirmed one)."""
    row = get(session, user.id)
    if row and row.confirmed_at:
        raise ValueError("two-factor login is already on for this user")
    if row is None:
        row = UserTotp(user_id=user.id, last_step=0)
        session.add(row)
    row.secret, row.created_at, row.confirmed_at = pyotp.random_base32(), utcnow(), None
    session.flush()
    return row


def provisioning_uri(row: UserTotp, email: str) -> str:
    """Return the otpauth:// URI an authenticator app reads."""
    return pyotp.TOTP(row.secret).provisioning_uri(name=email, issuer_name=ISSUER)


def confirm(session: Session, user_id: int, code: str) -> bool:
    """Turn two-factor login on if `code` matches the unconfirmed secret."""
    row = _locked(session, user_id)
    if row is None or row.confirmed_at or not _accept(row, code):
        return False
    row.confirmed_at = utcnow()
    return True


def verify(session: Session, user_id: int, code: str) -> bool:
    """Return whether `code` is a fresh, right code of the user's confirmed secret."""
    row = _locked(session, user_id)
    return bool(row and row.confirmed_at and _accept(row, code))


def _locked(session: Session, user_id: int) -> UserTotp | None:
    # Lock and re-read: two requests with the same code must not both see it unused.
    return session.scalars(
        select(UserTotp).where(UserTotp.user_id == user_id).with_for_update().execution_options(populate_existing=True)
    ).one_or_none()


def _accept(row: UserTotp, code: str) -> bool:
    code = (code or "").strip().replace(" ", "")
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return False
    totp = pyotp.TOTP(row.secret)
    now_step = totp.timecode(utcnow())
    for step in range(now_step - VALID_WINDOW, now_step + VALID_WINDOW + 1):
        if step > row.last_step and hmac.compare_digest(totp.generate_otp(step), code):
            row.last_step = step
            return True
    return False
