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
from engine.rules import ir
from engine.rules.compiler import compile_ruleset, ruleset_version
from engine.rules.loader import load_dir
from engine.rules.matcher import RuleMatcher
from engine.rules.models import RulesetActivation, RulesetVersion
from engine.values import utcnow

_CACHE_SIZE = 2  # durable-rules rulesets live in memory: keep the active one and one more


@dataclass(frozen=True)
class Loaded:
    ruleset: ir.Ruleset
    matcher: RuleMatcher


_cache: "OrderedDict[str, Loaded]" = OrderedDict()
_lock = threading.Lock()


def store_version(session: Session, files: dict[str, str], *, actor: str,
                  source: str | None = None) -> ir.Ruleset:
    """Compile `files` (raising RulesetInvalid) and store the version if it is new."""
    ruleset = compile_ruleset(files)
    if session.get(RulesetVersion, ruleset.version) is None:
        session.add(RulesetVersion(version=ruleset.version, files=dict(files), source=source,
                                   created_at=utcnow(), created_by=actor))
        session.flush()
    return ruleset


def activate_files(session: Session, files: dict[str, str], *, actor: str,
                   source: str | None = None, note: str | None = None) -> ir.Ruleset:
    """Validate, store and activate `files`; the caller's unit of work commits it."""
    ruleset = store_version(session, files, actor=actor, source=source)
    session.add(RulesetActivation(version=ruleset.version, activated_at=utcnow(),
                                  activated_by=actor, note=note))
    session.flush()
    session.info.pop("rules_active", None)
    return ruleset


def activate_dir(database: Database, path: str, *, actor: str) -> str:
    """Activate the rules in directory `path` in one transaction; return the version."""
    files = load_dir(path)
    with unit_of_work(database) as session:
        return activate_files(session, files, actor=actor, source=str(Path(path))).version


def active(session: Session) -> RulesetActivation | None:
    """Return the newest activation (it names the active version), or None."""
    return session.scalar(select(RulesetActivation).order_by(RulesetActivation.id.desc()).limit(1))


def history(session: Session, limit: int = 50) -> list[RulesetActivation]:
    """Return activations, newest first."""
    return list(session.scalars(select(RulesetActivation)
                                .order_by(RulesetActivation.id.desc()).limit(limit)))


def rollback(session: Session, *, actor: str) -> RulesetActivation:
    """Activate again the version that was active before the current one."""
    current = active(session)
    if current is None:
        raise LookupError("no ruleset has been activated")
    earlier = session.scalar(select(RulesetActivation).where(
        RulesetActivation.id < current.id, RulesetActivation.version != current.version)
        .order_by(RulesetActivation.id.desc()).limit(1))
    if earlier is None:
        raise LookupError("there is no earlier version to roll back to")
    row = RulesetActivation(version=earlier.version, activated_at=utcnow(), activated_by=actor,
                            note=f"rollback from {current.version[:12]}")
    session.add(row)
    session.flush()
    session.info.pop("rules_active", None)
    return row


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
    if "rules_active" not in session.info:
        row = active(session)
        session.info["rules_active"] = None if row is None else row.version
    version = session.info["rules_active"]
    return None if version is None else load_version(session, version)


def forget() -> None:
    """Drop the compiled rulesets of this process (tests)."""
    with _lock:
        _cache.clear()
