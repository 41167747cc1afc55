"""The JSON API's bodies as marshmallow schemas: requests are validated with them and the
OpenAPI document (web/openapi.py, through apispec) is generated from them, so the two
cannot disagree."""

from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from engine.tasks.models import PRIORITIES, STATUSES

# A task number fits PostgreSQL's bigint; a larger one is refused where it is read.
TASK_ID = validate.Range(min=1, max=2**63 - 1)
BULK_OPS = ("claim", "release", "assign", "resolve", "dismiss")
BULK_MAX = 500
REQUIRED = {"required": "is required"}


class ErrorSchema(Schema):
    error = fields.Str(required=True, metadata={"description": "what is wrong, and where"})


class SubjectSchema(Schema):
    kind = fields.Str(required=True, metadata={"description": "withdrawal, ib_payout_batch, delivery"})
    id = fields.Str(required=True)


class HistorySchema(Schema):
    at = fields.DateTime(required=True)
    actor = fields.Str(required=True)
    action = fields.Str(required=True)
    detail = fields.Str(allow_none=True)


class CommentSchema(Schema):
    at = fields.DateTime(required=True)
    author = fields.Str(required=True)
    body = fields.Str(required=True)


class TaskSchema(Schema):
    """A task as the API returns it (engine.tasks.service.to_dict)."""

    id = fields.Int(required=True)
    queue = fields.Str(required=True)
    status = fields.Str(required=True, validate=validate.OneOf(STATUSES))
    priority = fields.Str(required=True, validate=validate.OneOf(tuple(PRIORITIES)))
    title = fields.Str(required=True)
    description = fields.Str(allow_none=True)
    client = fields.Str(required=True, allow_none=True)
    rule_id = fields.Str(required=True, allow_none=True)
    ruleset_version = fields.Str(required=True, allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime()
    due_at = fields.DateTime(required=True, allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    assignee = fields.Str(required=True, allow_none=True)
    lease_expires_at = fields.DateTime(allow_none=True)
    waiting_for = fields.Str(allow_none=True)
    resolution = fields.Str(allow_none=True)
    created_by = fields.Str(allow_none=True)
    overdue = fields.Bool()
    subject = fields.Nested(
        SubjectSchema, allow_none=True, metadata={"description": "what the task is about, if anything"}
    )
    explanation = fields.Dict(
        required=True,
        allow_none=True,
        metadata={"description": "rule, ruleset_version, triggering events and the fact values read"},
    )
    history = fields.List(fields.Nested(HistorySchema), metadata={"description": "one task only"})
    comments = fields.List(fields.Nested(CommentSchema), metadata={"description": "one task only"})


class TaskPageSchema(Schema):
    tasks = fields.List(fields.Nested(TaskSchema), required=True)
    next_after = fields.Str(allow_none=True, metadata={"description": "cursor of the next page"})


class NewTaskSchema(Schema):
    """POST /api/tasks: a manual task (a support ticket)."""

    class Meta:
        unknown = RAISE

    queue = fields.Str(required=True, error_messages=REQUIRED, validate=validate.Length(max=32))
    title = fields.Str(required=True, error_messages=REQUIRED, validate=validate.Length(max=300))
    client = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=100))
    priority = fields.Str(
        load_default="normal",
        validate=validate.OneOf(tuple(PRIORITIES), error="unknown {input!r}; use one of {choices}"),
    )
    description = fields.Str(load_default=None, allow_none=True)


class BulkSchema(Schema):
    """POST /api/tasks/bulk: one operation on many tasks."""

    class Meta:
        unknown = RAISE

    op = fields.Str(
        required=True,
        error_messages=REQUIRED,
        validate=validate.OneOf(BULK_OPS, error="unknown {input!r}; use one of {choices}"),
    )
    ids = fields.List(
        fields.Int(strict=True, validate=TASK_ID),
        required=True,
        error_messages=REQUIRED,
        validate=validate.Length(min=1, max=BULK_MAX),
    )
    assignee = fields.Str(load_default="", validate=validate.Length(max=320))
    resolution = fields.Str(load_default="", validate=validate.Length(max=2000))
    reason = fields.Str(load_default="", validate=validate.Length(max=2000))


class BulkResultSchema(Schema):
    results = fields.Dict(
        keys=fields.Str(),
        values=fields.Str(),
        required=True,
        metadata={"description": "task id -> ok, or why it was refused"},
    )
    done = fields.Int(required=True)


class OnfidoLinkSchema(Schema):
    applicant_id = fields.Str()
    client = fields.Str()
    source = fields.Str()
    linked_by = fields.Str()
    linked_at = fields.DateTime()


class OnfidoLinkRequestSchema(Schema):
    client = fields.Str(required=True)
    replace = fields.Bool(load_default=False)


class EventResultSchema(Schema):
    source = fields.Str(required=True)
    id = fields.Str(required=True)
    status = fields.Str(
        required=True,
        validate=validate.OneOf(("accepted", "duplicate", "conflict")),
        metadata={"description": "stored now; already stored; id taken by other content"},
    )


class EventsAcceptedSchema(Schema):
    events = fields.List(fields.Nested(EventResultSchema), required=True)


class EventErrorSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    error = fields.Str(required=True)
    events = fields.List(fields.Dict(), metadata={"description": "each refused event and why"})


def load(schema: Schema, body: dict) -> dict:
    """Validate `body` with `schema`; raise ValueError naming each field and what is wrong."""
    try:
        return schema.load(body)
    except ValidationError as exc:
        raise ValueError("; ".join(_messages(exc.messages))) from None


def _messages(messages, where: str = "") -> list[str]:
    if isinstance(messages, dict):
        return [m for key, value in messages.items() for m in _messages(value, f"{where}.{key}" if where else str(key))]
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{where} {m}" if m == REQUIRED["required"] else f"{where}: {m}" for m in messages]
    return [m for item in messages for m in _messages(item, where)]
