"""Run YAML rule tests: each in a fresh database, events through the real pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from engine.db import Database, unit_of_work
from engine.facts import load_domain_facts
from engine.rules import activation, ir
from engine.rules.actions_run import thaw
from engine.rules.evaluation import FACT_OVERRIDES
from engine.rules.literals import parse_literal
from engine.rules.sandbox import sandbox_database
from engine.values import Money, clock, iso, parse_datetime, parse_duration

CLIENT = "TEST-1"


@dataclass
class TestResult:
    test: ir.RuleTest
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def _fact(kind: str, value, start: datetime):
    if value is None:
        return None
    if kind == "money":
        amount, currency = parse_literal(str(value)).value
        return Money(amount, currency)
    if kind == "datetime":
        try:
            return parse_datetime(str(value))
        except ValueError:
            return start + parse_duration(str(value))
    if kind == "decimal":
        return Decimal(str(value))
    return list(value) if kind == "list" else value


def _overrides(test: ir.RuleTest, start: datetime) -> dict:
    from engine.events.catalogue import EVENT_TYPES
    from engine.rules.paths import Scope, base_key, resolve

    facts = load_domain_facts()
    scope = Scope((), EVENT_TYPES, facts)
    out = {}
    for key, value in thaw(test.given).items() if test.given else ():
        ref = resolve(f"client.{key}", scope)  # canonical key: parameters sorted and spaced alike
        out[base_key(ref.value)] = _fact(ref.unit, value, start)
    return out


def rulesets_for(test: ir.RuleTest, ruleset: ir.Ruleset) -> set[str]:
    """Return the rulesets a test runs: its own, and those of the rules its expectations name."""
    owners = {r.id: r.ruleset for r in ruleset.rules}
    named = {item.get("rule") for items in thaw(test.expect).values() for item in items if isinstance(item, dict)}
    return {test.ruleset} | {owners[r] for r in named if r in owners}


def run_tests(ruleset: ir.Ruleset, files: dict[str, str], rules_dir: str) -> list[TestResult]:
    """Run every test of `ruleset` (compiled from `files`); return one result per test."""
    return [run_one(test, files, rules_dir, ruleset) for test in ruleset.tests]


def run_one(test: ir.RuleTest, files: dict[str, str], rules_dir: str, compiled: ir.Ruleset | None = None) -> TestResult:
    """Run one test in its own in-memory database and compare what the rules did."""
    start = parse_datetime(test.start)
    result = TestResult(test)
    database = sandbox_database(rules_dir, "ruletest")
    token = FACT_OVERRIDES.set(_overrides(test, start))
    try:
        with unit_of_work(database) as session:
            full = activation.activate_files(session, files, actor="rule-test", validated=compiled)
        activation.preload(activation.only_rulesets(full, rulesets_for(test, full)))
        arrived = start  # events listed after later ones arrive late: time never runs back
        for index, step in enumerate(test.steps):
            arrived = max(arrived, start + parse_duration(dict(step).get("at", "0s")))
            problem = _step(database, dict(step), index, start, arrived)
            if problem:
                result.failures.append(problem)
                return result
        result.failures.extend(compare(test, outcomes(database)))
    finally:
        FACT_OVERRIDES.reset(token)
        clock.freeze(None)
        activation.forget()
        database.dispose()
    return result


def _step(database: Database, step: dict, index: int, start: datetime, now: datetime) -> str | None:
    from engine import processing
    from engine.events.catalogue import EVENT_TYPES
    from engine.events.schemas import InvalidEvent, validate_envelope
    from engine.events.store import ensure_clients, record
    from engine.rules import schedule, timers

    at = start + parse_duration(step.get("at", "0s"))
    clock.freeze(now)
    timers.fire_due(database, now=now)
    schedule.run_due(database, now=now)  # as the ticker does each round: timers, then scheduled rules
    subject = getattr(EVENT_TYPES.get(step.get("type", "")), "subject", "client")
    if subject != "client":
        return _subject_step(database, step, index, at, subject)
    if "type" in step:
        data = {k: thaw(v) for k, v in step.items() if k not in ("type", "at", "id", "source")}
        try:
            envelope = validate_envelope(
                {
                    "id": step.get("id", f"step-{index + 1}"),
                    "type": step["type"],
                    "source": step.get("source", "rule-test"),
                    "occurred_at": iso(at),
                    "client": CLIENT,
                    "data": data,
                },
                allow_internal=True,
            )
        except InvalidEvent as exc:
            return f"event {index + 1} ({step['type']}) is not a valid event: {'; '.join(exc.args[0])}"
        with unit_of_work(database) as session:
            record(session, envelope, via="rule-test")
    else:
        with unit_of_work(database) as session:
            ensure_clients(session, {CLIENT})
    stats = processing.process_client(database, CLIENT)
    if stats.failed or stats.parked:  # a test must not pass while its events fail
        return _failed_events(database)
    return None


def _subject_step(database: Database, step: dict, index: int, at: datetime, kind: str) -> str | None:
    """An event about another kind of subject (a staff member): about the test's one subject
    of that kind (made in the sandbox at its first event), processed as the app does."""
    from engine.events.schemas import InvalidEvent
    from engine.processing import subjects as subject_processing
    from engine.subjects import load_subjects

    data = {k: thaw(v) for k, v in step.items() if k not in ("type", "at", "id", "source")}
    with unit_of_work(database) as session:
        session.info.pop("database", None)  # processed below, not after commit
        ref = load_subjects()[kind].make_for_test(session)
        try:
            subject_processing.record(
                session,
                kind=kind,
                ref=ref,
                type_=step["type"],
                event_id=step.get("id", f"step-{index + 1}"),
                data=data,
                at=at,
            )
        except InvalidEvent as exc:
            return f"event {index + 1} ({step['type']}) is not a valid event: {'; '.join(exc.args[0])}"
    stats = subject_processing.process_subject(database, kind, ref)
    if stats.failed or stats.parked:
        return _failed_events(database)
    return None


def _failed_events(database: Database) -> str:
    """Describe the events whose processing failed."""
    from engine.events.models import Event

    with unit_of_work(database) as session:
        rows = session.execute(select(Event.type, Event.last_error).where(Event.last_error.is_not(None))).all()
    return "; ".join(f"processing {etype} failed: {error}" for etype, error in rows)


def outcomes(database: Database) -> dict[str, list]:
    """Return what the rules did, by outcome kind, in order."""
    from engine.rules.actions import OUTCOME_READERS, load_domain_actions
    from engine.rules.models import RuleAction

    load_domain_actions()  # each domain registers the readers of its outcomes beside its actions
    with unit_of_work(database) as s:
        actions = list(s.scalars(select(RuleAction).order_by(RuleAction.id)))
        return {kind: read(s, actions) for kind, read in OUTCOME_READERS.items()}


def _matches(expected, actual, start: datetime) -> bool:
    if isinstance(expected, str):
        return expected == actual
    return all(_same(key, value, actual.get(key), start) for key, value in expected.items())


def _same(key: str, expected, actual, start: datetime) -> bool:
    if key == "at":  # a duration from the test's start; the outcome carries the time
        return actual is not None and start + parse_duration(str(expected)) == parse_datetime(actual)
    if key == "due_in":
        return parse_duration(str(expected)) == parse_duration(str(actual))
    if key == "amount":
        return parse_literal(str(expected)).value == parse_literal(str(actual)).value
    return expected == actual


def compare(test: ir.RuleTest, got: dict[str, list]) -> list[str]:
    """Return one line per difference between the test's expectations and `got`."""
    expect = {kind: thaw(items) for kind, items in test.expect}
    start = parse_datetime(test.start)
    failures = []
    for kind, actual in got.items():
        if kind in test.ignore:
            continue
        wanted = expect.get(kind, [])
        if len(wanted) != len(actual) or not all(_matches(w, a, start) for w, a in zip(wanted, actual)):
            failures.append(f"{kind}: expected {_show(wanted)}, got {_show(_relative(actual, start))}")
    return failures


