"""Activate ruleset versions atomically, keep their history, and load the active one.

The database is the source of truth: a version's files are stored with it, so every
worker compiles the same ruleset from the same text. Activating is one insert in one
transaction; a version that fails validation never gets that far.
"""
from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db import Database, unit_of_work
from engine.rules import ir
from engine.rules.compiler import compile_ruleset, is_config, ruleset_version
from engine.rules.errors import RuleError, RulesetInvalid
from engine.rules.loader import load_tree
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


_PROBLEM = re.compile(r"^(?P<file>[^:\s]+\.ya?ml)(?::(?P<line>\d+))?: ?(?P<message>.*)$", re.S)


def validate(files: dict[str, str]) -> ir.Ruleset:
    """Compile the rules and check the configuration (policy/, templates/) of `files`;
    raise RulesetInvalid listing every problem of both."""
    try:
        ruleset = compile_ruleset(files)
    except RulesetInvalid as exc:
        raise RulesetInvalid(exc.errors + check_config(files)) from None
    problems = check_config(files)
    if problems:
        raise RulesetInvalid(problems)
    return ruleset


def check_config(files: dict[str, str]) -> list[RuleError]:
    """Return the problems the domains find in the configuration files of `files`."""
    config = {p: t for p, t in files.items() if is_config(p)}
    if not config:
        return []
    from engine.domains import config_check_modules
    from engine.plugins import import_all
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        root = _write(Path(tmp), config, "candidate")
        for module in import_all(config_check_modules()):
            for problem in module.check_config(root):
                found = _PROBLEM.match(problem.replace(f"{root}/", ""))
                errors.append(RuleError(found["file"], int(found["line"] or 1), "-", found["message"])
                              if found else RuleError("policy", 0, "-", problem))
    return errors


def store_version(session: Session, files: dict[str, str], *, actor: str,
                  source: str | None = None, validated: ir.Ruleset | None = None) -> ir.Ruleset:
    """Validate `files` (raising RulesetInvalid) and store the version if it is new.

    `validated` is the ruleset the caller compiled from these very files a moment ago
    (the rule-test runner activates one version per test): it is not compiled again.
    """
    ruleset = validated if validated is not None and validated.version == ruleset_version(files) \
        else validate(files)
    if session.get(RulesetVersion, ruleset.version) is None:
        session.add(RulesetVersion(version=ruleset.version, files=dict(files), source=source,
                                   created_at=utcnow(), created_by=actor))
        session.flush()
    return ruleset


def activate_files(session: Session, files: dict[str, str], *, actor: str,
                   source: str | None = None, note: str | None = None,
                   validated: ir.Ruleset | None = None) -> ir.Ruleset:
    """Validate, store and activate `files`; the caller's unit of work commits it."""
    ruleset = store_version(session, files, actor=actor, source=source, validated=validated)
    session.add(RulesetActivation(version=ruleset.version, activated_at=utcnow(),
                                  activated_by=actor, note=note))
    session.flush()
    session.info.pop("rules_active", None)
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
    version = _active_version(session)
    return None if version is None else load_version(session, version)


def _active_version(session: Session) -> str | None:
    if "rules_active" not in session.info:
        row = active(session)
        session.info["rules_active"] = None if row is None else row.version
    return session.info["rules_active"]


def forget() -> None:
    """Drop the compiled rulesets of this process (tests)."""
    with _lock:
        _cache.clear()
        _config_dirs.clear()


# ---- the active version's configuration (policy/, templates/) ----------------------
# The domains read their policy files and the notification templates from a folder.
# A version stores them with its rules, so they are written once per process into a
# private temporary folder per version (versions never change: the hash covers them).
_config_dirs: dict[str, Path | None] = {}
_config_root: tuple[int, Path] | None = None  # (the process that made it, the folder)


def rules_dir_for(session: Session) -> Path | str:
    """Return the folder whose policy/ and templates/ apply to this session.

    That of the active version when it was activated with its configuration; otherwise
    (nothing active, or a version stored without it) the configured rules directory.
    """
    found = config_dir(session)
    if found is not None:
        return found
    database = session.info.get("database")
    return database.config.rules_dir if database is not None else "rules"


def config_dir(session: Session) -> Path | None:
    """Return the folder holding the active version's configuration files, or None."""
    version = _active_version(session)
    if version is None:
        return None
    with _lock:
        known = _config_dirs.get(version, False)
    # None: the version has no configuration. A folder is used while it exists and was
    # written by this process (after a temporary-files cleaner removed it, or in a
    # forked child, it is written again).
    if known is None or (known and known.is_dir() and _config_root
                         and _config_root[0] == os.getpid()):
        return known
    stored = session.get(RulesetVersion, version)
    config = {p: t for p, t in (stored.files if stored else {}).items() if is_config(p)}
    path = _materialize(version, config) if config else None
    with _lock:
        _config_dirs[version] = path
    return path


def _remove(pid: int, folder: Path) -> None:
    if os.getpid() == pid:  # not from a forked child that inherited the exit handler
        shutil.rmtree(folder, ignore_errors=True)


def _write(folder: Path, files: dict[str, str], label: str) -> Path:
    """Write {relative path: text} under `folder`; return it."""
    for relative, text in files.items():
        parts = PurePosixPath(relative).parts
        if PurePosixPath(relative).is_absolute() or ".." in parts:
            raise LookupError(f"ruleset {label}: bad configuration path {relative!r}")
        path = folder.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def _materialize(version: str, files: dict[str, str]) -> Path:
    global _config_root
    with _lock:
        if _config_root is None or _config_root[0] != os.getpid() or not _config_root[1].is_dir():
            _config_root = (os.getpid(), Path(tempfile.mkdtemp(prefix="fxcrm-ruleset-config-")))
            atexit.register(_remove, *_config_root)  # mkdtemp: mode 0700, this user only
        root = _config_root[1]
    target = root / version
    if target.is_dir():
        return target
    staging = _write(Path(tempfile.mkdtemp(dir=root)), files, version[:12])
    try:
        os.rename(staging, target)  # whole or not at all; another thread may have won
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return target
