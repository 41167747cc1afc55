"""SLA due times counted in business hours (configurable days, hours, time zone, holidays)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.rules import api as rules_api
from engine.rules.api import PolicyError
from engine.rules.problems import Problem
from engine.values import UTC, as_utc

DEFAULT_HOURS = "Mon-Fri 09:00-18:00 UTC"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How much business time each priority gets before a hand-made task is overdue.
SLA = {
    "urgent": timedelta(hours=2),
    "high": timedelta(hours=4),
    "normal": timedelta(hours=9),
    "low": timedelta(hours=27),
}
_SPEC = re.compile(r"^\s*([A-Za-z]{3})(?:-([A-Za-z]{3}))?\s+(\d\d:\d\d)-(\d\d:\d\d)\s+(\S+)\s*$")


class HoursError(ValueError):
    """The business-hours setting is malformed (the message shows the expected form)."""


def _day(name: str, text: str) -> int:
    try:
        return DAYS.index(name.lower())
    except ValueError:
        raise HoursError(f"business hours {text!r}: unknown day {name!r}; use Mon..Sun") from None


def _clock(value: str, text: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise HoursError(f"business hours {text!r}: {value!r} is not a time like 09:00") from None


@dataclass(frozen=True)
class BusinessHours:
    days: frozenset[int]
    start: time
    end: time
    tz: ZoneInfo
    holidays: frozenset[date] = frozenset()

    @classmethod
    def parse(cls, text: str | None) -> "BusinessHours":
        """Parse `Mon-Fri 09:00-18:00 Europe/London; holidays 2026-12-25, 2026-12-26`."""
        text = text or DEFAULT_HOURS
        main, _, rest = text.partition(";")
        match = _SPEC.match(main)
        if not match:
            raise HoursError(f"business hours {text!r}: expected like '{DEFAULT_HOURS}'")
        first = _day(match[1], text)
        last = _day(match[2], text) if match[2] else first
        start, end = _clock(match[3], text), _clock(match[4], text)
        if end <= start:
            raise HoursError(f"business hours {text!r}: the day must end after it starts")
        try:
            tz = ZoneInfo(match[5])
        except (ZoneInfoNotFoundError, ValueError):
            raise HoursError(f"business hours {text!r}: unknown time zone {match[5]!r}") from None
        days = (
            frozenset(range(first, last + 1))
            if first <= last
            else frozenset(list(range(first, 7)) + list(range(0, last + 1)))
        )
        return cls(days, start, end, tz, _holidays(rest, text))

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        if day.weekday() not in self.days or day in self.holidays:
            return None
        return (datetime.combine(day, self.start, self.tz), datetime.combine(day, self.end, self.tz))

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """Return the time `duration` of business time after `start` (aware UTC)."""
        cursor, remaining = as_utc(start).astimezone(self.tz), duration
        for _ in range(3660):
            window = self._window(cursor.date())
            if window and cursor < window[1]:
                begin = max(cursor, window[0])
                if window[1] - begin >= remaining:
                    return (begin + remaining).astimezone(UTC)
                remaining -= window[1] - begin
            cursor = datetime.combine(cursor.date() + timedelta(days=1), time(0), self.tz)
        raise HoursError("business hours leave no working time in the next ten years")


def _holidays(rest: str, text: str) -> frozenset[date]:
    rest = rest.strip()
    if not rest:
        return frozenset()
    if not rest.lower().startswith("holidays"):
        raise HoursError(f"business hours {text!r}: after ';' expected 'holidays YYYY-MM-DD, ...'")
    try:
        return frozenset(date.fromisoformat(d.strip()) for d in rest[8:].split(",") if d.strip())
    except ValueError as exc:
        raise HoursError(f"business hours {text!r}: {exc}") from None


def hours_for(cfg) -> BusinessHours:
    """Return the configured business hours (FXCRM_BUSINESS_HOURS), or the default."""
    return BusinessHours.parse(getattr(cfg, "business_hours", None) or DEFAULT_HOURS)


def due_at(created: datetime, priority: str, hours: BusinessHours) -> datetime:
    """Return when a task of `priority` created at `created` falls due."""
    return hours.add(created, SLA.get(priority, SLA["normal"]))


# --- Business hours per queue (rules/policy/queues.yaml) -----------------------------

QUEUES_FILE = Path("policy") / "queues.yaml"


@dataclass(frozen=True)
class QueueHours:
    """The broker's business hours, and the queues that keep other hours."""

    default: BusinessHours
    queues: dict[str, BusinessHours]

    def for_queue(self, queue: str) -> BusinessHours:
        return self.queues.get(queue, self.default)