def _relative(items: list, start: datetime) -> list:
    """Show each outcome's `at` as the duration from the test's start, as tests write it."""
    return [
        dict(i, at=_duration(parse_datetime(i["at"]) - start)) if isinstance(i, dict) and i.get("at") else i
        for i in items
    ]


def _duration(delta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400 and seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _show(items: list) -> str:
    return (
        "["
        + ", ".join(
            str(i) if isinstance(i, str) else "{" + ", ".join(f"{k}: {v}" for k, v in i.items() if v is not None) + "}"
            for i in items
        )
        + "]"
        if items
        else "nothing"
    )


def failures(ruleset: ir.Ruleset, files: dict[str, str], rules_dir: str) -> list[str]:
    """Run the ruleset's own rule tests; return the report lines of those that fail.

    Activation (the CLI and the rules page) refuses a ruleset while this is not empty.
    """
    return [line for result in run_tests(ruleset, files, rules_dir) if not result.passed for line in describe(result)]


def describe(result: TestResult) -> list[str]:
    """Return the report lines of one result (`file:line: name: ...`)."""
    head = f"{result.test.file}:{result.test.line}: {result.test.name}"
    if result.passed:
        return [f"{head}: ok"]
    return [f"{head}: FAILED"] + [f"    {failure}" for failure in result.failures]


def run_dir(path: str) -> tuple[ir.Ruleset, list[TestResult]]:
    """Compile the rules in `path` (RulesetInvalid on errors) and run their tests."""
    from engine.rules.compiler import compile_ruleset
    from engine.rules.loader import load_tree

    files = load_tree(path)
    ruleset = compile_ruleset(files)
    return ruleset, run_tests(ruleset, files, str(Path(path)))
