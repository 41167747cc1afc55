"""Import the optional modules through which domains plug into the core."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType


def import_optional(name: str) -> ModuleType | None:
    """Import module `name`; return None if it (or a parent package) does not exist."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if name == missing or name.startswith(missing + "."):
            return None
        raise  # a real import error inside an existing module


def import_all(names: Iterable[str]) -> list[ModuleType]:
    """Import every existing module of `names`, in order."""
    return [m for m in map(import_optional, names) if m is not None]
