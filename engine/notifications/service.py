"""Record client notifications and hand email to the SMTP sender after the unit of work commits.

`send()` is what the rules engine's `notify` action calls; keep its signature stable.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.clients.models import Client
from engine.db import Database, after_commit, unit_of_work
from engine.notifications import sender, templates
from engine.notifications.models import Notification
from engine.values import utcnow

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., dict])
CHANNELS = ("email", "sms", "push", "in_app")
MAX_ATTEMPTS = 3
# A delivery claimed this long ago by a process that never finished is tried again.
STALE_CLAIM = timedelta(minutes=10)


class NotificationError(ValueError):
    """A notification cannot be made (unknown channel, missing or broken template)."""


def _config(session: Session):
    database = session.info.get("database")
    return database.config if database is not None else None


def _templates_dir(session: Session, cfg):
    """The templates that apply: the active version's files, else the configured rules folder."""
    if cfg is None:
        return "rules"
    from engine.rules.api import configured_rules_dir, rule_files

    files = rule_files(session)
    return configured_rules_dir(session) if files is None else files


def client_context(client: Client) -> dict:
    """Return the client fields a template may use as {{ client.x }}."""
    return {
        "ref": client.ref,
        "first_name": client.first_name or "",
        "email": client.email,
        "last_name": client.last_name or "",
        "country": client.country,
        "client_type": client.client_type,
        "status": client.status,
        "kyc_status": client.kyc_status,
    }


# What other domains give every template: `{{ kyc.missing_text }}` comes from the KYC
# domain's `notify` module, registered with @template_values("kyc").
TemplateValues = Callable[[Session, Client], dict]
TEMPLATE_VALUES: dict[str, TemplateValues] = {}


def template_values(name: str) -> Callable[[TemplateValues], TemplateValues]:
    """Register the decorated values(session, client) -> dict, given to templates as `name`."""

    def register(values: TemplateValues) -> TemplateValues:
        TEMPLATE_VALUES[name] = values
        return values

    return register


# The same values from a set-based round's state (engine.notifications.actions, the form
# of `notify`): name -> StateValues, registered with @state_template_values beside them.
@dataclass(frozen=True)
class StateValues:
    form: str  # the projection form whose group state holds what the values read
    values: Callable[[Any, Client], dict]  # values(that form's state, client); LookupError: not there
    client_reads: frozenset[str]  # the client columns the values read


STATE_TEMPLATE_VALUES: dict[str, StateValues] = {}


def state_template_values(name: str, *, form: str, client_reads: Iterable[str]) -> Callable[[F], F]:
    """Register the decorated values(state, client) -> dict: template values `name` from
    the group state of projection form `form`, equal to its @template_values."""

    def register(values: F) -> F:
        STATE_TEMPLATE_VALUES[name] = StateValues(form, values, frozenset(client_reads))
        return values

    return register


def _domain_values(session: Session, client: Client) -> dict:
    from engine.domains import import_each_once

    import_each_once("notify")
    return {name: values(session, client) for name, values in TEMPLATE_VALUES.items()}


def _context(session: Session, client: Client, context: dict | None) -> dict:
    return {"client": client_context(client), **_domain_values(session, client), **(context or {})}


def _initial_status(cfg, channel: str, recipient: str | None) -> tuple[str, str | None]:
    if channel != "email" or cfg is None or not cfg.smtp_url:
        return "recorded", None
    if not recipient:
        return "failed", "the client has no email address"
    return "queued", None


