"""Rule action of the notifications domain: send the client a notification from a template."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from marshmallow import fields, validate

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.rules.actions import NAME, Outcome, Params, action, action_form, compared, known_names, outcome

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
    return _notify_result(note.id, p)


def _notify_result(note_id: int, p: dict) -> str:
    return f"notification {note_id} ({p['template']}, {p['channel']})"


# ---- the set-based form of `notify` (engine.rules.batch) ----------------------------
# A template that reads only `client` (no domain's values, which read the database as
# this event leaves it) is rendered the same way `send` renders it, with the client row
# as the round's projections left it when the rule acts (apply runs after them).


@dataclass
class _NotifyState:
    cfg: object
    source: object  # the templates (notifications.service.rendering)
    sent: set[str]  # dedup keys some notification holds
    reads: dict[str, frozenset[str] | None] = field(default_factory=dict)  # template -> names (None: broken)
    notes: list = field(default_factory=list)  # new notifications, in order


@dataclass
class _NotifyDecision:
    params: dict
    note: object = None


def _load_notify(session: Session, calls: list, types) -> _NotifyState:
    from engine.notifications import service as notifications_service
    from engine.notifications.models import Notification

    cfg, source = notifications_service.rendering(session)
    state = _NotifyState(cfg, source, set())
    keys = sorted({c.key for c in calls})
    for i in range(0, len(keys), 500):
        state.sent.update(
            session.scalars(select(Notification.dedup_key).where(Notification.dedup_key.in_(keys[i : i + 500])))
        )
    return state


def _decide_notify(state: _NotifyState, call) -> _NotifyDecision | None:
    from engine.notifications import service as notifications_service
    from engine.notifications import templates

    p = call.params
    if call.key in state.sent or p["channel"] not in notifications_service.CHANNELS:
        return None
    if p["template"] not in state.reads:
        try:
            state.reads[p["template"]] = templates.names_used(state.source, p["template"])
        except Exception:
            state.reads[p["template"]] = None
    if state.reads[p["template"]] is None or not state.reads[p["template"]] <= {"client"}:
        return None  # broken (the per-event path fails the event), or it reads a domain's values
    try:
        # Rendered now, on the client as the event leaves it (an event whose other action
        # changes the client before this one goes per event): apply adds this note.
        note = _new_note(state, call, p)
    except Exception:
        return None  # the per-event path fails the event alike
    return _NotifyDecision(p, note)


def _new_note(state: _NotifyState, call, p: dict):
    from engine.notifications import service as notifications_service

    return notifications_service.new_notification(
        state.cfg,
        state.source,
        client=call.client,
        template=p["template"],
        channel=p["channel"],
        context={"client": notifications_service.client_context(call.client)},
        explanation=call.explanation,
        rule_id=call.rule.id,
        dedup_key=call.key,
    )


def _apply_notify(state: _NotifyState, call, decision: _NotifyDecision) -> bool:
    state.notes.append(decision.note)
    state.sent.add(call.key)
    return False


def _write_notify(session: Session, state: _NotifyState) -> None:
    from engine.notifications import service as notifications_service

    session.add_all(state.notes)
    session.flush()
    queued = [n.id for n in state.notes if n.status == "queued"]
    if queued:
        notifications_service.deliver_after_commit(session, queued)


action_form(
    "notify",
    load=_load_notify,
    decide=_decide_notify,
    apply=_apply_notify,
    write=_write_notify,
    result=lambda state, decision: _notify_result(decision.note.id, decision.params),
)


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
