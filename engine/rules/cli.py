"""`fxcrm rules ...` and `fxcrm timers fire|schedule`: check, test, backtest, activate, status, rollback."""

from __future__ import annotations

import json
import sys

import click

from engine import config as config_mod
from engine.cli_common import cli_actor as _actor
from engine.cli_common import database as _database
from engine.db import unit_of_work
from engine.rules.errors import RulesetInvalid
from engine.values import iso, parse_datetime


def _dir(path: str | None) -> str:
    return path or config_mod.load().rules_dir


def _fail(lines) -> None:
    for line in lines:
        click.echo(line, err=True)
    sys.exit(1)


def _audit(session, actor: str, action: str, version: str, **detail) -> None:
    """Leave the same audit entry as the web page does for an activation or rollback."""
    from engine.audit import service as audit

    audit.record(session, actor=actor, action=action, target_type="ruleset", target_id=version, detail=detail or None)


def _compiled(path: str):
    from engine.rules.activation import validate
    from engine.rules.loader import load_tree

    try:
        return validate(load_tree(path))
    except RulesetInvalid as exc:
        _fail(str(e) for e in exc.errors)
    except FileNotFoundError as exc:
        _fail([f"error: {exc}"])


@click.group("rules")
def rules():
    """Rule files: check, test, backtest, activate."""


@rules.command("check")
@click.argument("directory", required=False)
def check(directory):
    """Validate the rule files; print `file:line: rule-id: message` for each error (exit 1)
    and each warning (`... rule-id: warning: message`; exit 0 with warnings only)."""
    path = _dir(directory)
    ruleset = _compiled(path)
    for warning in ruleset.warnings:
        click.echo(str(warning))
    shown = f", {len(ruleset.warnings)} warning(s)" if ruleset.warnings else ""
    click.echo(
        f"ok: {len(ruleset.rules)} rules in {len(ruleset.files)} files, "
        f"{len(ruleset.tests)} tests{shown}; version {ruleset.version}"
    )


@rules.command("facts")
@click.option("--json", "as_json", is_flag=True)
@click.option("--markdown", is_flag=True, help="The section of docs/rules.md.")
def facts(as_json, markdown):
    """List every client fact a rule can read: name, kind, meaning, parameters, cost."""
    from engine.rules import catalogue

    if as_json:
        click.echo(json.dumps(catalogue.entries(), indent=1))
    else:
        click.echo(catalogue.markdown() if markdown else catalogue.text())


