"""marshmallow schemas for the structure of a rule file, and mapping their errors to lines."""

from __future__ import annotations

import difflib

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from engine.rules.actions import Duration, OneOrMany
from engine.rules.yaml_lines import line_of

RULE_ID = validate.Regexp(
    r"^[a-z0-9][a-z0-9_\-]*$", error="must be lower-case letters, digits, - or _ (like failed-deposit-task)"
)


class Strict(Schema):
    class Meta:
        unknown = RAISE


class RuleSchema(Strict):
    id = fields.Str(required=True, validate=RULE_ID)
    description = fields.Str(required=True, validate=validate.Length(1, 2000))
    when = OneOrMany(fields.Str(), validate=validate.Length(min=1))  # or absent: / schedule:
    absent = fields.Raw()
    schedule = fields.Raw()
    if_ = fields.Raw(data_key="if", allow_none=False)
    after = Duration()
    unless = fields.Raw()
    priority = fields.Int(load_default=0, strict=True)
    then = fields.List(fields.Raw(), required=True, validate=validate.Length(min=1))


class DefinitionsSchema(Strict):
    conditions = fields.Dict(keys=fields.Str(validate=RULE_ID), values=fields.Raw())
    queues = fields.List(fields.Str(validate=RULE_ID))
    templates = fields.Dict(keys=fields.Str(validate=RULE_ID), values=fields.Str())
    tables = fields.Dict(keys=fields.Str(), values=fields.Raw())  # decision tables (engine/rules/tables.py)


class RulesetSchema(Strict):
    ruleset = fields.Str(required=True, validate=RULE_ID)
    description = fields.Str(required=True)
    definitions = fields.Raw()
    rules = fields.List(fields.Raw(), required=True)
    tests = fields.List(fields.Raw())


class DefinitionsDocSchema(Strict):
    definitions = fields.Raw(required=True)


class TestsDocSchema(Strict):
    ruleset = fields.Str(validate=RULE_ID)
    tests = fields.List(fields.Raw(), required=True)


def _message(key, text: str, allowed) -> str:
    if text == "Unknown field.":
        close = difflib.get_close_matches(str(key), [str(a) for a in allowed], n=1)
        hint = f" (did you mean {close[0]}?)" if close else f" (allowed: {', '.join(map(str, allowed))})"
        return f"unknown key {key!r}{hint}"
    if text == "Missing data for required field.":
        return f"missing {key}"
    if text.startswith("Not a valid"):
        return f"{key}: {text[:-1].lower()}"
    return f"{key}: {text[:1].lower()}{text[1:].rstrip('.')}"


def schema_errors(exc: ValidationError, node, line: int, allowed=()) -> list[tuple[int, str]]:
    """Turn a marshmallow ValidationError into (line, message) pairs at the offending keys."""
    out: list[tuple[int, str]] = []

    def walk(messages, container, at, path):
        if not isinstance(messages, dict):
            name = ".".join(str(p) for p in path if not isinstance(p, int)) or "value"
            out.extend((at, _message(name, text, allowed)) for text in messages)
            return
        for key, sub in messages.items():
            child, here = None, at
            if isinstance(container, dict) and key in container:
                child, here = container[key], line_of(container, key, at)
            elif isinstance(container, list) and isinstance(key, int) and key < len(container):
                child, here = container[key], line_of(container, key, at)
            walk(sub, child, here, path + [key])

    walk(exc.messages, node, line, [])
    return out


def load(schema: type[Schema], node, line: int, report) -> dict | None:
    """Load `node` with `schema`; report each error at its line; return the data or None."""
    if not isinstance(node, dict):
        report(line, f"expected a mapping of keys, not {type(node).__name__}")
        return None
    try:
        return schema().load(node)
    except ValidationError as exc:
        allowed = sorted(f.data_key or n for n, f in schema().fields.items())
        for at, message in schema_errors(exc, node, line, allowed):
            report(at, message)
        return None