def _parse_queues(text: str, file: str) -> QueueHours:
    """Parse `business_hours: <hours>` and `queues: {name: <hours>}`; a PolicyError names the
    file, the line and the key."""
    data = rules_api.read_mapping(file, text, "expected the keys business_hours and queues", empty_ok=True)
    unknown = sorted(set(data) - {"business_hours", "queues"}, key=str)
    if unknown:
        rules_api.fail(file, data, (unknown[0],), "expected the keys business_hours and queues")
    queues = data.get("queues") or {}
    if not isinstance(queues, dict):
        rules_api.fail(file, data, ("queues",), "expected queue names with their business hours", "queues")

    def hours(path: tuple, value) -> BusinessHours:
        where = ".".join(map(str, path))
        if not isinstance(value, str):
            rules_api.fail(file, data, path, f"expected business hours like '{DEFAULT_HOURS}'", where)
        try:
            return BusinessHours.parse(value)
        except HoursError as exc:
            rules_api.fail(file, data, path, str(exc), where)

    return QueueHours(
        hours(("business_hours",), data.get("business_hours") or DEFAULT_HOURS),
        {str(q): hours(("queues", q), v) for q, v in queues.items()},
    )


def parse_queue_hours(text: str, where: str) -> QueueHours:
    """Parse the text of policy/queues.yaml; errors are HoursError `where: key: problem`."""
    try:
        return _parse_queues(text, where)
    except PolicyError as exc:
        first = exc.problems[0]
        raise HoursError(f"{where}: {first.where + ': ' if first.where else ''}{first.message}") from None


# No file: calendar time (None). The folder's file is looked up in the rules tree's parents.
QUEUES: rules_api.PolicyFile[QueueHours | None] = rules_api.PolicyFile(
    str(QUEUES_FILE), _parse_queues, default=lambda: None
)


def load_queue_hours(rules_dir) -> QueueHours | None:
    """Return the queue hours of the rules tree at `rules_dir`, or None when it has no such file."""
    return QUEUES.from_folder(rules_dir)


def queue_hours_for(session) -> QueueHours | None:
    """Return the queue hours of the active ruleset version (None: it sets none); with no
    active version carrying policy files, those of the configured rules folder."""
    return QUEUES.for_session(session)


def check_config(files) -> list[Problem]:
    """Return the problems of policy/queues.yaml among `files` (activation checks it)."""
    problems = QUEUES.check(files)
    text = files.text(str(QUEUES_FILE))
    if problems or text is None:
        return problems
    data = rules_api.read_mapping(str(QUEUES_FILE), text, "", empty_ok=True)
    return [
        Problem(str(QUEUES_FILE), rules_api.line_at(data, ("queues", queue)), "queues", message)
        for queue, message in _unknown_queues(_parse_queues(text, str(QUEUES_FILE)))
    ]


def _unknown_queues(hours: QueueHours) -> list[tuple[str, str]]:
    """(queue, message) for each queue given hours that no one works (a typo: its hours
    would apply to no task)."""
    import difflib

    from engine.users.permissions import ALL_QUEUES

    found = []
    for queue in hours.queues:
        if queue not in ALL_QUEUES:
            close = difflib.get_close_matches(queue, ALL_QUEUES, n=1)
            hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(sorted(ALL_QUEUES))}"
            found.append((queue, f"unknown queue {queue!r} ({hint})"))
    return found


def rule_due(start: datetime, seconds: float, hours: BusinessHours) -> datetime:
    """Return when a rule task due `seconds` after `start` falls due in business time.

    Whole days count as working days (`2d` is two working days' hours, from Friday 17:00
    under Mon-Fri 09:00-18:00 that is Tuesday 17:00); the rest as working hours (`4h`
    from Friday 17:00 is Monday 12:00).
    """
    days, rest = divmod(int(seconds), 86400)
    day_length = datetime.combine(date.min, hours.end) - datetime.combine(date.min, hours.start)
    return hours.add(start, day_length * days + timedelta(seconds=rest))
