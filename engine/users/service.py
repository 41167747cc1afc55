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

from engine.audit import service as audit_service
from engine.users import events as staff_events
from engine.users import passwords
from engine.users.models import ROLES, ApiToken, User
from engine.values import utcnow

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD = passwords.MIN_LENGTH
TOKEN_LIFETIME = timedelta(days=90)


class UserError(ValueError):
    """A user operation is not allowed (the message says why)."""


def get(session: Session, user_id: int) -> User | None:
    """Return the user with this id, or None."""
    return session.get(User, user_id)


def list_all(session: Session) -> list[User]:
    """Return every user, by email."""
    return list(session.scalars(select(User).order_by(User.email)))


def get_by_email(session: Session, email: str) -> User | None:
    """Return the user with this email (case-insensitive), or None."""
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def create(
    session: Session,
    *,
    email: str,
    role: str,
    password: str | None = None,
    name: str | None = None,
    ib_id: str | None = None,
    actor: str | None = None,
) -> tuple[User, str]:
    """Create a staff user; return (user, password), generating a password if none is given."""
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if "@" not in email or "\x00" in email:
        raise UserError(f"not an email address: {email!r}")
    if get_by_email(session, email):
        raise UserError(f"a user {email} already exists")
    if role == "partner" and not ib_id:
        raise UserError("a partner user needs the IB id it belongs to (--ib)")
    password = password or secrets.token_urlsafe(12)
    check_password_policy(password, email)
    user = User(
        email=email.strip().lower(),
        role=role,
        name=name,
        ib_id=ib_id,
        password_hash=generate_password_hash(password, method="scrypt"),
        active=True,
        failed_logins=0,
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    if actor:
        _audit(session, actor, "user.create", user, role=role)
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


def authenticate(
    session: Session,
    email: str,
    password: str,
    *,
    verify: Callable[[str, str], bool] = verify_password,
    ip: str | None = None,
) -> User | None:
    """Return the user if the password is right; count failures and lock after too many.

    Every path does exactly one password check (`verify`), so unknown, inactive, locked
    and wrong answers take the same time. The counter is updated under a row lock on a
    freshly re-read row, so parallel guesses are all counted. A staff member's failure is
    also a `staff.login_failed` event (from `ip`) for rules; the caller commits it with the
    counter. A right password is not yet a sign-in (a second factor may follow): the
    caller records that with `signed_in` when the session starts.
    """
    user = get_by_email(session, email)
    if user is None or not user.active or not user.password_hash:
        verify(_decoy_hash(), password)
        audit_service.record(
            session,
            actor=_tried(email),
            action="user.login_failed",
            target_type="user",
            target_id=_tried(email),
            reason="unknown or inactive account",
        )
        return None
    checked = user.password_hash
    right = verify(checked, password)
    user = _lock_user(session, user.id)
    if user.password_hash != checked:  # a reset or change committed meanwhile: the password in force decides
        right = bool(user.password_hash) and verify(user.password_hash, password)
    now = utcnow()
    if user.locked_until and user.locked_until > now:
        _audit(session, user.email, "user.login_failed", user, "locked after repeated failures")
        staff_events.sign_in_failed(session, user, reason="locked", ip=ip)
        return None
    if right:
        user.failed_logins, user.locked_until = 0, None
        _audit(session, user.email, "user.login", user)
        return user
    _count_failure(user, now)
    _audit(
        session,
        user.email,
        "user.login_failed",
        user,
        "wrong password",
        locked=bool(user.locked_until and user.locked_until > now),
    )
    staff_events.sign_in_failed(session, user, reason="wrong_password", ip=ip)
    session.flush()
    return None


def signed_in(session: Session, user: User, *, ip: str | None = None) -> None:
    """Record that `user`'s session starts now (password, and code if enrolled, were right)."""
    staff_events.signed_in(session, user, ip=ip)


def _tried(email: str) -> str:
    """The address someone tried to sign in with, as the audit keeps it (never a password)."""
    return (email or "").strip()[:320] or "(empty)"


def is_locked(session: Session, user_id: int) -> bool:
    """Return whether the user is locked out for now."""
    user = session.get(User, user_id)
    return bool(user and user.locked_until and user.locked_until > utcnow())


def record_failed_login(session: Session, user_id: int, *, reason: str = "wrong_code", ip: str | None = None) -> None:
    """Count a failed sign-in step (e.g. a wrong second-factor code) toward the lockout."""
    user, now = _lock_user(session, user_id), utcnow()
    if user.locked_until and user.locked_until > now:
        reason = "locked"
    _count_failure(user, now)
    staff_events.sign_in_failed(session, user, reason=reason, ip=ip)
    session.flush()


def _count_failure(user: User, now) -> None:
    user.failed_logins += 1
    if user.failed_logins >= MAX_FAILED_LOGINS:
        user.locked_until, user.failed_logins = now + LOCKOUT, 0


def _lock_user(session: Session, user_id: int) -> User:
    # populate_existing: the identity map already holds a copy read before the lock.
    return session.scalars(
        select(User).where(User.id == user_id).with_for_update().execution_options(populate_existing=True)
    ).one()


def _hash_token(token: str) -> str:
    # Tokens are 256-bit random values, so a plain SHA-256 cannot be brute-forced.
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session, user: User, *, lifetime: timedelta = TOKEN_LIFETIME, actor: str | None = None
) -> str:
    """Create an API token for `user` expiring after `lifetime`; returned once, stored hashed."""
    if lifetime <= timedelta(0):
        raise UserError("a token's lifetime must be positive")
    token = "fxc_" + secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        ApiToken(
            user_id=user.id, token_hash=_hash_token(token), prefix=token[:10], created_at=now, expires_at=now + lifetime
        )
    )
    session.flush()
    if actor:
        _audit(session, actor, "token.create", user, prefix=token[:10], expires_at=(now + lifetime).isoformat())
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """Return the active user owning this unrevoked, unexpired token, or None."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash_token(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    row.last_used_at = now
    return row.user


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    """Return the user's API tokens, newest first."""
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())))


