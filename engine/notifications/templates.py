"""Notification templates: YAML files (subject, body) under <rules dir>/templates/, rendered with Jinja."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from engine.rules import api as rules_api
from engine.rules.problems import Problem

TEMPLATES_DIR = "templates"
_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")
# Sandboxed: a template edited by a broker can read the context but run no code.
_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


class TemplateProblem(ValueError):
    """A template is missing or broken (the message names the file and the problem; `line`
    is the line in the file, when known)."""

    def __init__(self, message: str, line: int = 1):
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    body: str


def _check_name(name: str) -> None:
    if not _NAME.match(name or ""):
        raise TemplateProblem(f"bad template name {name!r}: use lower-case letters, digits, - and _")


def path_of(rules_dir: str | Path, name: str) -> Path:
    """Return the file of template `name`."""
    _check_name(name)
    from engine.rules.api import locate

    return locate(rules_dir, Path(TEMPLATES_DIR) / f"{name}.yaml")


def _read(source, name: str) -> tuple[str, str | None]:
    """Return (how to name the file, its text or None) of template `name` in `source`: a
    rules folder, or a version's files (`engine.rules.files.RuleFiles`)."""
    if isinstance(source, (str, Path)):
        return _folder_text(source, name)
    _check_name(name)  # (was path_of("."): a search of the working folder's parents for each notification)
    relative = f"{TEMPLATES_DIR}/{name}.yaml"
    return relative, source.text(relative)


# Where each template of a rules folder was found: a notification per event looked for
# its file up the folder's parents each time (a path resolution and a dozen system calls).
# The file is still read each time (an edit applies at once; a small read); one that is
# gone is looked for again.
_found: dict[tuple[str, str], Path] = {}


def _folder_text(folder: str | Path, name: str) -> tuple[str, str | None]:
    key = (str(folder), name)
    path = _found.get(key) or path_of(folder, name)  # path_of checks the name: a bad one is never kept
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:  # missing (or not a file)
        _found.pop(key, None)
        return str(path), None
    _found[key] = path
    return str(path), text


def load(source, name: str) -> dict:
    """Read and check template `name`: a mapping with `body` and an optional `subject`.

    `source` is a rules folder or a version's files (`engine.rules.files.RuleFiles`)."""
    path, text = _read(source, name)
    if text is None:
        raise TemplateProblem(f"{path}: no such notification template")
    return _parsed(path, text)


@lru_cache(maxsize=256)
def _parsed(path: str, text: str) -> dict:
    """Template `text` read and checked (see load), kept by its text: a notification per
    event would otherwise parse its YAML each time. Callers only read it."""
    try:
        data = rules_api.read_document(path, text)  # the rules' YAML loader: keys know their lines
    except rules_api.PolicyError as exc:
        first = exc.problems[0]
        raise TemplateProblem(f"{path}: {first.message}", first.line) from None
    if not isinstance(data, dict) or not isinstance(data.get("body"), str):
        line = rules_api.line_at(data, ("body",))
        raise TemplateProblem(f"{path}: a template is a mapping with `subject:` and `body:` text", line)
    unknown = sorted(set(data) - {"subject", "body", "description"}, key=str)
    if unknown:
        raise TemplateProblem(
            f"{path}: unknown key {unknown[0]!r} (allowed: subject, body, description)",
            rules_api.line_at(data, (unknown[0],)),
        )
    return data


def render(source, name: str, context: dict) -> Rendered:
    """Render template `name` of `source` (see load) with `context`; a missing value or bad
    syntax is an error."""
    data = load(source, name)
    try:
        subject = _compiled(data["subject"]).render(context) if data.get("subject") else None
        body = _compiled(data["body"]).render(context)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line} of the text)" if line else ""
        raise TemplateProblem(f"{_read(source, name)[0]}: {exc}{where}") from None
    return Rendered(" ".join(subject.split())[:300] if subject else None, body.strip() + "\n")


@lru_cache(maxsize=512)
def _compiled(text: str) -> Template:
    """The Jinja template of `text`, compiled once (a syntax error is raised each time)."""
    return _env.from_string(text)


def names_used(source, name: str) -> frozenset[str]:
    """The top-level names template `name` reads (`client`, a domain's `kyc`, ...)."""
    data = load(source, name)
    texts = [data["body"], *([data["subject"]] if data.get("subject") else [])]
    return frozenset().union(*(_names(t) for t in texts))


@lru_cache(maxsize=512)
def _names(text: str) -> frozenset[str]:
    """The top-level names `text` reads, parsed once per text (the set-based notify form
    asks for each template in each round)."""
    from jinja2 import meta

    return frozenset(meta.find_undeclared_variables(_env.parse(text)))


def check_config(files) -> list[Problem]:
    """Return the problems of the notification templates among `files` (a RuleFiles); a
    Jinja error points at its line in the template file."""
    problems = []
    for relative in files.under(TEMPLATES_DIR):
        if not relative.endswith(".yaml"):
            continue
        try:
            data = load(files, PurePosixPath(relative).stem)
        except TemplateProblem as exc:
            problems.append(Problem(relative, exc.line, "", str(exc).removeprefix(f"{relative}: ")))
            continue
        for key in ("subject", "body"):
            try:
                if data.get(key):
                    _env.parse(data[key])
            except TemplateError as exc:
                line = _text_line(files.text(relative), data, key) + (getattr(exc, "lineno", 1) or 1) - 1
                problems.append(Problem(relative, line, key, f"Jinja: {exc.message or exc}"))
    return problems


def _text_line(text: str | None, data, key: str) -> int:
    """The line of the file where the text of `key` starts: the line after `key: |` for a
    block, else the line of the key itself."""
    line = rules_api.line_at(data, (key,))
    lines = (text or "").splitlines()
    after = lines[line - 1].split(":", 1)[1].strip() if 0 < line <= len(lines) and ":" in lines[line - 1] else ""
    return line + 1 if after[:1] in ("|", ">") else line


def fields_used(source, name: str, top: str) -> frozenset[str] | None:
    """The attributes of top-level name `top` template `name` reads (`{{ client.first_name }}`
    gives first_name), or None when it uses `top` some other way (whole, or by a computed key)."""
    data = load(source, name)
    texts = [data["body"], *([data["subject"]] if data.get("subject") else [])]
    found: set[str] = set()
    for text in texts:
        used = _fields(text, top)
        if used is None:
            return None
        found |= used
    return frozenset(found)


@lru_cache(maxsize=512)
def _fields(text: str, top: str) -> frozenset[str] | None:
    from jinja2 import nodes

    found: set[str] = set()

    def walk(node, parent) -> bool:
        if isinstance(node, nodes.Name) and node.name == top:
            if isinstance(parent, nodes.Getattr) and parent.node is node:
                found.add(parent.attr)
            elif isinstance(parent, nodes.Getitem) and parent.node is node and isinstance(parent.arg, nodes.Const):
                found.add(str(parent.arg.value))
            else:
                return False
        return all(walk(child, node) for child in node.iter_child_nodes())

    return frozenset(found) if walk(_env.parse(text), None) else None
