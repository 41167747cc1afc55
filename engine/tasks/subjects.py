"""What a task is about: its subject (a withdrawal, a document, a commission), as the owning domain says.

A domain registers, in its `subjects` module, a finder for each kind of subject it
owns: `@subject("withdrawal")` on `find(session, task) -> id | None`. The web asks
`subject_of(session, task, "withdrawal")` and offers that domain's task actions; it
never reads a task's JSON itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Finder = Callable[[Any, Any], "str | None"]


@dataclass(frozen=True)
class Subject:
    kind: str  # "withdrawal", "document", "commission"
    id: str


FINDERS: dict[str, Finder] = {}
_loaded = False


def subject(kind: str) -> Callable[[Finder], Finder]:
    """Register the decorated find(session, task) -> id | None for subjects of `kind`."""

    def register(find: Finder) -> Finder:
        FINDERS[kind] = find
        return find

    return register


def finders() -> dict[str, Finder]:
    """Import every domain's subjects module once and return the registry."""
    global _loaded
    if not _loaded:
        from engine.domains import import_each

        import_each("subjects")
        _loaded = True
    return FINDERS


def subject_of(session: Any, task: Any, kind: str) -> Subject | None:
    """Return the task's subject of `kind`, or None (also when no domain owns that kind)."""
    find = finders().get(kind)
    found = find(session, task) if find is not None else None
    return Subject(kind, found) if found else None
