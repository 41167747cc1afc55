"""Parse and validate YAML rule tests (`tests:` in a rule file, or a `*.test.yaml` beside it).

A test gives client facts, a sequence of events at times relative to its start,
and what the rules must do; kinds of outcome it does not list must not happen
(unless named in `ignore:`). The runner that executes tests lives with the runtime.
"""

from __future__ import annotations

import difflib
import json
import re

from marshmallow import ValidationError, fields, validate

from engine.rules import ir
from engine.rules.actions import freeze
from engine.rules.literals import LiteralError, parse_literal
from engine.rules.schemas import Strict, load
from engine.rules.yaml_lines import line_of
from engine.values import ValueError_, parse_datetime, parse_decimal, parse_duration

# `at` (tasks: when it opened; timers: when it fires) is a duration from the test's start.
OUTCOMES = {
    "tasks": ("queue", "rule", "title", "priority", "status", "at"),
    "notifications": ("template", "channel", "rule"),
    "commissions": ("type", "rule", "review", "amount"),
    "timers": ("name", "rule", "due_in", "at"),
    "events": ("type", "rule"),
    "status": (),
    "risk": (),
    "score": (),
}
DEFAULT_START = "2024-01-01T00:00:00Z"
_FACT_KEY = re.compile(r"^([a-z_][\w.]*?)(?:\((.*)\))?$")


class TestSchema(Strict):
    name = fields.Str(required=True, validate=validate.Length(1, 300))
    start = fields.Str()
    given = fields.Dict(keys=fields.Str(validate=validate.OneOf(("client",))), values=fields.Dict())
    events = fields.List(fields.Dict(), required=True)
    expect = fields.Dict(keys=fields.Str(), values=fields.List(fields.Raw()), required=True)
    ignore = fields.List(fields.Str(validate=validate.OneOf(tuple(OUTCOMES))), load_default=list)


def parse_tests(node, file: str, ruleset: str, catalogue, facts, report, report_as=None) -> list[ir.RuleTest]:
    """Validate every test in `node`; report errors; return the valid tests.

    `report_as(name)` returns the reporter of the test named `name` (its errors read
    `file:line: <test name>: ...`); without it every error goes to `report`."""
    if not isinstance(node, list):
        report(line_of(node, 0, 1), "tests: takes a list of tests")
        return []
    tests = []
    for i, item in enumerate(node):
        line = line_of(node, i)
        test = _parse_one(item, line, file, ruleset, catalogue, facts, report, report_as)
        if test is not None:
            tests.append(test)
    return tests


def _parse_one(node, line, file, ruleset, catalogue, facts, report, report_as) -> ir.RuleTest | None:
    data = load(TestSchema, node, line, report)
    if data is None:
        return None
    errors_before = _Counter(report_as(data["name"]) if report_as else report)
    if "start" in data:
        _check(lambda: parse_datetime(data["start"]), line_of(node, "start", line), errors_before, "start")
    given = data.get("given", {}).get("client", {})
    given_node = (node.get("given") or {}).get("client") or {}
    for key, value in given.items():
        _check(
            lambda k=key, v=value: _fact_value(k, v, facts),
            line_of(given_node, key, line),
            errors_before,
            f"given client.{key}",
        )
    steps_node = node["events"]
    for i, step in enumerate(data["events"]):
        at_line = line_of(steps_node, i, line)
        for key, message in _step(step, catalogue):
            at = line_of(steps_node[i], key, at_line) if key else at_line
            errors_before(at, f"event {i + 1}: {message}")
    expect_node = node["expect"]
    for kind, items in data["expect"].items():
        if kind not in OUTCOMES:
            _check(lambda k=kind: _outcome(k, None), line_of(expect_node, kind, line), errors_before, "expect")
        for j, item in enumerate(items if kind in OUTCOMES else []):
            at_line = line_of(line_of_node(expect_node, kind), j, line_of(expect_node, kind, line))
            _check(lambda k=kind, it=item: _outcome(k, it), at_line, errors_before, f"expect {kind}")
    if errors_before.count:
        return None
    return ir.RuleTest(
        data["name"],
        ruleset,
        file,
        line,
        freeze(given),
        data.get("start", DEFAULT_START),
        tuple(freeze(s) for s in data["events"]),
        freeze(data["expect"]),
        tuple(data["ignore"]),
    )


def line_of_node(container, key):
    return container.get(key) if isinstance(container, dict) else None


class _Counter:
    """Count errors reported for one test, so an invalid test is left out."""

    def __init__(self, report):
        self.report, self.count = report, 0

    def __call__(self, line, message):
        self.count += 1
        self.report(line, message)


