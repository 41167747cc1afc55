"""Activate ruleset versions atomically, keep their history, and load the active one.

The database is the source of truth: a version's files are stored with it, so every
worker compiles the same ruleset from the same text. Activating is one insert in one
transaction; a version that fails validation never gets that far.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db import Database, unit_of_work
from engine.rules import files as rule_files
from engine.rules import ir
from engine.rules.compiler import compile_ruleset, ruleset_version
from engine.rules.errors import RuleError, RulesetInvalid
from engine.rules.loader import load_tree
from engine.rules.matcher import RuleMatcher
from engine.rules.models import TIMER_PENDING, RulesetActivation, RulesetVersion, RuleTimer
from engine.rules.problems import Problem
from engine.values import utcnow

_CACHE_SIZE = 2  # durable-rules rulesets live in memory: keep the active one and one more


@dataclass(frozen=True)
class Loaded:
    ruleset: ir.Ruleset
    matcher: RuleMatcher


_cache: "OrderedDict[str, Loaded]" = OrderedDict()
_lock = threading.Lock()


def validate(files: dict[str, str]) -> ir.Ruleset:
    """Compile the rules and check the configuration (policy/, templates/) of `files`;
    raise RulesetInvalid listing every problem of both."""
    try:
        ruleset = compile_ruleset(files)
    except RulesetInvalid as exc:
        raise RulesetInvalid(exc.errors + _errors(check_config(files))) from None
    problems = check_config(files)
    if _errors(problems):
        raise RulesetInvalid(_errors(problems))
    found = [p for p in problems if p.severity == "warning"]
    return replace(ruleset, warnings=tuple(sorted(set(ruleset.warnings) | set(found)))) if found else ruleset


def _errors(problems: list[RuleError]) -> list[RuleError]:
    return [p for p in problems if p.severity != "warning"]


def check_config(files: dict[str, str]) -> list[RuleError]:
    """Return the problems the domains find in the configuration files of `files`."""
    config = rule_files.of(files)
    if not config.files:
        return []
    from engine.domains import config_check_modules
    from engine.plugins import import_all

    return [
        _as_rule_error(problem)
        for module in import_all(config_check_modules())
        for problem in module.check_config(config)
    ]


def _as_rule_error(problem: Problem) -> RuleError:
    """A domain's problem as `rules check` prints it: `file:line: -: where: message`."""
    message = f"{problem.where}: {problem.message}" if problem.where else problem.message
    return RuleError(problem.file, problem.line, "-", message, problem.severity, problem.suggestion)


class WarningsNotAccepted(Exception):
    """The ruleset has warnings and the activation did not accept them explicitly."""

    def __init__(self, warnings: tuple):
        self.warnings = warnings
        super().__init__(f"{len(warnings)} warning(s) not accepted")


def check_warnings(ruleset: ir.Ruleset, *, accepted: bool) -> None:
    """Raise WarningsNotAccepted when `ruleset` has warnings and they were not accepted
    (`fxcrm rules activate --accept-warnings`, the rules page's checkbox)."""
    if ruleset.warnings and not accepted:
        raise WarningsNotAccepted(ruleset.warnings)


def accepted_note(ruleset: ir.Ruleset, note: str | None) -> str | None:
    """The activation's note, saying how many warnings were accepted (the audit entry lists them)."""
    if not ruleset.warnings:
        return note
    said = f"accepted {len(ruleset.warnings)} warning(s)"
    return f"{note} ({said})" if note else said


def store_version(
    session: Session,
    files: dict[str, str],
    *,
    actor: str,
    source: str | None = None,
    validated: ir.Ruleset | None = None,
) -> ir.Ruleset:
    """Validate `files` (raising RulesetInvalid) and store the version if it is new.

    `validated` is the ruleset the caller compiled from these very files a moment ago
    (the rule-test runner activates one version per test): it is not compiled again.
    """
    ruleset = validated if validated is not None and validated.version == ruleset_version(files) else validate(files)
    if session.get(RulesetVersion, ruleset.version) is None:
        session.add(
            RulesetVersion(
                version=ruleset.version, files=dict(files), source=source, created_at=utcnow(), created_by=actor
            )
        )
        session.flush()
    return ruleset


def activate_files(
    session: Session,
    files: dict[str, str],
    *,
    actor: str,
    source: str | None = None,
    note: str | None = None,
    validated: ir.Ruleset | None = None,
) -> ir.Ruleset:
    """Validate, store and activate `files`; the caller's unit of work commits it."""
    ruleset = store_version(session, files, actor=actor, source=source, validated=validated)
    row = RulesetActivation(version=ruleset.version, activated_at=utcnow(), activated_by=actor, note=note)
    session.add(row)
    session.flush()
    session.info.pop("rules_active", None)
    settle_pending_timers(session, row)
    return ruleset


