"""The policy/ and templates/ files of a ruleset version, served from the database.

A version stores its configuration files with its rules. This module is the one way
the domains read them: a version's files are read from the database once per process
and kept in memory keyed by the version id (a version never changes: its hash covers
the files). The active version itself is read from the database once per transaction,
so every process sees a newly activated version at its next transaction. No folder is
ever written.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.rules.compiler import is_config
from engine.rules.models import RulesetActivation, RulesetVersion

_CACHE_SIZE = 4  # the active version, the one before it, and candidates being checked


@dataclass(frozen=True)
class RuleFiles:
    """The configuration files of one version: {relative path: text}, read-only."""

    version: str
    files: Mapping[str, str]

    def text(self, relative: str | PurePosixPath) -> str | None:
        """Return the text of `relative` (like `policy/kyc.yaml`), or None when absent."""
        return self.files.get(str(PurePosixPath(relative)))

    def exists(self, relative: str | PurePosixPath) -> bool:
        return self.text(relative) is not None

    def under(self, folder: str) -> list[str]:
        """Return the relative paths directly in `folder` (like `templates`), sorted."""
        return sorted(p for p in self.files if str(PurePosixPath(p).parent) == folder)


_versions: "OrderedDict[str, RuleFiles | None]" = OrderedDict()
_lock = threading.Lock()


def of(files: Mapping[str, str], version: str = "candidate") -> RuleFiles:
    """Return the configuration files among `files` (a candidate, not stored)."""
    return RuleFiles(version, {p: t for p, t in files.items() if is_config(p)})


def active_version(session: Session) -> str | None:
    """Return the active version, read once per transaction (a batch sees one version)."""
    if "rules_active" not in session.info:
        row = session.scalar(select(RulesetActivation).order_by(RulesetActivation.id.desc()).limit(1))
        session.info["rules_active"] = None if row is None else row.version
    active: str | None = session.info["rules_active"]
    return active


def of_version(session: Session, version: str) -> RuleFiles | None:
    """Return the configuration files stored with `version`, or None when it has none."""
    with _lock:
        if version in _versions:
            _versions.move_to_end(version)
            return _versions[version]
    stored = session.get(RulesetVersion, version)
    found = of(stored.files if stored else {}, version)
    result = found if found.files else None
    with _lock:
        _versions[version] = result
        while len(_versions) > _CACHE_SIZE:
            _versions.popitem(last=False)
    return result


def active(session: Session) -> RuleFiles | None:
    """Return the active version's configuration files, or None (nothing active, or a
    version stored without configuration: the configured rules directory applies)."""
    version = active_version(session)
    return None if version is None else of_version(session, version)


def forget() -> None:
    """Drop the files read by this process (tests)."""
    with _lock:
        _versions.clear()
