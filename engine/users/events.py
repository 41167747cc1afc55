"""Staff sign-ins as rule events: each is an event about the staff member (subject `staff`).

A staff member is a kind of subject of its own (engine.subjects): the events
`staff.logged_in` and `staff.login_failed` are stored with the ref `staff:<user id>`,
processed in order under a lock on the users row (engine.processing.subjects), and rules
on them read `staff.*` facts (engine.users.facts). They carry nothing secret: the
staff member's e-mail, the address the attempt came from and, for a failure, why; never
a password or a user agent. An unknown or inactive e-mail is no staff member: the audit
keeps the attempt, no event is recorded.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.subjects import ref_of
from engine.users.models import User

KIND = "staff"
# How many of a staff member's latest sign-ins `new_ip` compares with (a bound on the read).
KNOWN_SIGN_INS = 500


def ref(user: User) -> str:
    """Return the ref a staff member's events are stored with (`staff:42`)."""
    return ref_of(KIND, user.id)


def signed_in(session: Session, user: User, *, ip: str | None) -> None:
    """Record that `user` signed in (the session starts now) from `ip`."""
    known = _known_ips(session, user) if ip else set()
    # The first recorded sign-in sets the baseline: an address is new only beside known ones
    # (otherwise every staff member's first sign-in would open a task about them).
    _record(session, user, "staff.logged_in", ip=ip, new_ip=bool(known) and ip not in known)


def sign_in_failed(session: Session, user: User, *, reason: str, ip: str | None) -> None:
    """Record a failed sign-in of `user`: reason `wrong_password`, `locked` or `wrong_code`."""
    _record(session, user, "staff.login_failed", ip=ip, reason=reason)


def _record(session: Session, user: User, type_: str, **data: object) -> None:
    from engine.processing import subjects

    subjects.record(
        session,
        kind=KIND,
        ref=ref(user),
        type_=type_,
        event_id=f"staff-{type_.rsplit('.', 1)[1]}-{uuid.uuid4().hex}",
        data={"username": user.email, **data},
    )


def _known_ips(session: Session, user: User) -> set[str]:
    """The addresses of the staff member's latest recorded sign-ins."""
    from engine.events.models import Event

    rows = session.scalars(
        select(Event.data)
        .where(Event.subject == KIND, Event.client_ref == ref(user), Event.type == "staff.logged_in")
        .order_by(Event.occurred_at.desc())
        .limit(KNOWN_SIGN_INS)
    )
    return {data.get("ip") for data in rows if isinstance(data, dict) and data.get("ip")}