def _check(fn, line, report: _Counter, what: str) -> None:
    try:
        fn()
    except (ValueError, ValidationError, LiteralError) as exc:
        report(line, f"{what}: {exc}")


def _fact_value(key: str, value, facts) -> None:
    m = _FACT_KEY.match(key)
    spec = facts.get(m[1]) if m else None
    if spec is None:
        raise ValueError(f"client.{key} is not a known client fact")
    problem = kind_problem(spec.kind, value, spec.choices, allow_relative=True)
    if problem:
        raise ValueError(problem)


def shown(value) -> str:
    """A value as YAML wrote it: text in double quotes, true/false, numbers, lists."""
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return repr(value)


_EXPECTED = {
    "decimal": "a decimal number",
    "amount": "a decimal number",
    "money": "money like 200 USD",
    "integer": "a whole number",
    "boolean": "true or false",
    "datetime": "a date/time like 2024-03-01T09:30:00Z",
    "list": "a list",
    "object": "a mapping",
    "string": "text",
    "country": "a country code like GB",
    "currency": "a currency code like USD",
}


def kind_problem(kind: str, value, choices=(), allow_relative=False) -> str | None:
    """`expected <what>, got <value>` when `value` is not of `kind`, else None."""
    if value is None or _fits(kind, value, choices, allow_relative):
        return None
    if kind in ("decimal", "amount") and isinstance(value, float):
        return f'expected a decimal number in quotes (YAML reads {value} as an inexact float: write "{value}")'
    if kind == "enum":
        close = difflib.get_close_matches(str(value), list(choices), n=1)
        return f"expected one of {', '.join(choices)}, got {shown(value)}" + (
            f" (did you mean {close[0]}?)" if close else ""
        )
    if kind in ("string", "country", "currency") and not isinstance(value, (str, list, dict)):
        return f'expected {_EXPECTED[kind]}, got {shown(value)} (quote it: "{shown(value)}")'
    what = _EXPECTED.get(kind, kind)
    if kind == "datetime" and allow_relative:
        what += " or a duration before the start like -2d"
    return f"expected {what}, got {shown(value)}"


def _fits(kind: str, value, choices, allow_relative: bool) -> bool:
    try:
        if kind in ("decimal", "amount"):
            parse_decimal(value)
        elif kind == "money":
            return parse_literal(str(value)).kind == "money"
        elif kind == "datetime":
            _time_value(value, allow_relative)
    except (ValueError, LiteralError):
        return False
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "enum":
        return value in choices
    if kind == "list":
        return isinstance(value, list)
    if kind in ("string", "country", "currency"):
        return isinstance(value, str)
    return True


def _time_value(value, allow_relative: bool) -> None:
    try:
        parse_datetime(value)
    except ValueError_:
        if not allow_relative:
            raise
        parse_duration(str(value).lstrip("-"))


def _step(step: dict, catalogue) -> list[tuple[str | None, str]]:
    """Return (the key, a message) for every problem of one event of a test."""
    if "at" in step:
        try:
            parse_duration(step["at"])
        except ValueError:
            return [("at", f"at: expected a duration from the start like 30s, 15m, 48h, 7d, got {shown(step['at'])}")]
    if "type" not in step:
        return [(None, "an event needs a type (an item with only at: lets time pass)")] if set(step) - {"at"} else []
    event_type = catalogue.get(step["type"])
    if event_type is None:
        close = difflib.get_close_matches(str(step["type"]), list(catalogue), n=1)
        return [("type", f"unknown event type {step['type']!r}" + (f" (did you mean {close[0]}?)" if close else ""))]
    problems: list[tuple[str | None, str]] = []
    for key, value in step.items():
        if key in ("type", "at", "id", "source"):
            continue
        fld = event_type.fields.get(key)
        if fld is None:
            problems.append((key, f"{key} is not a field of {step['type']}"))
            continue
        problem = kind_problem(fld.kind, value, fld.choices)
        if problem:
            problems.append((key, f"field {key}: {problem}"))
    return problems


def _outcome(kind: str, item) -> None:
    if kind not in OUTCOMES:
        raise ValueError(f"unknown outcome {kind!r} (outcomes: {', '.join(OUTCOMES)})")
    allowed = OUTCOMES[kind]
    if not allowed:
        if not isinstance(item, str):
            raise ValueError(f"{kind} lists values like approved")
        return
    if not isinstance(item, dict):
        raise ValueError(f"each of {kind} is a mapping with some of: {', '.join(allowed)}")
    unknown = sorted(set(item) - set(allowed))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (allowed: {', '.join(allowed)})")
