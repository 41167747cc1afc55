"""The rules page: the active ruleset, its files and rules, the candidate on disk, history.

The candidate is the rules directory the server reads (`FXCRM_RULES_DIR`). Checking it
and running its rule tests change nothing; activating it (and rolling back) goes through
`engine.rules.activation`, the same code as `fxcrm rules activate|rollback`, and leaves
an audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from engine.audit import service as audit
from engine.db import unit_of_work
from engine.rules import activation, ir
from engine.rules.compiler import is_config, ruleset_version
from engine.rules.errors import RulesetInvalid
from engine.rules.loader import load_tree
from engine.rules.models import RulesetVersion
from engine.values import iso
from web import database
from web.auth import current_user, requires

bp = Blueprint("rules", __name__)


@dataclass
class Candidate:
    """The rules directory as it is on disk now, compared with the active version."""

    directory: str
    files: dict[str, str] = field(default_factory=dict)
    ruleset: ir.Ruleset | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # activating needs them accepted
    changed: list[tuple[str, str]] = field(default_factory=list)  # (path, added|changed|removed)

    @property
    def valid(self) -> bool:
        return self.ruleset is not None


def _rules_dir() -> str:
    return current_app.extensions["fxcrm_config"].rules_dir


def _candidate(active_files: dict[str, str] | None) -> Candidate:
    found = Candidate(_rules_dir())
    try:
        found.files = load_tree(found.directory)
    except (FileNotFoundError, OSError, UnicodeDecodeError) as exc:
        found.errors = [f"{found.directory}: {exc}"]
        return found
    try:
        found.ruleset = activation.validate(found.files)
        found.warnings = [str(w) for w in found.ruleset.warnings]
    except RulesetInvalid as exc:
        found.errors = [str(e) for e in exc.errors]
    old = active_files or {}
    for path in sorted(set(old) | set(found.files)):
        if path not in old:
            found.changed.append((path, "added"))
        elif path not in found.files:
            found.changed.append((path, "removed"))
        elif old[path] != found.files[path]:
            found.changed.append((path, "changed"))
    return found


def _duration(seconds: int | None) -> str:
    if not seconds:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _started_by(rule: ir.Rule) -> str:
    """What starts a rule: its events, a silence (absent:) or its schedule."""
    if rule.absent is not None:
        since = f"; started by {', '.join(rule.absent.since)}" if rule.absent.since else ""
        return f"none of {', '.join(rule.absent.events)} for {_duration(rule.absent.seconds)}{since}"
    if rule.schedule is not None:
        return f"daily at {rule.schedule.at} {rule.schedule.zone}"
    return ", ".join(rule.events)


def _rules_by_file(ruleset: ir.Ruleset) -> list[dict]:
    by_file: dict[str, list[ir.Rule]] = {f: [] for f in ruleset.files}
    for rule in ruleset.rules:
        by_file.setdefault(rule.file, []).append(rule)
    tests: dict[str, int] = {}
    for test in ruleset.tests:
        tests[test.file] = tests.get(test.file, 0) + 1
    return [
        {
            "path": path,
            "tests": tests.get(path, 0),
            "rules": [
                {
                    "id": r.id,
                    "description": r.description,
                    "ruleset": r.ruleset,
                    "line": r.line,
                    "events": _started_by(r),
                    "after": _duration(r.after),
                    "actions": ", ".join(a.name for a in r.actions),
                }
                for r in sorted(rules, key=lambda r: r.line)
            ],
        }
        for path, rules in by_file.items()
    ]


def _timer_lines(timers: list[dict] | None) -> dict | None:
    """What an activation did to the pending timers: a summary and one line per timer."""
    from engine.rules.settlement import Settled, summary

    if timers is None:
        return None  # recorded before activations settled timers
    return {"summary": summary(timers), "lines": [Settled(**t).line().strip() for t in timers]}


def _flash_timers(session) -> None:
    """Say what the activation just done did to the pending timers (the first 20 of them)."""
    timers = _timer_lines(activation.settled(session))
    if timers and timers["lines"]:
        more = len(timers["lines"]) - 20
        flash(
            "Pending "
            + timers["summary"]
            + ": "
            + "; ".join(timers["lines"][:20])
            + (f"; and {more} more (see the activation history)" if more > 0 else "")
        )


def _state(session) -> dict:
    current = activation.active(session)
    stored = session.get(RulesetVersion, current.version) if current else None
    loaded = activation.load_version(session, current.version) if current else None
    history = [
        {
            "version": a.version,
            "at": iso(a.activated_at),
            "by": a.activated_by,
            "note": a.note,
            "timers": _timer_lines(a.timers),
        }
        for a in activation.history(session, limit=50)
    ]
    return {
        "active": history[0] if history else None,
        "source": stored.source if stored else None,
        "files": _rules_by_file(loaded.ruleset) if loaded else [],
        "rule_count": len(loaded.ruleset.rules) if loaded else 0,
        "config_files": sorted(p for p in (stored.files if stored else {}) if is_config(p)),
        "history": history,
        "active_files": dict(stored.files) if stored else None,
    }


def _page(results=None, status=200):
    with unit_of_work(database()) as s:
        state = _state(s)
    candidate = _candidate(state["active_files"])
    same = candidate.valid and state["active"] is not None and candidate.ruleset.version == state["active"]["version"]
    return render_template(
        "rules.html", state=state, candidate=candidate, same=same, results=results, facts=_facts()
    ), status


def _facts() -> dict:
    """The facts catalogue, from the registry `fxcrm rules facts` prints (engine.rules.catalogue)."""
    from engine.rules import catalogue

    return {"facts": catalogue.entries(), "aggregates": catalogue.aggregate_entries()}


@bp.get("/rules")
@requires("rules.view")
def index():
    """Show the active version, its files and rules, the candidate and the history."""
    return _page()


@bp.post("/rules/candidate/test")
@requires("rules.view")
def test_candidate():
    """Run the candidate's rule tests (in a sandbox database) and show the results."""
    from engine.rules.ruletests_run import describe, run_tests

    with unit_of_work(database()) as s:
        state = _state(s)
    candidate = _candidate(state["active_files"])
    if not candidate.valid:
        flash("The candidate does not validate; fix the errors listed before testing.")
        return redirect(url_for("rules.index"))
    outcome = run_tests(candidate.ruleset, candidate.files, candidate.directory)
    results = {
        "passed": sum(r.passed for r in outcome),
        "failed": [
            {"name": r.test.name, "file": r.test.file, "line": r.test.line, "lines": describe(r)}
            for r in outcome
            if not r.passed
        ],
        "version": candidate.ruleset.version,
    }
    return _page(results)


