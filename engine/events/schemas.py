"""Marshmallow schemas for the canonical event envelope and every event type's data.

The input contract of every way an event comes in (API, webhooks through the connectors,
files): what is refused here is refused everywhere, with `path: reason`.
- amounts: plain ASCII digits with an optional fraction (no sign, exponent, `_`, spaces or
  other scripts' digits), above zero, below `MAX_AMOUNT`, and with no more decimals than
  the currency's minor units (`engine.currencies`: JPY 0, USD 2, KWD 3, BTC 8);
- other decimals (profit, balance): the same, with an optional leading minus;
- currencies: ISO 4217 or the configured crypto list (`XXX` is not a currency);
- `occurred_at`: within `EARLIEST` and `MAX_AHEAD` of now (a year-9999 event would fix a
  client's state forever); other times between 1900 and 2200;
- text: at most 500 characters (ids 200), no NUL or other control characters; objects
  nested at most `MAX_DEPTH` deep.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from engine import currencies
from engine.events import catalogue
from engine.values import UTC, ValueError_, clock, iso, parse_datetime, parse_decimal, parse_duration

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_AMOUNT = re.compile(r"^[0-9]{1,13}(\.[0-9]{1,20})?$")
_DECIMAL = re.compile(r"^-?[0-9]{1,15}(\.[0-9]{1,20})?$")
# NUL and the C0 controls other than tab, line feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_AMOUNT = Decimal("10000000000")  # 10^10 of any currency (amounts are stored in 10^-8 units)
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
MAX_DEPTH = 16
MAX_TEXT = 500


def max_ahead() -> timedelta:
    """How far in the future an event may be dated (`FXCRM_EVENT_MAX_AHEAD`, default 1d)."""
    return parse_duration(os.environ.get("FXCRM_EVENT_MAX_AHEAD", "1d"))


def clean_text(value: str, what: str = "text") -> str:
    """Refuse control characters (NUL first of all) in text."""
    bad = _CONTROL.search(value)
    if bad:
        raise ValidationError(f"contains a control character (code {ord(bad.group())}); {what} must be plain text")
    return value


class Text(fields.String):
    """A string without control characters."""

    def _deserialize(self, value, attr, data, **kwargs):
        return clean_text(super()._deserialize(value, attr, data, **kwargs))


class DecimalString(fields.Field):
    """A decimal given as a string (`-12.50`); kept as the exact string after validation."""

    pattern, what = _DECIMAL, 'a decimal string like "-12.50" (ASCII digits, no exponent)'

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError(f"must be {self.what}")
        text = value.strip()
        if not self.pattern.fullmatch(text):
            raise ValidationError(f"must be {self.what}, not {value[:40]!r}")
        self.check(Decimal(text), text)
        try:
            parse_decimal(text)
        except ValueError_ as exc:
            raise ValidationError(str(exc)) from None
        return text

    def check(self, value: Decimal, text: str) -> None:
        """Further limits of a subclass."""


class AmountString(DecimalString):
    """A money amount: above zero, below MAX_AMOUNT (decimals checked against the currency)."""

    pattern, what = _AMOUNT, 'a positive amount string like "100.50" (ASCII digits only)'

    def check(self, value: Decimal, text: str) -> None:
        if value <= 0:
            raise ValidationError(f"must be above zero, not {text}")
        if value >= MAX_AMOUNT:
            raise ValidationError(f"must be below {MAX_AMOUNT:,}, not {text}")


class CurrencyCode(fields.String):
    """An ISO 4217 code or a configured crypto code, in capitals."""

    def _deserialize(self, value, attr, data, **kwargs):
        code = super()._deserialize(value, attr, data, **kwargs)
        if not _CURRENCY.fullmatch(code):
            raise ValidationError("must be an ISO 4217 code like USD")
        if not currencies.is_known(code):
            raise ValidationError(f"{code} is not an ISO 4217 currency or a configured crypto currency")
        return code


class IsoDateTime(fields.Field):
    """An ISO-8601 time with a UTC offset; kept as the original string."""

    def __init__(self, *, earliest=datetime(1900, 1, 1, tzinfo=UTC), ahead=None, **kwargs):
        super().__init__(**kwargs)
        self.earliest, self.ahead = earliest, ahead

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            when = parse_datetime(value)
        except ValueError_ as exc:
            raise ValidationError(str(exc)) from None
        latest = clock.now() + self.ahead() if self.ahead else datetime(2200, 1, 1, tzinfo=UTC)
        if not self.earliest <= when <= latest:
            raise ValidationError(f"{value} is outside the accepted window ({iso(self.earliest)} to {iso(latest)})")
        return value


class SafeDict(fields.Dict):
    """A JSON object whose nesting is bounded (and, with `text`, whose text is clean)."""

    def __init__(self, *, text: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.text = text

    def _deserialize(self, value, attr, data, **kwargs):
        result = super()._deserialize(value, attr, data, **kwargs)
        _check_nested(result, 1, self.text)
        return result


def _check_nested(value, depth: int, text: bool = True) -> None:
    if depth > MAX_DEPTH:
        raise ValidationError(f"is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        for key, item in value.items():
            if text:
                clean_text(str(key), "a key")
            _check_nested(item, depth + 1, text)
    elif isinstance(value, list):
        for item in value:
            _check_nested(item, depth + 1, text)
    elif isinstance(value, str) and text:
        if len(value) > 5000:
            raise ValidationError("holds a text longer than 5000 characters")
        clean_text(value)


def _field(spec: catalogue.Field) -> fields.Field:
    opts: dict[str, Any] = {"required": spec.required}
    if not spec.required:
        opts["allow_none"] = True
    kind = spec.kind
    if kind == "amount":
        return AmountString(**opts)
    if kind == "decimal":
        return DecimalString(**opts)
    if kind == "datetime":
        return IsoDateTime(**opts)
    if kind == "currency":
        return CurrencyCode(**opts)
    if kind == "country":
        return fields.String(
            validate=validate.Regexp(_COUNTRY, error="must be an ISO 3166-1 alpha-2 code like DE"), **opts
        )
    if kind == "enum":
        return fields.String(validate=validate.OneOf(spec.choices), **opts)
    if kind == "object":
        return SafeDict(**opts)
    if kind == "list":
        return fields.List(Text(validate=validate.Length(max=MAX_TEXT)), validate=validate.Length(max=100), **opts)
    if kind == "integer":
        return fields.Integer(strict=True, validate=validate.Range(-(2**53), 2**53), **opts)
    if kind == "boolean":
        return fields.Boolean(truthy={True}, falsy={False}, **opts)
    return Text(validate=validate.Length(max=MAX_TEXT), **opts)


class _DataSchema(Schema):
    """An event type's data: amounts may not be finer than their currency's minor units."""

    class Meta:
        unknown = "raise"

    @validates_schema(skip_on_field_errors=True)
    def _minor_units(self, data, **kwargs):
        digits = currencies.minor_units(data.get("currency") or "")
        if digits is None:
            return
        for name, field_ in self.fields.items():
            value = data.get(name)
            if (
                isinstance(field_, AmountString)
                and value is not None
                and currencies.decimals_of(Decimal(value)) > digits
            ):
                raise ValidationError(
                    f"{value} has more decimals than {data['currency']} has minor units ({digits})", name
                )


def _data_schema(event_type: catalogue.EventType) -> Schema:
    attrs = {name: _field(spec) for name, spec in event_type.fields.items()}
    cls = type(event_type.name.replace(".", "_") + "_data", (_DataSchema,), attrs)
    return cls()


DATA_SCHEMAS: dict[str, Schema] = {name: _data_schema(t) for name, t in catalogue.EVENT_TYPES.items()}


class EnvelopeSchema(Schema):
    """The canonical envelope: {id, type, source, occurred_at, client, data}."""

    class Meta:
        unknown = "raise"

    id = Text(required=True, validate=validate.Length(min=1, max=200))
    type = Text(required=True, validate=validate.Length(max=64))
    source = Text(required=True, validate=validate.Length(min=1, max=64))
    occurred_at = IsoDateTime(required=True, earliest=EARLIEST, ahead=max_ahead)
    client = Text(required=True, validate=validate.Length(min=1, max=100))
    data = SafeDict(required=True, text=False)  # its fields' text is checked by type

    @validates_schema(skip_on_field_errors=False)
    def _check_type_and_data(self, envelope, **kwargs):
        event_type = catalogue.get(envelope.get("type", ""))
        if event_type is None:
            raise ValidationError(f"unknown event type {envelope.get('type')!r}", "type")
        if "data" not in envelope:
            return  # the data field's own error says why
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
