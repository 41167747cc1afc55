"""Staff facts (`staff.role`, ...), and the staff member as a kind of rule subject.

Rules about staff sign-ins (`when: staff.login_failed`) read these; a client fact in
such a rule, or a staff fact in a rule about a client, is a compile error.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.facts import fact
from engine.subjects import ident_of, subject_kind
from engine.users.events import KIND
from engine.users.models import ROLES, User
from engine.values import utcnow

ONE_ROW = "the staff member's users row (already locked)"


TEST_EMAIL = "rule-test@staff.invalid"


def _make_for_test(session: Session) -> str:
    """The staff member of rule tests (a sandbox database): a support user without a password."""
    user = session.scalar(select(User).where(User.email == TEST_EMAIL))
    if user is None:
        user = User(email=TEST_EMAIL, role="support", active=True, failed_logins=0, created_at=utcnow())
        session.add(user)
        session.flush()
    return f"{KIND}:{user.id}"


@subject_kind(KIND, make_for_test=_make_for_test, noun="staff member", doc="a back-office user (engine.users)")
def lock_staff(session: Session, ref: str) -> User | None:
    """Return the staff member with this ref, its users row locked for the transaction."""
    ident = ident_of(KIND, ref)
    if ident is None or not ident.isdigit():
        return None
    # populate_existing: a copy read before the lock must not be trusted
    return session.scalars(
        select(User).where(User.id == int(ident)).with_for_update().execution_options(populate_existing=True)
    ).one_or_none()


@fact("role", "enum", choices=ROLES, subject=KIND, cost=ONE_ROW)
def role(session: Session, user: User) -> str:
    """The staff member's role."""
    return user.role


@fact("username", "string", subject=KIND, cost=ONE_ROW)
def username(session: Session, user: User) -> str:
    """The staff member's e-mail, with which they sign in."""
    return user.email


@fact("locked", "boolean", subject=KIND, cost=ONE_ROW)
def locked(session: Session, user: User) -> bool:
    """Whether sign-ins are refused for now after repeated failures."""
    return bool(user.locked_until and user.locked_until > utcnow())


@fact("two_factor", "boolean", subject=KIND, cost="one query on the staff member's second factor")
def two_factor(session: Session, user: User) -> bool:
    """Whether the staff member signs in with a confirmed second factor (TOTP)."""
    from engine.users import totp

    return totp.is_enrolled(session, user.id)
