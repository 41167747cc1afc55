"""Policy files (`policy/*.yaml` of a ruleset), read the one way every domain reads them.

A domain names its file and how to parse its text; this module finds the text (the active
version's files, read from the database, or the configured rules folder when the active
version carries no policy/), parses it once per version (or once per change of the file in
the folder), and reads YAML with the line of every key, so an error is a `Problem`
(`file:line: where: message`). Domains reach it through `engine.rules.api`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar, cast

from sqlalchemy.orm import Session

from engine.rules.problems import Problem, joined
from engine.rules.yaml_lines import LineDict, line_at, load_documents

if TYPE_CHECKING:  # engine.rules.files is imported where used: it loads the compiler
    from engine.rules.files import RuleFiles

T = TypeVar("T")
V = TypeVar("V")
_CACHE_SIZE = 64  # parsed values kept: (version or folder state, file); a version has a few files


class PolicyError(ValueError):
    """A policy file is invalid: `problems`, printed one a line as `file:line: where: message`."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__(joined(self.problems))


def read_document(file: str, text: str) -> Any:
    """Return the one YAML document in `text` (None when empty), its mappings and lists
    remembering their lines (`LineDict`, `LineList`); raise PolicyError naming the line."""
    docs, errors = load_documents(file, text)
    if errors:
        raise PolicyError(Problem(e.file, e.line, "", e.message) for e in errors)
    if len(docs) > 1:
        raise PolicyError([Problem(file, 1, "", "expected one YAML document, found several")])
    return docs[0] if docs else None


def read_mapping(
    file: str, text: str, expected: str = "expected one YAML mapping", *, empty_ok: bool = False
) -> LineDict:
    """Return the YAML mapping in `text`; anything else is a PolicyError saying `expected`
    (an empty text is an empty mapping when `empty_ok`)."""
    data = read_document(file, text)
    if data is None and empty_ok:
        empty = LineDict()
        empty.line, empty.lines = 1, {}
        return empty
    if not isinstance(data, LineDict):
        raise PolicyError([Problem(file, 1, "", expected)])
    return data


def problem_at(file: str, data: Any, path: tuple[Hashable, ...], message: str, where: str = "") -> Problem:
    """Return a Problem at the line of key path `path` in `data` (read by read_document)."""
    return Problem(file, line_at(data, path), where, message)


def fail(file: str | Path, data: Any, path: tuple[Hashable, ...], message: str, where: str = "") -> NoReturn:
    """Raise a PolicyError at the line of key path `path` in `data`."""
    raise PolicyError([problem_at(str(file), data, path, message, where)])


def locate(rules_dir: str | Path, relative: str | Path) -> Path:
    """Return `relative` under `rules_dir`, or under the nearest parent holding it.

    `fxcrm rules test rules/onboarding` runs with a sub-folder as its rules directory;
    the policy and templates of the rules tree it belongs to still apply.
    """
    start = Path(rules_dir).resolve()
    for folder in (start, *start.parents):
        if (folder / relative).exists():
            return folder / relative
    return Path(rules_dir) / relative


def configured_rules_dir(session: Session) -> Path | str:
    """Return the configured rules directory (used when no active version carries its files)."""
    database = session.info.get("database")
    return database.config.rules_dir if database is not None else "rules"


def version_files(session: Session) -> RuleFiles | None:
    """Return the active version's files (`engine.rules.files.RuleFiles`) when they carry
    policy/ files, else None (the configured rules folder applies)."""
    from engine.rules import files as rule_files

    found = rule_files.active(session)
    if found is None or not any(p.startswith("policy/") for p in found.files):
        return None
    return found


class _Lru(Generic[V]):
    """A small thread-safe cache of parsed values (a parse error is never kept)."""

    def __init__(self) -> None:
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()
        with self._lock:
            self._items[key] = value
            while len(self._items) > _CACHE_SIZE:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


# Values of every domain's files: the key's `name` says which type a value has.
_by_version: _Lru[object] = _Lru()


def per_version(files: RuleFiles, name: str, compute: Callable[[], T]) -> T:
    """Return `compute()` for version `files.version`, computed once per version and `name`
    (for a domain that reads several files together, like policy/ib/)."""
    if files.version == "candidate":  # files not stored (engine.rules.files.of): nothing to key them by
        return compute()
    # A name is computed by one domain, always with the same type: the cached value is a T.
    return cast(T, _by_version.get((files.version, name), compute))


def stamp(path: Path) -> tuple[int, int] | None:
    """Return what changes when the file at `path` is edited, or None when it is absent."""
    try:
        stat = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (stat.st_mtime_ns, stat.st_size)  # size too: two quick edits may share a time


class PolicyFile(Generic[T]):
    """One policy file of a ruleset, like `policy/withdrawals.yaml`.

    `parse(text, file)` checks the text and returns its value, raising PolicyError (its
    problems name `file`). A missing file gives `default()`, or, with no default, a
    PolicyError saying `missing`. In a folder the file is looked up in the configured rules
    directory and its parents; `fallback` (the repository's rules) applies when the
    configured directory has no policy/ folder at all.
    """

    def __init__(
        self,
        relative: str,
        parse: Callable[[str, str], T],
        *,
        default: Callable[[], T] | None = None,
        missing: str = "policy file is missing",
        fallback: Path | None = None,
    ):
        self.relative, self.parse, self.default = relative, parse, default
        self.missing, self.fallback = missing, fallback
        self._by_path: _Lru[T] = _Lru()

    def _absent(self, file: str) -> T:
        if self.default is None:
            raise PolicyError([Problem(file, 1, "", self.missing)])
        return self.default()

    def for_session(self, session: Session) -> T:
        """Return the value of the file in the active version (or the configured folder)."""
        files = version_files(session)
        if files is not None:
            return self.from_files(files)
        return self.from_folder(configured_rules_dir(session))

    def from_files(self, files: RuleFiles) -> T:
        """Return the value of the file among a version's files (a RuleFiles), parsed once."""
        return per_version(files, self.relative, lambda: self.from_text(files.text(self.relative)))

    def from_text(self, text: str | None, file: str | None = None) -> T:
        """Parse `text` (None: the file is missing), naming it `file` (the relative path)."""
        file = file or self.relative
        return self._absent(file) if text is None else self.parse(text, file)

    def path_in(self, rules_dir: str | Path) -> Path:
        """Return the file that applies to the rules folder `rules_dir` (it may not exist)."""
        path = locate(rules_dir, self.relative)
        if not path.is_file() and self.fallback is not None and not (Path(rules_dir) / "policy").is_dir():
            return self.fallback / self.relative
        return path

    def from_folder(self, rules_dir: str | Path) -> T:
        """Return the value of the file in the rules folder, parsed again only when it changed."""
        path = self.path_in(rules_dir)
        return self.read(path)

    def read(self, path: Path) -> T:
        """Return the value of the file at `path`, parsed again only when it changed."""
        state = stamp(path)
        if state is None:
            return self._absent(str(path))
        return self._by_path.get((str(path), state), lambda: self.parse(path.read_text(encoding="utf-8"), str(path)))

    def check(self, files: RuleFiles) -> list[Problem]:
        """Return the problems of the file among `files` (activation checks it; a version
        without the file reads the folder's or the default, so its absence is none)."""
        text = files.text(self.relative)
        if text is None:
            return []
        try:
            self.parse(text, self.relative)
        except PolicyError as exc:
            return exc.problems
        return []


def forget() -> None:
    """Drop the parsed values of versions (tests)."""
    _by_version.clear()
