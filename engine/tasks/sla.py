"""SLA due times counted in business hours (configurable days, hours, time zone, holidays)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from engine.values import UTC, as_utc

DEFAULT_HOURS = "Mon-Fri 09:00-18:00 UTC"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How much business time each priority gets before a hand-made task is overdue.
SLA = {"urgent": timedelta(hours=2), "high": timedelta(hours=4),
       "normal": timedelta(hours=9), "low": timedelta(hours=27)}
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
        days = frozenset(range(first, last + 1)) if first <= last else \
            frozenset(list(range(first, 7)) + list(range(0, last + 1)))
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


def parse_queue_hours(text: str, where: str) -> QueueHours:
    """Parse `business_hours: <hours>` and `queues: {name: <hours>}`; errors name the file and key."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise HoursError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or set(data) - {"business_hours", "queues"}:
        raise HoursError(f"{where}: expected the keys business_hours and queues")
    queues = data.get("queues") or {}
    if not isinstance(queues, dict):
        raise HoursError(f"{where}: queues: expected queue names with their business hours")

    def hours(key: str, value) -> BusinessHours:
        if not isinstance(value, str):
            raise HoursError(f"{where}: {key}: expected business hours like '{DEFAULT_HOURS}'")
        try:
            return BusinessHours.parse(value)
        except HoursError as exc:
            raise HoursError(f"{where}: {key}: {exc}") from None

    return QueueHours(hours("business_hours", data.get("business_hours") or DEFAULT_HOURS),
                      {str(q): hours(f"queues.{q}", v) for q, v in queues.items()})


_cache: dict[str, tuple[float, QueueHours | None]] = {}


def load_queue_hours(rules_dir) -> QueueHours | None:
    """Return the queue hours of the rules tree at `rules_dir`, or None when it has no such file."""
    path = Path(rules_dir) / QUEUES_FILE
    try:
        mtime = path.stat().st_mtime
    except (FileNotFoundError, NotADirectoryError):
        return None
    cached = _cache.get(str(path))
    if cached and cached[0] == mtime:
        return cached[1]
    found = parse_queue_hours(path.read_text(encoding="utf-8"), str(QUEUES_FILE))
    _cache[str(path)] = (mtime, found)
    return found


_by_version: dict[str, QueueHours | None] = {}


def queue_hours_for(session) -> QueueHours | None:
    """Return the queue hours of the active ruleset version (None: it sets none); with no
    active version carrying files, those of the configured rules folder."""
    from engine.rules.api import configured_rules_dir, rule_files
    files = rule_files(session)
    if files is not None:
        if files.version not in _by_version:
            text = files.text(QUEUES_FILE)
            _by_version[files.version] = \
                parse_queue_hours(text, str(QUEUES_FILE)) if text is not None else None
        return _by_version[files.version]
    # `fxcrm rules test rules/onboarding` runs with a sub-folder: the tree's policy applies.
    start = Path(configured_rules_dir(session)).resolve()
    for folder in (start, *start.parents):
        if (folder / QUEUES_FILE).exists():
            return load_queue_hours(folder)
    return None


def check_config(files) -> list:
    """Return the problems of policy/queues.yaml among `files` (activation checks it)."""
    from engine.rules.problems import Problem
    text = files.text(QUEUES_FILE)
    if text is None:
        return []
    try:
        hours = parse_queue_hours(text, str(QUEUES_FILE))
    except HoursError as exc:
        message = str(exc).removeprefix(f"{QUEUES_FILE}: ")
        return [Problem(str(QUEUES_FILE), 1, "", message)]
    return [Problem(str(QUEUES_FILE), _queue_line(text, queue), "queues", message)
            for queue, message in _unknown_queues(hours)]


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


def _queue_line(text: str, queue: str) -> int:
    node = yaml.compose(text)
    for key, value in (node.value if isinstance(node, yaml.MappingNode) else []):
        if key.value == "queues" and isinstance(value, yaml.MappingNode):
            for name, _ in value.value:
                if name.value == queue:
                    return name.start_mark.line + 1
    return 1


def rule_due(start: datetime, seconds: float, hours: BusinessHours) -> datetime:
    """Return when a rule task due `seconds` after `start` falls due in business time.

    Whole days count as working days (`2d` is two working days' hours, from Friday 17:00
    under Mon-Fri 09:00-18:00 that is Tuesday 17:00); the rest as working hours (`4h`
    from Friday 17:00 is Monday 12:00).
    """
    days, rest = divmod(int(seconds), 86400)
    day_length = datetime.combine(date.min, hours.end) - datetime.combine(date.min, hours.start)
    return hours.add(start, day_length * days + timedelta(seconds=rest))