def revoke_token(session: Session, *, token_id: int, actor: str) -> ApiToken:
    """Revoke one API token by id (revoking twice keeps the first time)."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise UserError(f"no API token with id {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        _audit(session, actor, "token.revoke", row.user, token_id=row.id, prefix=row.prefix)
    session.flush()
    return row


def end_sessions(session: Session, user: User) -> None:
    """Refuse every session cookie issued to `user` so far."""
    user.session_generation = (user.session_generation or 1) + 1
    session.flush()


def _audit(session: Session, actor: str, action: str, user: User, reason: str | None = None, **detail) -> None:
    audit_service.record(
        session,
        actor=actor,
        action=action,
        target_type="user",
        target_id=user.email,
        reason=reason,
        detail=detail or None,
    )


def deactivate(session: Session, user: User, *, actor: str, reason: str | None = None) -> None:
    """Deactivate `user`: sessions and tokens stop working at once."""
    if user.email == actor:
        raise UserError("you cannot deactivate your own account")
    user.active = False
    end_sessions(session, user)
    _audit(session, actor, "user.deactivate", user, reason)


def activate(session: Session, user: User, *, actor: str, reason: str | None = None) -> None:
    """Reactivate `user` (they sign in again; old sessions stay ended)."""
    user.active, user.failed_logins, user.locked_until = True, 0, None
    session.flush()
    _audit(session, actor, "user.activate", user, reason)


def set_role(
    session: Session, user: User, *, role: str, actor: str, ib_id: str | None = None, reason: str | None = None
) -> None:
    """Change `user`'s role and end their sessions."""
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if role == "partner" and not (ib_id or user.ib_id):
        raise UserError("a partner user needs the IB id it belongs to (--ib)")
    if user.email == actor and role != user.role:
        raise UserError("you cannot change your own role")
    old = user.role
    user.role, user.ib_id = role, (ib_id or user.ib_id) if role == "partner" else None
    end_sessions(session, user)
    _audit(session, actor, "user.role", user, reason, old=old, new=role)


def _set_password(user: User, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
    user.password_hash = generate_password_hash(password, method="scrypt")


def reset_password(session: Session, user: User, *, actor: str, reason: str | None = None) -> str:
    """Set a temporary password (returned once) that must be changed at next login."""
    password = secrets.token_urlsafe(12)
    _set_password(user, password)
    user.must_change_password, user.failed_logins, user.locked_until = True, 0, None
    end_sessions(session, user)
    _audit(session, actor, "user.reset_password", user, reason)
    return password


def reset_two_factor(session: Session, user: User, *, actor: str, reason: str | None = None) -> None:
    """Turn off the user's two-factor login (a lost phone): they enrol again at next login
    (where their role requires it, they can open nothing else until they do). Their
    sessions end; a reason is required and the change is audited."""
    from engine.users.models import UserTotp

    if not (reason or "").strip():
        raise UserError("resetting two-factor login needs a reason")
    row = session.get(UserTotp, user.id)
    if row is None:
        raise UserError(f"{user.email} has no two-factor login to reset")
    session.delete(row)
    end_sessions(session, user)
    _audit(session, actor, "user.reset_2fa", user, reason.strip())


def set_time_zone(session: Session, user: User, name: str | None) -> None:
    """Set the IANA zone `user` reads times in; empty means UTC. An unknown name is refused."""
    name = (name or "").strip()
    if name and not is_time_zone(name):
        raise UserError(f"time zone {name[:64]!r} is not an IANA zone name such as Europe/Berlin")
    user.time_zone = name or None


def is_time_zone(name: str) -> bool:
    """Whether `name` is an IANA time zone this system knows (zoneinfo)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if len(name) > 64 or "\x00" in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def change_password(session: Session, user: User, *, current: str, new: str) -> None:
    """Change `user`'s own password after checking the current one; end other sessions."""
    if not (user.password_hash and check_password_hash(user.password_hash, current)):
        raise UserError("the current password is wrong")
    if new == current:
        raise UserError("the new password must differ from the current one")
    _set_password(user, new)
    user.must_change_password = False
    end_sessions(session, user)
    _audit(session, user.email, "user.change_password", user)
