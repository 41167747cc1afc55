"""Read rule files from disk (the only I/O of the rule language)."""

from __future__ import annotations

from pathlib import Path

from engine.rules import ir
from engine.rules.compiler import CONFIG_FOLDERS, compile_ruleset

SUFFIXES = (".yaml", ".yml")
# Top-level folders of the rules directory that hold other YAML: domain configuration
# (policy/, read by its domain) and notification templates (templates/).
RESERVED = CONFIG_FOLDERS


def load_dir(path: str | Path) -> dict[str, str]:
    """Return {relative path: text} for every rule file (YAML) under `path`, sorted."""
    root = Path(path)
    if root.is_file():
        return {root.name: root.read_text(encoding="utf-8")}
    if not root.is_dir():
        raise FileNotFoundError(f"no rules directory {root}")
    files = sorted(
        p
        for p in root.rglob("*")
        if p.suffix in SUFFIXES and p.is_file() and p.relative_to(root).parts[0] not in RESERVED
    )
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in files}


def load_tree(path: str | Path) -> dict[str, str]:
    """Return the rule files under `path` and the configuration (policy/, templates/) of
    the rules tree it belongs to: what a ruleset version is made of."""
    files = load_dir(path)
    return {**files, **load_config(path)} if Path(path).is_dir() else files


def load_config(root: str | Path) -> dict[str, str]:
    """Return {"policy/...": text, "templates/...": text} of the rules tree `root` is in.

    The tree is `root` or, for a sub-folder (`fxcrm rules test rules/onboarding`), the
    nearest of its two parents that has a policy/ folder; none found: no configuration.
    """
    start = Path(root).resolve()
    base = next((f for f in (start, *list(start.parents)[:2]) if (f / "policy").is_dir()), None)
    if base is None:
        return {}
    found = sorted(p for folder in RESERVED for p in (base / folder).rglob("*") if p.suffix in SUFFIXES and p.is_file())
    return {p.relative_to(base).as_posix(): p.read_text(encoding="utf-8") for p in found}


def compile_dir(path: str | Path, **kwargs) -> ir.Ruleset:
    """Load and compile the ruleset tree at `path` (its version covers the configuration
    too); raise RulesetInvalid on errors."""
    return compile_ruleset(load_tree(path), **kwargs)