@bp.post("/rules/activate")
@requires("rules.activate")
def activate():
    """Activate the candidate: it must validate and be the version the user looked at."""
    expected = request.form.get("version", "")
    note = (request.form.get("note") or "").strip()[:500] or None
    user = current_user()
    try:
        files = load_tree(_rules_dir())
    except (FileNotFoundError, OSError, UnicodeDecodeError):
        files = {}
    try:
        if ruleset_version(files) != expected:  # the version is the hash of the files
            activation.validate(files)  # say first when they do not even validate
            flash("The rule files changed since the page was shown; review them again.")
            return redirect(url_for("rules.index"))
        from engine.rules.ruletests_run import failures

        candidate = activation.validate(files)
        activation.check_warnings(candidate, accepted=request.form.get("accept_warnings") == "yes")
        failed = failures(candidate, files, _rules_dir())
        if failed:
            flash(f"The candidate's rule tests fail; nothing was activated: {failed[0]}")
            return redirect(url_for("rules.index"))
        with unit_of_work(database()) as s:
            ruleset = activation.activate_files(
                s, files, actor=user.email, source=_rules_dir(), note=activation.accepted_note(candidate, note)
            )
            audit.record(
                s,
                actor=user.email,
                action="rules.activate",
                target_type="ruleset",
                target_id=ruleset.version,
                reason=note,
                detail={
                    "rules": len(ruleset.rules),
                    "files": len(files),
                    "timers": activation.settled(s),
                    **_accepted(candidate),
                },
            )
            _flash_timers(s)
    except RulesetInvalid:
        flash("The candidate does not validate; nothing was activated.")
        return redirect(url_for("rules.index"))
    except activation.WarningsNotAccepted as exc:
        flash(
            f'The candidate has {len(exc.warnings)} warning(s): tick "Accept the warnings" '
            f"after reviewing them; nothing was activated."
        )
        return redirect(url_for("rules.index"))
    flash(f"Activated {ruleset.version[:12]} ({len(ruleset.rules)} rules).")
    return redirect(url_for("rules.index"))


def _accepted(ruleset: ir.Ruleset) -> dict:
    """The audit detail of the warnings an activation accepted."""
    return {"accepted_warnings": [str(w) for w in ruleset.warnings]} if ruleset.warnings else {}


@bp.post("/rules/rollback")
@requires("rules.activate")
def rollback():
    """Activate again the version that was active before the current one."""
    user = current_user()
    try:
        with unit_of_work(database()) as s:
            row = activation.rollback(s, actor=user.email)
            audit.record(
                s,
                actor=user.email,
                action="rules.rollback",
                target_type="ruleset",
                target_id=row.version,
                reason=row.note,
                detail={"timers": activation.settled(s)},
            )
            _flash_timers(s)
            version = row.version
    except LookupError as exc:
        flash(f"Nothing rolled back: {exc}.")
        return redirect(url_for("rules.index"))
    flash(f"Rolled back to {version[:12]}.")
    return redirect(url_for("rules.index"))


@bp.get("/rules/versions/<version>/<path:path>")
@requires("rules.view")
def source(version: str, path: str):
    """Show one file of a stored version as it was activated."""
    with unit_of_work(database()) as s:
        stored = s.get(RulesetVersion, version)
        text = stored.files.get(path) if stored else None
    if text is None:
        abort(404)
    return render_template("rules_source.html", version=version, path=path, lines=text.splitlines())
