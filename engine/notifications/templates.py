"""Notification templates: YAML files (subject, body) under <rules dir>/templates/, rendered with Jinja."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

TEMPLATES_DIR = "templates"
_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")
# Sandboxed: a template edited by a broker can read the context but run no code.
_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


class TemplateProblem(ValueError):
    """A template is missing or broken (the message names the file and the problem)."""


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    body: str


def path_of(rules_dir: str | Path, name: str) -> Path:
    """Return the file of template `name`."""
    if not _NAME.match(name or ""):
        raise TemplateProblem(f"bad template name {name!r}: use lower-case letters, digits, - and _")
    from engine.kyc.policy import locate
    return locate(rules_dir, Path(TEMPLATES_DIR) / f"{name}.yaml")


def load(rules_dir: str | Path, name: str) -> dict:
    """Read and check template `name`: a mapping with `body` and an optional `subject`."""
    path = path_of(rules_dir, name)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TemplateProblem(f"{path}: no such notification template") from None
    except yaml.YAMLError as exc:
        raise TemplateProblem(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("body"), str):
        raise TemplateProblem(f"{path}: a template is a mapping with `subject:` and `body:` text")
    unknown = sorted(set(data) - {"subject", "body", "description"})
    if unknown:
        raise TemplateProblem(f"{path}: unknown key {unknown[0]!r} (allowed: subject, body, description)")
    return data


def render(rules_dir: str | Path, name: str, context: dict) -> Rendered:
    """Render template `name` with `context`; a missing value or bad syntax is an error."""
    data = load(rules_dir, name)
    try:
        subject = _env.from_string(data["subject"]).render(context) if data.get("subject") else None
        body = _env.from_string(data["body"]).render(context)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line} of the text)" if line else ""
        raise TemplateProblem(f"{path_of(rules_dir, name)}: {exc}{where}") from None
    return Rendered(" ".join(subject.split())[:300] if subject else None, body.strip() + "\n")


def check_config(root: Path) -> list[str]:
    """Return the problems of the notification templates under `root`."""
    problems = []
    for path in sorted((root / TEMPLATES_DIR).glob("*.yaml")):
        try:
            data = load(root, path.stem)
            for key in ("subject", "body"):
                if data.get(key):
                    _env.parse(data[key])
        except TemplateProblem as exc:
            problems.append(str(exc))
        except TemplateError as exc:
            problems.append(f"{TEMPLATES_DIR}/{path.name}:{getattr(exc, 'lineno', 0) or 0}: {exc}")
    return problems