@rules.command("test")
@click.argument("directory", required=False)
def test(directory):
    """Run the YAML rule tests next to the rules."""
    from engine.rules.loader import load_tree
    from engine.rules.ruletests_run import describe, run_tests

    path = _dir(directory)
    ruleset = _compiled(path)
    results = run_tests(ruleset, load_tree(path), path)
    for result in results:
        for line in describe(result):
            click.echo(line)
    failed = sum(not r.passed for r in results)
    click.echo(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        sys.exit(1)


@rules.command("activate")
@click.argument("directory", required=False)
@click.option("--actor", default=None, help="Who activates (default: the OS user).")
@click.option(
    "--accept-warnings", is_flag=True, help="Activate even though `rules check` warns (the warnings are recorded)."
)
def activate(directory, actor, accept_warnings):
    """Validate the rules in DIRECTORY and make them the active version (atomically)."""
    from engine.rules import activation
    from engine.rules.loader import load_tree
    from engine.rules.ruletests_run import failures

    path = _dir(directory)
    ruleset = _compiled(path)  # errors exit 1 before anything is written
    _accepted(ruleset, accept_warnings)
    files = load_tree(path)
    failed = failures(ruleset, files, path)  # and so do failing rule tests
    if failed:
        _fail(
            [
                *failed,
                f"refused: {sum(not line.startswith(' ') for line in failed)} rule test(s) fail; nothing was activated",
            ]
        )
    with unit_of_work(_database()) as session:
        ruleset = activation.activate_files(
            session, files, actor=_actor(actor), source=path, note=activation.accepted_note(ruleset, None)
        )
        timers = activation.settled(session)
        _audit(
            session,
            _actor(actor),
            "rules.activate",
            ruleset.version,
            rules=len(ruleset.rules),
            files=len(files),
            source=path,
            timers=timers,
            **({"accepted_warnings": [str(w) for w in ruleset.warnings]} if ruleset.warnings else {}),
        )
    click.echo(f"active: {ruleset.version} ({len(ruleset.rules)} rules from {path})")
    _echo_timers(timers)


def _echo_timers(timers: list[dict]) -> None:
    """Print what the activation did to each pending timer (kept, rescheduled, cancelled)."""
    from engine.rules.settlement import Settled, summary

    click.echo(summary(timers))
    for record in timers:
        click.echo(Settled(**record).line())


def _accepted(ruleset, accept_warnings: bool) -> None:
    """Print the warnings; exit 1 unless --accept-warnings accepts them."""
    from engine.rules.activation import WarningsNotAccepted, check_warnings

    for warning in ruleset.warnings:
        click.echo(str(warning), err=True)
    try:
        check_warnings(ruleset, accepted=accept_warnings)
    except WarningsNotAccepted as exc:
        _fail(
            [
                f"refused: {len(exc.warnings)} warning(s); review them and activate with "
                f"--accept-warnings to accept them; nothing was activated"
            ]
        )


@rules.command("status")
@click.option("--json", "as_json", is_flag=True)
def status(as_json):
    """Show the active version (hash, time, who) and the activation history."""
    from engine.rules import activation

    with unit_of_work(_database()) as session:
        rows = [
            {
                "version": a.version,
                "activated_at": iso(a.activated_at),
                "activated_by": a.activated_by,
                "note": a.note,
                "timers": a.timers,
            }
            for a in activation.history(session, limit=10)
        ]
    if as_json:
        click.echo(json.dumps({"active": rows[0] if rows else None, "history": rows}))
    elif not rows:
        click.echo("no ruleset is active (run `fxcrm rules activate`)")
    else:
        a = rows[0]
        click.echo(f"active: {a['version']}\nsince:  {a['activated_at']}\nby:     {a['activated_by']}")
        for row in rows[1:]:
            click.echo(f"  earlier: {row['version'][:12]} at {row['activated_at']} by {row['activated_by']}")


@rules.command("rollback")
@click.option("--actor", default=None)
def rollback(actor):
    """Activate again the version that was active before the current one."""
    from engine.rules import activation

    try:
        with unit_of_work(_database()) as session:
            row = activation.rollback(session, actor=_actor(actor))
            timers = activation.settled(session)
            _audit(session, _actor(actor), "rules.rollback", row.version, timers=timers)
            version = row.version
    except LookupError as exc:
        _fail([f"error: {exc}"])
    click.echo(f"active: {version}")
    _echo_timers(timers)


@rules.command("backtest")
@click.argument("directory")
@click.option("--since", default=None, help="ISO-8601; events that occurred at or after.")
@click.option("--until", default=None, help="ISO-8601; events that occurred before.")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
def backtest(directory, since, until, as_json):
    """Replay stored events through the rules in DIRECTORY in a sandbox; print each outcome
    (task, notification, commission, score, client state) that would differ, with its rule and why."""
    from engine.rules.backtest import describe, run_backtest
    from engine.rules.backtest import as_json as report_json

    _compiled(directory)
    try:
        window = [parse_datetime(t) if t else None for t in (since, until)]
    except ValueError as exc:
        _fail([f"error: {exc}"])
    report = run_backtest(_database(), directory, since=window[0], until=window[1])
    if as_json:
        click.echo(json.dumps(report_json(report), indent=1))
        return
    for line in describe(report):
        click.echo(line)


@click.group("timers")
def timers():
    """Durable rule timers."""


def _run_at(now: str | None, run):
    """Return `run(at)` at the ISO-8601 time `now` (None: now), with the clock frozen there so
    what it does (tasks, notifications) is dated at that time too."""
    from engine.values import clock

    try:
        at = parse_datetime(now) if now else None
    except ValueError as exc:
        _fail([f"error: {exc}"])
    clock.freeze(at)
    try:
        return run(at)
    finally:
        clock.freeze(None)


@timers.command("fire")
@click.option("--now", "now", default=None, help="ISO-8601 time to fire at (default: now).")
def fire(now):
    """Fire every timer due at that time."""
    from engine.rules.timers import fire_due

    count = _run_at(now, lambda at: fire_due(_database(), now=at))
    click.echo(f"fired {count} timer(s)")


@timers.command("schedule")
@click.option("--now", "now", default=None, help="ISO-8601 time to run at (default: now).")
def run_scheduled(now):
    """Run the scheduled rules whose latest daily run at that time is not done yet."""
    from engine.rules.schedule import run_due

    count = _run_at(now, lambda at: run_due(_database(), now=at))
    click.echo(f"scheduled rules acted for {count} client(s)")


commands = [rules, timers]
