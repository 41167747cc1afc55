"""Staff users, password checks with lockout, and hashed API tokens."""
from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine.users import passwords
from engine.users.models import ROLES, ApiToken, User
from engine.values import utcnow

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD = passwords.MIN_LENGTH


class UserError(ValueError):
    """A user operation is not allowed (the message says why)."""


def get_by_email(session: Session, email: str) -> User | None:
    """Return the user with this email (case-insensitive), or None."""
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def create(session: Session, *, email: str, role: str, password: str | None = None,
           name: str | None = None, ib_id: str | None = None) -> tuple[User, str]:
    """Create a staff user; return (user, password), generating a password if none is given."""
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if "@" not in email:
        raise UserError(f"not an email address: {email!r}")
    if get_by_email(session, email):
        raise UserError(f"a user {email} already exists")
    if role == "partner" and not ib_id:
        raise UserError("a partner user needs the IB id it belongs to (--ib)")
    password = password or secrets.token_urlsafe(12)
    check_password_policy(password, email)
    user = User(email=email.strip().lower(), role=role, name=name, ib_id=ib_id,
                password_hash=generate_password_hash(password, method="scrypt"),
                active=True, failed_logins=0, created_at=utcnow())
    session.add(user)
    session.flush()
    return user, password


def verify_password(password_hash: str, password: str) -> bool:
    """Check `password` against a stored scrypt hash."""
    return check_password_hash(password_hash, password)


@functools.cache
def _decoy_hash() -> str:
    # Unknown and inactive accounts are checked against this, so they cost what a real check costs.
    return generate_password_hash(secrets.token_urlsafe(16), method="scrypt")


def check_password_policy(password: str, email: str) -> None:
    """Raise UserError saying why `password` may not be set for `email` (new passwords only)."""
    problems = passwords.policy_problems(password, email)
    if problems:
        raise UserError("the password is refused: " + "; ".join(problems))


def authenticate(session: Session, email: str, password: str, *,
                 verify: Callable[[str, str], bool] = verify_password) -> User | None:
    """Return the user if the password is right; count failures and lock after too many.

    Every path does exactly one password check (`verify`), so unknown, inactive, locked
    and wrong answers take the same time. The counter is updated under a row lock on a
    freshly re-read row, so parallel guesses are all counted.
    """
    user = get_by_email(session, email)
    if user is None or not user.active or not user.password_hash:
        verify(_decoy_hash(), password)
        return None
    right = verify(user.password_hash, password)
    user = _lock_user(session, user.id)
    now = utcnow()
    if user.locked_until and user.locked_until > now:
        return None
    if right:
        user.failed_logins, user.locked_until = 0, None
        return user
    _count_failure(user, now)
    session.flush()
    return None


def is_locked(session: Session, user_id: int) -> bool:
    """Return whether the user is locked out for now."""
    user = session.get(User, user_id)
    return bool(user and user.locked_until and user.locked_until > utcnow())


def record_failed_login(session: Session, user_id: int) -> None:
    """Count a failed sign-in step (e.g. a wrong second-factor code) toward the lockout."""
    _count_failure(_lock_user(session, user_id), utcnow())
    session.flush()


def _count_failure(user: User, now) -> None:
    user.failed_logins += 1
    if user.failed_logins >= MAX_FAILED_LOGINS:
        user.locked_until, user.failed_logins = now + LOCKOUT, 0


def _lock_user(session: Session, user_id: int) -> User:
    # populate_existing: the identity map already holds a copy read before the lock.
    return session.scalars(select(User).where(User.id == user_id).with_for_update()
                           .execution_options(populate_existing=True)).one()


def _hash_token(token: str) -> str:
    # Tokens are 256-bit random values, so a plain SHA-256 cannot be brute-forced.
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User) -> str:
    """Create an API token for `user`; the token is returned once and stored hashed."""
    token = "fxc_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_hash_token(token), prefix=token[:10],
                         created_at=utcnow()))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """Return the active user owning this (unrevoked) token, or None."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash_token(token)))
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    row.last_used_at = utcnow()
    return row.user
