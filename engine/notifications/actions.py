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
# A template is rendered the same way `send` renders it, with the client row as the
# round's projections left it when the rule acts (apply runs after them), and a domain's
# values (`kyc`) from the group state of the projection form that holds them
# (STATE_TEMPLATE_VALUES: the same values @template_values reads from the database). A
# template reading another name goes per event. The decision says which client columns
# the rendering read: the rules' form sends the event per event when an earlier action of
# it changed one of them (set_status, then a template showing the status).


@dataclass
class _NotifyState:
    cfg: object
    source: object  # the templates (notifications.service.rendering)
    sent: set[str]  # dedup keys some notification holds
    reads: dict[str, frozenset[str] | None] = field(default_factory=dict)  # template -> names (None: broken)
    notes: list = field(default_factory=list)  # new notifications, in order
    round: dict = field(default_factory=dict)  # the round's projection states, by form name (sees)
    fields: dict[str, frozenset[str] | None] = field(default_factory=dict)  # template -> client columns it reads


@dataclass
class _NotifyDecision:
    params: dict
    note: object = None
    client_reads: frozenset[str] | None = None  # the client columns the rendering read (None: any)


def _load_notify(session: Session, calls: list, types) -> _NotifyState:
    from engine.domains import import_each_once
    from engine.notifications import service as notifications_service
    from engine.notifications.models import Notification

    import_each_once("notify")  # the domains' template values, as `send` imports them (once a round)
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
    names = state.reads[p["template"]]
    if names is None:
        return None  # broken: the per-event path fails the event
    domains = names - {"client"}
    values = notifications_service.STATE_TEMPLATE_VALUES
    if not all(n in values and values[n].form in state.round for n in domains):
        return None  # a value only the database holds now
    try:
        context = {n: values[n].values(state.round[values[n].form], call.client) for n in domains}
        # Rendered now, on the client as the event leaves it (an earlier action of the
        # event that changes a column it reads sends the event per event): apply adds it.
        note = _new_note(state, call, p, context)
    except LookupError:
        return None  # the client is not in that form's state
    except Exception:
        return None  # the per-event path fails the event alike
    return _NotifyDecision(p, note, _client_reads(state, p["template"], domains))


def _client_reads(state: _NotifyState, template: str, domains: frozenset[str]) -> frozenset[str] | None:
    """The client columns a rendering of `template` reads: its `client.x` and the columns
    the domains' values read (None: it uses `client` whole)."""
    from engine.notifications import service as notifications_service
    from engine.notifications import templates

    if template not in state.fields:
        state.fields[template] = templates.fields_used(state.source, template, "client")
    own = state.fields[template]
    if own is None:
        return None
    return own.union(*(notifications_service.STATE_TEMPLATE_VALUES[n].client_reads for n in domains))


def _new_note(state: _NotifyState, call, p: dict, values: dict):
    from engine.notifications import service as notifications_service

    return notifications_service.new_notification(
        state.cfg,
        state.source,
        client=call.client,
        template=p["template"],
        channel=p["channel"],
        context={"client": notifications_service.client_context(call.client), **values},
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


def _see_round(state: _NotifyState, round_states: dict) -> None:
    state.round = round_states


action_form(
    "notify",
    load=_load_notify,
    decide=_decide_notify,
    apply=_apply_notify,
    write=_write_notify,
    result=lambda state, decision: _notify_result(decision.note.id, decision.params),
    sees=_see_round,
    client_reads=lambda decision: decision.client_reads,
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
