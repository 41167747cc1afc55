"""`<rules dir>/policy/scores.yaml`: which scores set the client's risk category, and at what points.

    scores:
      aml_risk:
        risk_category: {medium: 30, high: 60}   # below 30: low

A score at or above a category's threshold is in that category (the highest one it
reaches); below every threshold it is `low`. Thresholds rise with the category. An error
names the file, the line and what is wrong, and a bad file is never half-used.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from engine.rules.yaml_lines import line_of, load_documents

REPO_RULES = Path(__file__).resolve().parents[2] / "rules"
FILE = "scores.yaml"
CATEGORIES = ("low", "medium", "high")  # in rising order, as engine.kyc.service.RISK_CATEGORIES
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


class PolicyError(ValueError):
    """The scores policy is invalid: `file:line: message` (the parts kept as data)."""

    def __init__(self, file: str, line: int, message: str):
        super().__init__(f"{file}:{line}: {message}")
        self.file, self.line, self.message = file, line, message


@dataclass(frozen=True)
class ScorePolicy:
    name: str
    risk_thresholds: tuple[tuple[str, int], ...] = ()  # (category, lowest score), rising

    def risk_category(self, score: int) -> str | None:
        """Return the category `score` falls in, or None when this score sets none."""
        if not self.risk_thresholds:
            return None
        reached = [c for c, lowest in self.risk_thresholds if score >= lowest]
        return reached[-1] if reached else CATEGORIES[0]

    def explain(self, score: int) -> str:
        """Say why the score gives its category: `aml_risk 65 (high from 60)`."""
        category = self.risk_category(score)
        bound = dict(self.risk_thresholds).get(category or "")
        limit = f"{category} from {bound}" if bound is not None else \
            f"{category} below {self.risk_thresholds[0][1]}"
        return f"{self.name} score {score} ({limit})"


def _fail(path, container, key, message: str):
    raise PolicyError(str(path), line_of(container, key, 1), message)


def _thresholds(path: Path, raw, where, name: str) -> tuple[tuple[str, int], ...]:
    if not isinstance(raw, dict) or not raw:
        _fail(path, where, "risk_category", f"{name}: risk_category maps categories to the "
              "lowest score in them, like {medium: 30, high: 60}")
    out = []
    for category, lowest in raw.items():
        if category not in CATEGORIES[1:]:
            _fail(path, raw, category, f"{name}: {category!r} is not a risk category with a "
                  f"threshold; use {' or '.join(CATEGORIES[1:])} ({CATEGORIES[0]} is below them)")
        if not isinstance(lowest, int) or isinstance(lowest, bool):
            _fail(path, raw, category, f"{name}.{category}: the threshold is a whole number of points")
        out.append((category, lowest))
    out.sort(key=lambda pair: CATEGORIES.index(pair[0]))
    for (low_cat, low), (high_cat, high) in zip(out, out[1:]):
        if high <= low:
            _fail(path, raw, high_cat, f"{name}: {high_cat} ({high}) must start above {low_cat} ({low})")
    return tuple(out)


def parse(path: Path) -> dict[str, ScorePolicy]:
    """Load and check a scores policy file; a missing file declares no scores."""
    if not path.is_file():
        return {}
    return parse_text(path.read_text(encoding="utf-8"), str(path))


def parse_text(text: str, path: str) -> dict[str, ScorePolicy]:
    """Check the text of a scores policy (`path` names it in errors)."""
    docs, errors = load_documents(path, text)
    if errors:
        raise PolicyError(path, errors[0].line, errors[0].message)
    data = docs[0] if len(docs) == 1 else None
    if not isinstance(data, dict) or not isinstance(data.get("scores"), dict):
        raise PolicyError(path, 1, "expected a mapping with `scores:` (score name -> settings)")
    scores = data["scores"]
    out = {}
    for name, raw in scores.items():
        if not isinstance(name, str) or not name or not set(name) <= NAME_CHARS:
            _fail(path, scores, name, f"{name!r} is not a score name like aml_risk")
        if not isinstance(raw, dict) or set(raw) - {"risk_category"}:
            _fail(path, scores, name, f"{name}: the settings of a score are `risk_category:`")
        thresholds = _thresholds(path, raw["risk_category"], raw, name) if "risk_category" in raw else ()
        out[name] = ScorePolicy(name, thresholds)
    return out


RELATIVE = f"policy/{FILE}"
_cache: dict[tuple[Path, float], dict[str, ScorePolicy]] = {}
_by_version: dict[str, dict[str, ScorePolicy]] = {}


def for_session(session: Session) -> dict[str, ScorePolicy]:
    """Return the scores policy of the active version's files (parsed once per version), or
    of the configured rules folder when no active version carries files."""
    from engine.rules.api import configured_rules_dir, rule_files
    files = rule_files(session)
    if files is not None:
        if files.version not in _by_version:
            text = files.text(RELATIVE)
            _by_version[files.version] = parse_text(text, RELATIVE) if text is not None else {}
        return _by_version[files.version]
    configured = Path(configured_rules_dir(session))
    path = (configured if (configured / "policy").is_dir() else REPO_RULES) / "policy" / FILE
    key = (path, path.stat().st_mtime if path.exists() else 0.0)
    if key not in _cache:
        _cache[key] = parse(path)
    return _cache[key]


def check_config(files) -> list:
    """Return the problems of the scores policy among `files` (activation checks it)."""
    from engine.rules.problems import Problem
    text = files.text(RELATIVE)
    if text is None:
        return []
    try:
        parse_text(text, RELATIVE)
    except PolicyError as exc:
        return [Problem(exc.file, exc.line, "", exc.message)]
    return []
