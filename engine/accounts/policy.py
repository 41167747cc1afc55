"""`<rules dir>/policy/accounts.yaml`: after how long without a trade an account is inactive.

    inactive_after: 30d

The trading accounts own this setting (their facts and profile read it), so payments
no longer carry it and nothing here imports payments.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from engine.rules import api as rules_api
from engine.rules.problems import Problem
from engine.values import ValueError_, parse_duration

if TYPE_CHECKING:
    from engine.rules.api import RuleFiles

REPO_RULES = Path(__file__).resolve().parents[2] / "rules"
RELATIVE = "policy/accounts.yaml"


def parse_text(text: str, file: str) -> timedelta:
    """Check the text of the accounts policy (`file` names it in errors)."""
    data = rules_api.read_mapping(file, text)
    try:
        return parse_duration(data.get("inactive_after", ""))
    except ValueError_ as exc:
        rules_api.fail(file, data, ("inactive_after",), f"inactive_after: {exc}")


POLICY = rules_api.PolicyFile(RELATIVE, parse_text, fallback=REPO_RULES)


def parse_accounts(path: Path | str, text: str | None = None) -> timedelta:
    """Load the accounts policy file `path` (or its `text`, named `path`)."""
    return POLICY.read(Path(path)) if text is None else parse_text(text, str(path))


def inactive_after(session: Session) -> timedelta:
    """Return how long without a trade makes a trading account inactive."""
    return POLICY.for_session(session)


def check_config(files: RuleFiles) -> list[Problem]:
    """Return the problems of the accounts policy among `files` (activation checks it)."""
    return POLICY.check(files)
