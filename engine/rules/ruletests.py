"""Parse and validate YAML rule tests (`tests:` in a rule file, or a `*.test.yaml` beside it).

A test gives client facts, a sequence of events at times relative to its start,
and what the rules must do; kinds of outcome it does not list must not happen
(unless named in `ignore:`). The runner that executes tests lives with the runtime.
"""
from __future__ import annotations

import re

from marshmallow import ValidationError, fields, validate

from engine.rules import ir
from engine.rules.actions import freeze
from engine.rules.literals import LiteralError, parse_literal
from engine.rules.schemas import Strict, load
from engine.rules.yaml_lines import line_of
from engine.values import ValueError_, parse_datetime, parse_decimal, parse_duration

# `at` (tasks: when it opened; timers: when it fires) is a duration from the test's start.
OUTCOMES = {"tasks": ("queue", "rule", "title", "priority", "status", "at"),
            "notifications": ("template", "channel", "rule"),
            "commissions": ("type", "rule", "review", "amount"),
            "timers": ("name", "rule", "due_in", "at"),
            "events": ("type", "rule"),
            "status": (), "risk": (), "score": ()}
DEFAULT_START = "2024-01-01T00:00:00Z"
_FACT_KEY = re.compile(r"^([a-z_][\w.]*?)(?:\((.*)\))?$")


class TestSchema(Strict):
    name = fields.Str(required=True, validate=validate.Length(1, 300))
    start = fields.Str()
    given = fields.Dict(keys=fields.Str(validate=validate.OneOf(("client",))), values=fields.Dict())
    events = fields.List(fields.Dict(), required=True)
    expect = fields.Dict(keys=fields.Str(), values=fields.List(fields.Raw()), required=True)
    ignore = fields.List(fields.Str(validate=validate.OneOf(tuple(OUTCOMES))), load_default=list)


def parse_tests(node, file: str, ruleset: str, catalogue, facts, report) -> list[ir.RuleTest]:
    """Validate every test in `node`; report errors; return the valid tests."""
    if not isinstance(node, list):
        report(line_of(node, 0, 1), "tests: takes a list of tests")
        return []
    tests = []
    for i, item in enumerate(node):
        line = line_of(node, i)
        test = _parse_one(item, line, file, ruleset, catalogue, facts, report)
        if test is not None:
            tests.append(test)
    return tests


def _parse_one(node, line, file, ruleset, catalogue, facts, report) -> ir.RuleTest | None:
    data = load(TestSchema, node, line, report)
    if data is None:
        return None
    errors_before = _Counter(report)
    if "start" in data:
        _check(lambda: parse_datetime(data["start"]), line_of(node, "start", line), errors_before, "start")
    given = data.get("given", {}).get("client", {})
    given_node = (node.get("given") or {}).get("client") or {}
    for key, value in given.items():
        _check(lambda k=key, v=value: _fact_value(k, v, facts), line_of(given_node, key, line),
               errors_before, f"given client.{key}")
    steps_node = node["events"]
    for i, step in enumerate(data["events"]):
        at_line = line_of(steps_node, i, line)
        _check(lambda s=step: _step(s, catalogue), at_line, errors_before, f"event {i + 1}")
    expect_node = node["expect"]
    for kind, items in data["expect"].items():
        if kind not in OUTCOMES:
            _check(lambda k=kind: _outcome(k, None), line_of(expect_node, kind, line), errors_before, "expect")
        for j, item in enumerate(items if kind in OUTCOMES else []):
            at_line = line_of(line_of_node(expect_node, kind), j, line_of(expect_node, kind, line))
            _check(lambda k=kind, it=item: _outcome(k, it), at_line, errors_before, f"expect {kind}")
    if errors_before.count:
        return None
    return ir.RuleTest(data["name"], ruleset, file, line, freeze(given), data.get("start", DEFAULT_START),
                       tuple(freeze(s) for s in data["events"]), freeze(data["expect"]), tuple(data["ignore"]))


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
        report(line, f"test: {what}: {exc}")


def _fact_value(key: str, value, facts) -> None:
    m = _FACT_KEY.match(key)
    spec = facts.get(m[1]) if m else None
    if spec is None:
        raise ValueError(f"client.{key} is not a known client fact")
    _check_kind(spec.kind, value, spec.choices, allow_relative=True)


def _check_kind(kind: str, value, choices=(), allow_relative=False) -> None:
    if value is None:
        return
    if kind in ("decimal", "amount"):
        parse_decimal(value)
    elif kind == "money":
        if parse_literal(str(value)).kind != "money":
            raise ValueError(f"{value!r} is not money like 200 USD")
    elif kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        raise ValueError(f"{value!r} is not a whole number")
    elif kind == "boolean" and not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    elif kind == "datetime":
        _time_value(value, allow_relative)
    elif kind in ("enum",) and value not in choices:
        raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
    elif kind in ("list",) and not isinstance(value, list):
        raise ValueError(f"{value!r} is not a list")
    elif kind in ("string", "country", "currency") and not isinstance(value, str):
        raise ValueError(f"{value!r} is not text (quote it)")


def _time_value(value, allow_relative: bool) -> None:
    try:
        parse_datetime(value)
    except ValueError_:
        if not allow_relative:
            raise
        parse_duration(str(value).lstrip("-"))


def _step(step: dict, catalogue) -> None:
    if "at" in step:
        parse_duration(step["at"])
    if "type" not in step:
        if set(step) - {"at"}:
            raise ValueError("an event needs a type (an item with only at: lets time pass)")
        return
    event_type = catalogue.get(step["type"])
    if event_type is None:
        raise ValueError(f"unknown event type {step['type']!r}")
    for key, value in step.items():
        if key in ("type", "at", "id", "source"):
            continue
        fld = event_type.fields.get(key)
        if fld is None:
            raise ValueError(f"{key} is not a field of {step['type']}")
        _check_kind(fld.kind, value, fld.choices)


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
