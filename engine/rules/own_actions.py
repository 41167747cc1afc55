"""The rules engine's own actions: emit a follow-up event, start or cancel a named timer.

They touch only the event store and the rules' own timers, so they live beside the
runtime rather than in a domain.
"""

from __future__ import annotations

from datetime import timedelta

from marshmallow import fields

from sqlalchemy import select

from engine.rules.actions import NAME, Duration, Params, action, outcome


class StartTimerParams(Params):
    name = fields.Str(required=True, validate=NAME)
    after = Duration(required=True)


class CancelTimerParams(Params):
    name = fields.Str(required=True, validate=NAME)


class EmitParams(Params):
    type = fields.Str(required=True)
    data = fields.Dict(keys=fields.Str(), values=fields.Raw(), load_default=dict)


@action("emit", EmitParams, event_types=("type",))
def _emit(run, p: dict, key: str) -> str:
    """Emit a follow-up event for the client."""
    from engine.events.schemas import validate_envelope
    from engine.events.store import record

    data = {k: run.text(v) if isinstance(v, str) else v for k, v in p["data"].items()}
    envelope = validate_envelope(
        {
            "id": key,
            "type": p["type"],
            "source": "rules",
            "occurred_at": run.now.isoformat(),
            "client": run.client.ref,
            "data": data,
        },
        allow_internal=True,
    )
    seq, created = record(run.session, envelope, via="rules")
    return f"event {p['type']} {seq}" if created else f"event {p['type']} already emitted"


@action("start_timer", StartTimerParams)
def _start_timer(run, p: dict, key: str) -> str:
    """Start (or restart) a named timer for the client."""
    from engine.rules import timers

    timer = timers.start_named(run, p["name"], timedelta(seconds=p["after"]), key)
    return f"timer {timer.name} due {timer.due_at.isoformat()}"


@action("cancel_timer", CancelTimerParams, shorthand="name")
def _cancel_timer(run, p: dict, key: str) -> str:
    """Cancel the client's pending timers of a name."""
    from engine.rules import timers

    count = timers.cancel_named(run.session, run.client.ref, p["name"], f"cancelled by {run.rule.id}", run.now)
    return f"cancelled {count} timer(s) {p['name']}"


@outcome("timers")
def _timer_outcomes(session, actions: list) -> list[dict]:
    """The named timers rules started, for rule tests."""
    from engine.rules.models import NAMED, RuleTimer
    from engine.values import iso

    return [
        {
            "name": t.name,
            "rule": t.rule_id,
            "due_in": f"{int((t.due_at - t.created_at).total_seconds())}s",
            "at": iso(t.due_at),
        }
        for t in session.scalars(select(RuleTimer).where(RuleTimer.kind == NAMED).order_by(RuleTimer.id))
    ]


@outcome("events")
def _emitted(session, actions: list) -> list[dict]:
    """The events rules emitted, for rule tests."""
    return [{"type": a.params["type"], "rule": a.rule_id} for a in actions if a.action == "emit"]
