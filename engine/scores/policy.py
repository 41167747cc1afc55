"""`<rules dir>/policy/scores.yaml`: which scores set the client's risk category, and at what points.

    scores:
      aml_risk:
        risk_category: {medium: 30, high: 60}   # below 30: low

A score at or above a category's threshold is in that category (the highest one it
reaches); below every threshold it is `low`. Thresholds rise with the category. An error
names the file, the line and what is wrong, and a bad file is never half-used. The file
is read through the rules API's `PolicyFile` (the active version's, parsed once per version).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from sqlalchemy.orm import Session

from engine.rules import api as rules_api
from engine.rules.api import PolicyError
from engine.rules.problems import Problem

if TYPE_CHECKING:
    from engine.rules.api import RuleFiles

REPO_RULES = Path(__file__).resolve().parents[2] / "rules"
FILE = "scores.yaml"
CATEGORIES = ("low", "medium", "high")  # in rising order, as engine.kyc.service.RISK_CATEGORIES
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")
RELATIVE = f"policy/{FILE}"
__all__ = ["PolicyError", "ScorePolicy", "check_config", "for_session", "parse", "parse_text"]


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
        limit = f"{category} from {bound}" if bound is not None else f"{category} below {self.risk_thresholds[0][1]}"
        return f"{self.name} score {score} ({limit})"


def _fail(path: str | Path, container: object, key: object, message: str) -> NoReturn:
    rules_api.fail(str(path), container, (key,), message)


def _thresholds(path: str | Path, raw: object, where: object, name: str) -> tuple[tuple[str, int], ...]:
    if not isinstance(raw, dict) or not raw:
        _fail(
            path,
            where,
            "risk_category",
            f"{name}: risk_category maps categories to the lowest score in them, like {{medium: 30, high: 60}}",
        )
    out: list[tuple[str, int]] = []
    for category, lowest in raw.items():
        if category not in CATEGORIES[1:]:
            _fail(
                path,
                raw,
                category,
                f"{name}: {category!r} is not a risk category with a "
                f"threshold; use {' or '.join(CATEGORIES[1:])} ({CATEGORIES[0]} is below them)",
            )
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
    return POLICY.read(Path(path))


def parse_text(text: str, path: str) -> dict[str, ScorePolicy]:
    """Check the text of a scores policy (`path` names it in errors)."""
    data = rules_api.read_mapping(path, text, "expected a mapping with `scores:` (score name -> settings)")
    if not isinstance(data.get("scores"), dict):
        raise PolicyError([Problem(path, 1, "", "expected a mapping with `scores:` (score name -> settings)")])
    scores = data["scores"]
    out: dict[str, ScorePolicy] = {}
    for name, raw in scores.items():
        if not isinstance(name, str) or not name or not set(name) <= NAME_CHARS:
            _fail(path, scores, name, f"{name!r} is not a score name like aml_risk")
        if not isinstance(raw, dict) or set(raw) - {"risk_category"}:
            _fail(path, scores, name, f"{name}: the settings of a score are `risk_category:`")
        thresholds = _thresholds(path, raw["risk_category"], raw, name) if "risk_category" in raw else ()
        out[name] = ScorePolicy(name, thresholds)
    return out


POLICY: rules_api.PolicyFile[dict[str, ScorePolicy]] = rules_api.PolicyFile(
    RELATIVE, parse_text, default=dict, fallback=REPO_RULES
)


def for_session(session: Session) -> dict[str, ScorePolicy]:
    """Return the scores policy of the active version's files (parsed once per version), or
    of the configured rules folder when no active version carries policy files."""
    return POLICY.for_session(session)


def check_config(files: RuleFiles) -> list[Problem]:
    """Return the problems of the scores policy among `files` (activation checks it)."""
    return POLICY.check(files)