def activate_dir(database: Database, path: str, *, actor: str) -> str:
    """Activate the rules in directory `path` in one transaction; return the version."""
    files = load_tree(path)
    with unit_of_work(database) as session:
        return activate_files(session, files, actor=actor, source=str(Path(path))).version


def active(session: Session) -> RulesetActivation | None:
    """Return the newest activation (it names the active version), or None."""
    return session.scalar(select(RulesetActivation).order_by(RulesetActivation.id.desc()).limit(1))


def history(session: Session, limit: int = 50) -> list[RulesetActivation]:
    """Return activations, newest first."""
    return list(session.scalars(select(RulesetActivation).order_by(RulesetActivation.id.desc()).limit(limit)))


def rollback(session: Session, *, actor: str) -> RulesetActivation:
    """Activate again the version that was active before the current one."""
    current = active(session)
    if current is None:
        raise LookupError("no ruleset has been activated")
    earlier = session.scalar(
        select(RulesetActivation)
        .where(RulesetActivation.id < current.id, RulesetActivation.version != current.version)
        .order_by(RulesetActivation.id.desc())
        .limit(1)
    )
    if earlier is None:
        raise LookupError("there is no earlier version to roll back to")
    row = RulesetActivation(
        version=earlier.version, activated_at=utcnow(), activated_by=actor, note=f"rollback from {current.version[:12]}"
    )
    session.add(row)
    session.flush()
    session.info.pop("rules_active", None)
    settle_pending_timers(session, row)
    return row


def settle_pending_timers(session: Session, row: RulesetActivation) -> list[dict]:
    """Settle the pending timers under the version `row` activates (kept, rescheduled,
    cancelled); record the list on the row and return it (engine/rules/settlement.py)."""
    from engine.rules import settlement

    newest, replaced = settlement.lock_activations(session, row)
    pending = session.scalar(select(RuleTimer.id).where(RuleTimer.status == TIMER_PENDING).limit(1))
    row.timers = []
    if newest and pending is not None:
        old = _compiled_version(session, replaced.version) if replaced is not None else None
        new = load_version(session, row.version).ruleset
        row.timers = settlement.as_records(settlement.settle_timers(session, old, new, row.activated_at))
    session.flush()
    session.info["rules_settled"] = row.timers
    return row.timers


def settled(session: Session) -> list[dict]:
    """What the activation (or rollback) of this transaction did to the pending timers."""
    return list(session.info.get("rules_settled") or [])


def _compiled_version(session: Session, version: str) -> ir.Ruleset | None:
    """The rules of a stored version (no matcher: only read to compare with the new one)."""
    with _lock:
        if version in _cache:
            return _cache[version].ruleset
    stored = session.get(RulesetVersion, version)
    return compile_ruleset(stored.files) if stored is not None else None


def load_version(session: Session, version: str) -> Loaded:
    """Return the compiled ruleset and matcher of a stored version (cached per process)."""
    with _lock:
        if version in _cache:
            _cache.move_to_end(version)
            return _cache[version]
    stored = session.get(RulesetVersion, version)
    if stored is None:
        raise LookupError(f"ruleset version {version} is not stored")
    ruleset = compile_ruleset(stored.files)
    if ruleset.version != version or ruleset_version(stored.files) != version:
        raise LookupError(f"stored ruleset {version[:12]} does not hash to its version")
    loaded = Loaded(ruleset, RuleMatcher(ruleset))
    with _lock:
        _cache[version] = loaded
        while len(_cache) > _CACHE_SIZE:
            # Not closed here: a thread may still be matching with it; the durable-rules
            # ruleset is freed when the last reference goes (DurableEvaluator.__del__).
            _cache.popitem(last=False)
    return loaded


def only_rulesets(ruleset: ir.Ruleset, names: set[str]) -> ir.Ruleset:
    """Return `ruleset` keeping only the rules of the named rulesets (rule tests)."""
    rules = tuple(r for r in ruleset.rules if r.ruleset in names)
    by_event = {t: tuple(r for r in rs if r.ruleset in names) for t, rs in ruleset.by_event.items()}
    return replace(ruleset, rules=rules, by_event={t: rs for t, rs in by_event.items() if rs})


def preload(ruleset: ir.Ruleset) -> None:
    """Use `ruleset` for its version in this process (a subset for rule tests and backtests)."""
    with _lock:
        _cache[ruleset.version] = Loaded(ruleset, RuleMatcher(ruleset))


def current(session: Session) -> Loaded | None:
    """Return the active ruleset, compiled, or None when none was ever activated.

    The active version is read once per transaction (a batch of one client's events):
    an activation commits atomically, so a batch sees one version from start to end.
    """
    version = _active_version(session)
    return None if version is None else load_version(session, version)


def _active_version(session: Session) -> str | None:
    return rule_files.active_version(session)


def forget() -> None:
    """Drop the compiled rulesets of this process (tests)."""
    with _lock:
        _cache.clear()
    rule_files.forget()
