"""The action registry: every action a rule may take, with a marshmallow schema for its parameters.

Register a new action here, in one place, with `register(name, Schema, ...)`. The
metadata (which parameters are templates, event types, rule ids, queues or named
conditions) lets the compiler cross-check them without knowing the action.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from engine.clients.models import STATUSES as CLIENT_STATUSES
from engine.tasks.models import PRIORITIES
from engine.values import ValueError_, parse_decimal, parse_duration

NAME = validate.Regexp(r"^[a-z][a-z0-9_\-]*$", error="must be a lower-case name like kyc-reminder")
RISK_CATEGORIES = ("low", "medium", "high")
CHANNELS = ("email", "sms", "push", "in_app")
COMMISSION_TYPES = ("cpa", "lot_rebate", "spread_share", "revshare")  # engine.ib.service.EARNED_TYPES


class Duration(fields.Field):
    """A duration like 30s, 15m, 48h, 7d, kept as whole seconds."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return int(parse_duration(value).total_seconds())
        except ValueError_ as exc:
            raise ValidationError(str(exc)) from None


class MoneyField(fields.Field):
    """Money like `200 USD`, kept as {"amount": "200", "currency": "USD"}."""

    def _deserialize(self, value, attr, data, **kwargs):
        m = re.fullmatch(r"\s*([+-]?\d+(?:\.\d+)?)\s+([A-Z]{3})\s*", str(value))
        if not m:
            raise ValidationError("must be money like 200 USD")
        try:
            return {"amount": str(parse_decimal(m[1])), "currency": m[2]}
        except ValueError_ as exc:
            raise ValidationError(str(exc)) from None


class TemplateText(fields.Field):
    """Text with {event.x}/{client.x} placeholders, or {template: name} from definitions."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, dict) and list(value) == ["template"] and isinstance(value["template"], str):
            return {"template": value["template"]}
        raise ValidationError("must be text, or {template: name}")


class OneOrMany(fields.List):
    """A list that may also be written as a single item."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value if isinstance(value, list) else [value], attr, data, **kwargs)


class Params(Schema):
    class Meta:
        unknown = RAISE


class TaskParams(Params):
    queue = fields.Str(required=True, validate=NAME)
    route = fields.Dict(keys=fields.Str(), values=fields.Dict(keys=fields.Str(), values=fields.Str(validate=NAME)))
    title = TemplateText(required=True)
    description = TemplateText()
    priority = fields.Str(load_default="normal", validate=validate.OneOf(tuple(PRIORITIES)))
    due_in = Duration()
    one_open_per = fields.Str(validate=validate.OneOf(("client",)))
    close_when = OneOrMany(fields.Str())
    open_while = fields.Str(validate=NAME)


class RaisePriorityParams(Params):
    task_of = fields.Str(required=True)
    to = fields.Str(required=True, validate=validate.OneOf(tuple(PRIORITIES)))


class SetStatusParams(Params):
    status = fields.Str(required=True, validate=validate.OneOf(CLIENT_STATUSES))
    reason = TemplateText(required=True)


class SetRiskParams(Params):
    category = fields.Str(required=True, validate=validate.OneOf(RISK_CATEGORIES))
    reason = TemplateText(required=True)


class NotifyParams(Params):
    template = fields.Str(required=True, validate=NAME)
    channel = fields.Str(load_default="email", validate=validate.OneOf(CHANNELS))


class StartTimerParams(Params):
    name = fields.Str(required=True, validate=NAME)
    after = Duration(required=True)


class CancelTimerParams(Params):
    name = fields.Str(required=True, validate=NAME)


class CommissionParams(Params):
    type = fields.Str(required=True, validate=validate.OneOf(COMMISSION_TYPES))
    once_per = fields.Str(load_default="client", validate=validate.OneOf(("client", "event", "trade")))
    review = fields.Bool(load_default=False)
    profile = fields.Str(validate=NAME)
    amount = MoneyField()


class EmitParams(Params):
    type = fields.Str(required=True)
    data = fields.Dict(keys=fields.Str(), values=fields.Raw(), load_default=dict)


@dataclass(frozen=True)
class ActionSpec:
    name: str
    schema: type[Schema]
    doc: str
    shorthand: str | None = None         # the parameter a bare scalar sets
    templates: tuple[str, ...] = ()      # parameters with {event.x}/{client.x} placeholders
    event_types: tuple[str, ...] = ()    # parameters naming event types
    rule_refs: tuple[str, ...] = ()      # parameters naming rule ids
    queues: tuple[str, ...] = ()         # parameters naming task queues
    conditions: tuple[str, ...] = ()     # parameters naming defined conditions


ACTIONS: dict[str, ActionSpec] = {}


def register(name: str, schema: type[Schema], doc: str, **meta) -> ActionSpec:
    """Register action `name` whose parameters `schema` loads."""
    ACTIONS[name] = spec = ActionSpec(name, schema, doc, **meta)
    return spec


register("task", TaskParams, "Create an inbox task (or add to the open one).",
         templates=("title", "description"), event_types=("close_when",), queues=("queue",),
         conditions=("open_while",))
register("raise_priority", RaisePriorityParams, "Raise the priority of a rule's open task.",
         rule_refs=("task_of",))
register("set_status", SetStatusParams, "Set the client's status, with a reason.",
         templates=("reason",))
register("set_risk", SetRiskParams, "Set the client's risk category, with a reason.",
         templates=("reason",))
register("notify", NotifyParams, "Send a notification from a template.", shorthand="template")
register("start_timer", StartTimerParams, "Start (or restart) a named timer for the client.")
register("cancel_timer", CancelTimerParams, "Cancel a named timer of the client.", shorthand="name")
register("commission", CommissionParams, "Record a commission for the client's IB.")
register("emit", EmitParams, "Emit a follow-up event for the client.", event_types=("type",))


def freeze(value):
    """Return a hashable copy of a JSON-like value (dicts become sorted pair tuples)."""
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")
