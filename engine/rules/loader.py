"""Read rule files from disk (the only I/O of the rule language)."""
from __future__ import annotations

from pathlib import Path

from engine.rules import ir
from engine.rules.compiler import compile_ruleset

SUFFIXES = (".yaml", ".yml")
# Top-level folders of the rules directory that hold other YAML: domain configuration
# (policy/, read by its domain) and notification templates (templates/).
RESERVED = ("policy", "templates")


def load_dir(path: str | Path) -> dict[str, str]:
    """Return {relative path: text} for every YAML file under `path`, sorted."""
    root = Path(path)
    if root.is_file():
        return {root.name: root.read_text(encoding="utf-8")}
    if not root.is_dir():
        raise FileNotFoundError(f"no rules directory {root}")
    files = sorted(p for p in root.rglob("*") if p.suffix in SUFFIXES and p.is_file()
                   and p.relative_to(root).parts[0] not in RESERVED)
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in files}


def compile_dir(path: str | Path, **kwargs) -> ir.Ruleset:
    """Load and compile every rule file under `path`; raise RulesetInvalid on errors."""
    return compile_ruleset(load_dir(path), **kwargs)
