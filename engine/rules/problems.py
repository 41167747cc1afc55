"""One problem type for configuration files: every domain returns its findings as data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in a file, printed `file:line: where: message` (`where` may be empty)."""

    file: str
    line: int
    where: str
    message: str
    severity: str = "error"
    suggestion: str | None = None

    def __str__(self) -> str:
        head = f"{self.file}:{self.line}: {self.where + ': ' if self.where else ''}{self.message}"
        return head + (f" ({self.suggestion})" if self.suggestion else "")


def joined(problems: list[Problem]) -> str:
    """Return the problems one a line (the message of the domains' errors)."""
    return "\n".join(map(str, problems))
