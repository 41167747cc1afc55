"""Rule action of the notifications domain: send the client a notification from a template."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

from marshmallow import fields, validate

from sqlalchemy import select

from engine.rules.actions import NAME, Outcome, Params, action, compared, known_names, outcome

CHANNELS = ("email", "sms", "push", "in_app")  # engine.notifications.service.CHANNELS


class NotifyParams(Params):
    template = fields.Str(required=True, validate=NAME)
    channel = fields.Str(load_default="email", validate=validate.OneOf(CHANNELS))


@action("notify", NotifyParams, shorthand="template", references={"template": "notification template"})
def _notify(run, p: dict, key: str) -> str:
    """Send the client a notification from a template."""
    from engine.notifications import service as notifications_service

    note = notifications_service.send(
        run.session,
        client=run.client,
        template=p["template"],
        channel=p["channel"],
        explanation=run.explanation,
        rule_id=run.rule.id,
        dedup_key=key,
    )
    return f"notification {note.id} ({p['template']}, {p['channel']})"


@outcome("notifications")
def _notification_outcomes(session, actions: list) -> list[dict]:
    """The notifications rules sent, for rule tests."""
    from engine.notifications.models import Notification

    return [
        {"template": n.template, "channel": n.channel, "rule": n.rule_id}
        for n in session.scalars(select(Notification).order_by(Notification.id))
    ]


@known_names("notification template")
def _template_names(config: Mapping[str, str]) -> set[str] | None:
    """The templates a ruleset carries (templates/<name>.yaml); None when it carries none
    (rule files alone: the running configuration's templates apply, unknown here; the
    compiler reads no file)."""
    names = {PurePosixPath(p).stem for p in config if p.startswith("templates/") and p.endswith((".yaml", ".yml"))}
    return names or None


@compared("notification")
def _compared_notifications(session) -> list[Outcome]:
    """The notifications rules sent (template, channel), for backtests."""
    from engine.notifications.models import Notification

    return [
        Outcome(
            n.client_ref,
            "notification",
            n.dedup_key or f"notification-{n.id}",
            n.rule_id,
            {"template": n.template, "channel": n.channel},
            n.explanation,
        )
        for n in session.scalars(
            select(Notification).where(Notification.rule_id.is_not(None)).order_by(Notification.id)
        )
    ]