def send(
    session: Session,
    *,
    client: Client,
    template: str,
    channel: str = "email",
    context: dict | None = None,
    explanation: dict | None = None,
    rule_id: str | None = None,
    dedup_key: str | None = None,
) -> Notification:
    """Render `template` for the client and record it; email goes out after commit when SMTP is set.

    A `dedup_key` already used returns the earlier notification instead of a second one.
    """
    if channel not in CHANNELS:
        raise NotificationError(f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")
    if dedup_key:
        existing = session.scalar(select(Notification).where(Notification.dedup_key == dedup_key))
        if existing is not None:
            return existing
    cfg = _config(session)
    note = new_notification(
        cfg,
        _templates_dir(session, cfg),
        client=client,
        template=template,
        channel=channel,
        context=_context(session, client, context),
        explanation=explanation,
        rule_id=rule_id,
        dedup_key=dedup_key,
    )
    session.add(note)
    session.flush()
    if note.status == "queued":
        deliver_after_commit(session, [note.id])
    return note


def new_notification(
    cfg, source, *, client: Client, template: str, channel: str, context: dict, **columns
) -> Notification:
    """The notification `send` records, rendered with `context` from the templates of
    `source` (the set-based path of `notify` makes it too)."""
    try:
        rendered = templates.render(source, template, context)
    except templates.TemplateProblem as exc:
        raise NotificationError(str(exc)) from None
    recipient = client.email if channel == "email" else None
    status, error = _initial_status(cfg, channel, recipient)
    return Notification(
        client_ref=client.ref,
        template=template,
        channel=channel,
        recipient=recipient,
        subject=rendered.subject,
        body=rendered.body,
        status=status,
        error=error,
        attempts=0,
        created_at=utcnow(),
        **columns,
    )


def deliver_after_commit(session: Session, note_ids: list[int]) -> None:
    """Hand the queued notifications to the sender once the transaction has committed."""
    database = session.info["database"]
    after_commit(session, lambda: deliver(database, note_ids))


def rendering(session: Session) -> tuple:
    """(configuration, templates) `send` renders with in this session (the templates: a
    rules folder or a version's files)."""
    cfg = _config(session)
    return cfg, _templates_dir(session, cfg)


def _claim(session: Session, note_id: int) -> Notification | None:
    """Take the notification for delivery unless another process holds a fresh claim."""
    now = utcnow()
    claimed = session.execute(
        update(Notification)
        .where(
            Notification.id == note_id,
            Notification.status == "queued",
            (Notification.claimed_at.is_(None)) | (Notification.claimed_at < now - STALE_CLAIM),
        )
        .values(claimed_at=now, attempts=Notification.attempts + 1)
    ).rowcount
    return session.get(Notification, note_id) if claimed else None


def _deliver_one(database: Database, note_id: int) -> str | None:
    with unit_of_work(database) as session:  # the claim commits before the slow SMTP call
        note = _claim(session, note_id)
        if note is None:
            return None
        payload = (note.recipient, note.subject or note.template, note.body, note.attempts)
    to, subject, body, attempts = payload
    cfg = database.config
    try:
        sender.send_email(
            cfg.smtp_url,
            sender=cfg.mail_from,
            to=to,
            subject=subject,
            body=body,
            message_id=f"<notification-{note_id}@fxcrm>",
        )
        outcome, error = "sent", None
    except (OSError, smtplib.SMTPException, sender.SmtpConfigError) as exc:
        # The address and body are personal data: log only the id and the error type.
        log.warning("notification %s: delivery attempt %d failed: %s", note_id, attempts, type(exc).__name__)
        outcome = "failed" if attempts >= MAX_ATTEMPTS else "queued"
        error = f"{type(exc).__name__}: {exc}"[:500]
    with unit_of_work(database) as session:
        note = session.get(Notification, note_id)
        note.status, note.error, note.claimed_at = outcome, error, None
        note.sent_at = utcnow() if outcome == "sent" else None
    return outcome


def deliver(database: Database, note_ids: list[int]) -> dict[str, int]:
    """Send these queued notifications now; return how many ended in each status."""
    counts: dict[str, int] = {}
    if not database.config.smtp_url:  # SMTP was switched off: keep them queued for later
        return counts
    for note_id in note_ids:
        outcome = _deliver_one(database, note_id)
        if outcome:
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def deliver_queued(database: Database) -> None:
    """Ticker sweep: send e-mail queued while the SMTP server was unreachable (if one is set)."""
    if database.config.smtp_url:
        deliver_pending(database)


def deliver_pending(database: Database, limit: int = 500) -> dict[str, int]:
    """Retry every queued notification (after a crash or an SMTP outage)."""
    with unit_of_work(database) as session:
        ids = list(
            session.scalars(
                select(Notification.id).where(Notification.status == "queued").order_by(Notification.id).limit(limit)
            )
        )
    return deliver(database, ids)


def list_for(session: Session, client_ref: str, limit: int = 200) -> list[Notification]:
    """Return the client's notifications, newest first."""
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.client_ref == client_ref)
            .order_by(Notification.id.desc())
            .limit(limit)
        )
    )


def to_dict(note: Notification) -> dict:
    """Return a notification as JSON-ready data (SPEC §5: template, channel, created_at)."""
    from engine.values import iso

    return {
        "id": note.id,
        "template": note.template,
        "channel": note.channel,
        "status": note.status,
        "subject": note.subject,
        "created_at": iso(note.created_at),
        "sent_at": iso(note.sent_at),
        "rule_id": note.rule_id,
        "error": note.error,
    }
