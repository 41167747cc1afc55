"""Compile the rules that are not started by one event: absence rules and scheduled rules.

`absent: {events: [trade.opened, trade.closed], for: 90d, since: payment.deposit_completed}`
acts after 90 days without any of `events` (each one restarts the silence; a `since` event
starts it when none is running). `schedule: daily at 06:00 Europe/London` sweeps the
clients once a day. Both decide `if:` on client facts at the moment they act, so neither
may read `event.*`: there is no triggering event. Pure: no I/O (the compiler's rule).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import fields, validate

from engine.rules import ir
from engine.rules.actions import Duration, OneOrMany
from engine.rules.schemas import Strict, load
from engine.rules.yaml_lines import line_of
from engine.subjects import noun

Node = Mapping[str, object]  # a rule as read from YAML (a LineDict)
Report = Callable[[int, str], None]  # report(line, message): a compile error
_SCHEDULE = re.compile(r"^daily(?:\s+at\s+(\d{1,2}):(\d{2}))?(?:\s+([A-Za-z_]+(?:/[A-Za-z_+\-0-9]+)*))?$")


class AbsentSchema(Strict):
    events = OneOrMany(fields.Str(), required=True, validate=validate.Length(min=1))
    for_ = Duration(data_key="for", required=True)
    since = OneOrMany(fields.Str())


def kind_of(node: Node) -> str:
    """Return "absent", "schedule" or "event": what starts the rule."""
    if "absent" in node:
        return "absent"
    return "schedule" if "schedule" in node else "event"


def check_keys(node: Node, line: int, report: Report) -> bool:
    """Report keys that do not go together (when with absent/schedule, ...); False if any."""
    kind, ok = kind_of(node), True
    if kind == "event":
        if "when" not in node:
            report(line, "missing when")
            return False
        return True
    if "absent" in node and "schedule" in node:
        report(line_of(node, "schedule", line), "a rule is either absent: or schedule:, not both")
        return False
    for key in ("when", "after", "unless"):
        if key in node:
            hint = {
                "when": f"the events are given in {kind}:"
                if kind == "absent"
                else "a scheduled rule looks at every client, not at one event",
                "after": "it already waits",
                "unless": "write the condition in if:",
            }[key]
            report(line_of(node, key, line), f"{key}: does not go with {kind}: ({hint})")
            ok = False
    return ok


def compile_absent(node: Node, line: int, catalogue: Mapping[str, object], report: Report) -> ir.Absence | None:
    """Compile `absent:`; report unknown event types and bad keys."""
    at = line_of(node, "absent", line)
    data = load(AbsentSchema, node["absent"], at, lambda ln, msg: report(ln, f"absent: {msg}"))
    if data is None:
        return None
    events, since = tuple(dict.fromkeys(data["events"])), tuple(dict.fromkeys(data.get("since", ())))
    unknown = [name for name in events + since if name not in catalogue]
    for name in unknown:
        report(at, f"absent: unknown event type {name!r}")
    others = [n for n in events + since if n in catalogue and getattr(catalogue[n], "subject", "client") != "client"]
    for name in others:  # a silence is a client's: another subject's events never restart it
        subject = noun(getattr(catalogue[name], "subject"))
        report(at, f"absent: {name} is about a {subject}, not a client: absence rules watch a client's events")
    if others:
        return None
    if data["for_"] <= 0:
        report(at, "absent: for: must be a positive duration like 90d")
        return None
    return None if unknown else ir.Absence(events, data["for_"], since)


def compile_schedule(node: Node, line: int, report: Report) -> ir.Schedule | None:
    """Compile `schedule: daily [at HH:MM] [Zone]` (time of day in UTC unless a zone is named)."""
    at, text = line_of(node, "schedule", line), node["schedule"]
    m = _SCHEDULE.match(" ".join(str(text).split())) if isinstance(text, str) else None
    if m is None:
        report(at, f"schedule: write `daily`, `daily at 06:00` or `daily at 06:00 Europe/London`, not {text!r}")
        return None
    hour, minute, zone = int(m[1] or 0), int(m[2] or 0), m[3] or "UTC"
    if hour > 23 or minute > 59:
        report(at, f"schedule: {m[1]}:{m[2]} is not a time of day (00:00 to 23:59)")
        return None
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        report(at, f"schedule: unknown time zone {zone!r} (an IANA name like Europe/London, or UTC)")
        return None
    return ir.Schedule(f"{hour:02d}:{minute:02d}", zone)


def check_no_event(kind: str, values: Iterable[ir.Value], line: int, report: Report) -> bool:
    """Report `event.*` values in a rule that no event starts; False if any."""
    read = sorted({v.key.split(":", 1)[0] for v in values if v.source == "event"})
    for key in read:
        report(
            line,
            f"{key}: {'an absence' if kind == 'absent' else 'a scheduled'} rule has no "
            f"triggering event; read client facts (client.*) or aggregates instead",
        )
    return not read
