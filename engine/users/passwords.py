"""Password policy: a minimum length, enough different characters, no common or personal password."""

from __future__ import annotations

import functools
import re

MIN_LENGTH = 12
MIN_DISTINCT = 5


@functools.cache
def common_passwords() -> frozenset[str]:
    """Return the 30,000 most common passwords (the list zxcvbn ships, from leaked sets)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def policy_problems(password: str, email: str = "") -> list[str]:
    """Return why `password` is refused for the user `email` (empty when it is acceptable)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"it must have at least {MIN_LENGTH} characters")
    if len(set(password)) < MIN_DISTINCT:
        problems.append(f"it must use at least {MIN_DISTINCT} different characters")
    if _is_common(password):
        problems.append("it is on the list of common passwords")
    local = email.split("@")[0].strip().lower()
    if len(local) >= 3 and local in password.lower():
        problems.append("it must not contain the e-mail address")
    return problems


def _is_common(password: str) -> bool:
    # "Password2024!" is as weak as "password": also try it without trailing digits and symbols.
    lowered = password.lower()
    stem = re.sub(r"[\d\W_]+$", "", lowered)
    return lowered in common_passwords() or (len(stem) >= 4 and stem in common_passwords())
