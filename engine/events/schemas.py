"""Marshmallow schemas for the canonical event envelope and every event type's data."""
from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from engine.events import catalogue
from engine.values import ValueError_, parse_datetime, parse_decimal

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class DecimalString(fields.Field):
    """A decimal given as a string; kept as the exact string after validation."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("must be a decimal string like \"100.50\"")
        try:
            parse_decimal(value)
        except ValueError_ as exc:
            raise ValidationError(str(exc)) from None
        return value.strip()


class IsoDateTime(fields.Field):
    """An ISO-8601 time with a UTC offset; kept as the original string."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            parse_datetime(value)
        except ValueError_ as exc:
            raise ValidationError(str(exc)) from None
        return value


def _field(spec: catalogue.Field) -> fields.Field:
    opts: dict[str, Any] = {"required": spec.required}
    if not spec.required:
        opts["allow_none"] = True
    kind = spec.kind
    if kind in ("decimal", "amount"):
        return DecimalString(**opts)
    if kind == "datetime":
        return IsoDateTime(**opts)
    if kind == "currency":
        return fields.String(validate=validate.Regexp(
            _CURRENCY, error="must be an ISO 4217 code like USD"), **opts)
    if kind == "country":
        return fields.String(validate=validate.Regexp(
            _COUNTRY, error="must be an ISO 3166-1 alpha-2 code like DE"), **opts)
    if kind == "enum":
        return fields.String(validate=validate.OneOf(spec.choices), **opts)
    if kind == "object":
        return fields.Dict(**opts)
    if kind == "list":
        return fields.List(fields.String(), **opts)
    if kind == "integer":
        return fields.Integer(strict=True, **opts)
    if kind == "boolean":
        return fields.Boolean(truthy={True}, falsy={False}, **opts)
    return fields.String(validate=validate.Length(max=500), **opts)


def _data_schema(event_type: catalogue.EventType) -> Schema:
    attrs = {name: _field(spec) for name, spec in event_type.fields.items()}

    class Meta:
        unknown = "raise"

    attrs["Meta"] = Meta
    cls = Schema.from_dict(attrs, name=event_type.name.replace(".", "_") + "_data")
    return cls()


DATA_SCHEMAS: dict[str, Schema] = {name: _data_schema(t)
                                   for name, t in catalogue.EVENT_TYPES.items()}


class EnvelopeSchema(Schema):
    """The canonical envelope: {id, type, source, occurred_at, client, data}."""

    class Meta:
        unknown = "raise"

    id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    type = fields.String(required=True)
    source = fields.String(required=True, validate=validate.Length(min=1, max=64))
    occurred_at = IsoDateTime(required=True)
    client = fields.String(required=True, validate=validate.Length(min=1, max=100))
    data = fields.Dict(required=True)

    @validates_schema(skip_on_field_errors=False)
    def _check_type_and_data(self, envelope, **kwargs):
        event_type = catalogue.get(envelope.get("type", ""))
        if event_type is None:
            raise ValidationError(f"unknown event type {envelope.get('type')!r}", "type")
        errors = DATA_SCHEMAS[event_type.name].validate(envelope.get("data") or {})
        if errors:
            raise ValidationError({"data": errors})


_envelope = EnvelopeSchema()


def flatten_errors(errors: Any, prefix: str = "") -> list[str]:
    """Turn marshmallow's nested error dict into `path: message` strings."""
    if isinstance(errors, dict):
        out = []
        for key, value in errors.items():
            path = f"{prefix}.{key}" if prefix and key != "_schema" else (prefix or str(key))
            out.extend(flatten_errors(value, path))
        return out
    if isinstance(errors, list):
        return [m for item in errors for m in flatten_errors(item, prefix)]
    return [f"{prefix}: {errors}" if prefix else str(errors)]


class InvalidEvent(ValueError):
    """A canonical event failed validation; `problems` lists `path: message`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def validate_envelope(payload: Any, *, allow_internal: bool = False) -> dict:
    """Validate a canonical event and return it, or raise InvalidEvent."""
    if not isinstance(payload, dict):
        raise InvalidEvent(["event must be a JSON object"])
    try:
        envelope = _envelope.load(payload)
    except ValidationError as exc:
        raise InvalidEvent(flatten_errors(exc.messages)) from None
    if catalogue.EVENT_TYPES[envelope["type"]].internal and not allow_internal:
        raise InvalidEvent([f"type: {envelope['type']} is internal and cannot be posted"])
    return envelope
