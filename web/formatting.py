"""The Jinja filters every page formats with: money, times, durations, status badges.

One place decides how a value reads, so a page never shows `11.30000000`, a raw ISO
time with microseconds or `172800s`:
- money: the currency's minor units (engine.currencies: JPY 0, USD 2, BTC 8) and
  thousands separators: `1,234.50 USD`;
- times: in the viewer's time zone (users.time_zone, UTC when not set) as
  `2026-11-02 22:10`, with the relative age where it helps (`3 h ago`, `in 2 h`);
- durations in words: `2 days`, `3 h 20 min`.
Times arrive as aware datetimes or as the ISO strings the domains' dicts carry; naive
times are UTC (the project stores aware UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from markupsafe import Markup, escape

from engine.currencies import minor_units
from engine.values import utcnow

DEFAULT_PLACES = 2  # a currency the project does not know still reads as money
BADGES = {
    "approved": "success",
    "active": "success",
    "completed": "success",
    "done": "success",
    "paid": "success",
    "credited": "success",
    "booked": "success",
    "matched": "success",
    "pending": "warning",
    "open": "primary",
    "in_progress": "info",
    "waiting": "secondary",
    "on_hold": "warning",
    "retry": "warning",
    "missing": "danger",
    "failed": "danger",
    "rejected": "danger",
    "blocked": "danger",
    "locked": "danger",
    "disabled": "secondary",
    "refused": "danger",
    "dismissed": "secondary",
    "submitted": "info",
    "requested": "info",
    "unmatched": "warning",
    "expired": "danger",
    "cancelled": "secondary",
    "inactive": "secondary",
}


def zone_named(name: str | None) -> ZoneInfo | None:
    """The IANA zone called `name` (`Europe/Berlin`), or None when there is no such zone."""
    if not name or not isinstance(name, str) or name != name.strip():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def viewer_zone():
    """The time zone of the signed-in user of this request; UTC without one."""
    try:
        from flask import g, has_request_context
    except ImportError:  # pragma: no cover - flask is a dependency of web
        return UTC
    user = g.get("user") if has_request_context() else None
    return zone_named(getattr(user, "time_zone", None)) or UTC


def as_time(value) -> datetime | None:
    """An aware datetime from a datetime or an ISO string; None for anything else."""
    if isinstance(value, str) and value:
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def as_amount(value) -> Decimal | None:
    """A Decimal from a Decimal, int, float or numeric string; None for anything else."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def places_of(currency: str | None) -> int:
    """Decimals shown for `currency`: its minor units, 2 when unknown."""
    found = minor_units(currency or "") if currency else None
    return DEFAULT_PLACES if found is None else found


def money(value, currency: str | None = None) -> str:
    """`1,234.50 USD`, `1,235 JPY`, `0.01500000 BTC`; empty for no value.

    An amount with more digits than the currency has is rounded half-even for display
    only (stored amounts keep 8 decimals).
    """
    amount = as_amount(value)
    if amount is None:
        return "" if value is None else str(value)
    places = places_of(currency)
    shown = amount.quantize(Decimal(1).scaleb(-places))
    return f"{shown:,.{places}f} {currency or ''}".strip()


def number(value, places: int | None = None) -> str:
    """A plain number with thousands separators: `12,345`, `1,234.5` (`places` fixes decimals)."""
    amount = as_amount(value)
    if amount is None:
        return "" if value is None else str(value)
    if places is not None:
        return f"{amount:,.{places}f}"
    if amount == amount.to_integral_value():
        return f"{amount:,.0f}"
    return f"{amount.normalize():,f}"


def when(value, zone=None) -> str:
    """A time as `2026-11-02 22:10` in the viewer's zone; a non-time is shown as given."""
    moment = as_time(value)
    if moment is None:
        return "" if value is None else str(value)
    return moment.astimezone(zone or viewer_zone()).strftime("%Y-%m-%d %H:%M")


def day(value, zone=None) -> str:
    """The date of a time in the viewer's zone: `2026-11-02`."""
    moment = as_time(value)
    if moment is None:
        return "" if value is None else str(value)
    return moment.astimezone(zone or viewer_zone()).strftime("%Y-%m-%d")


def _seconds(value) -> int | None:
    if isinstance(value, timedelta):
        return abs(int(value.total_seconds()))
    amount = as_amount(value)
    return None if amount is None else abs(int(amount))


def duration(value) -> str:
    """Seconds or a timedelta in words: `2 days`, `1 day 4 h`, `3 h 20 min`, `5 min`, `40 s`.

    Two units at most, the larger first; the second is left out when it is zero.
    """
    seconds = _seconds(value)
    if seconds is None:
        return "" if value is None else str(value)
    units = ((86400, "day"), (3600, "h"), (60, "min"), (1, "s"))
    for index, (size, unit) in enumerate(units):
        if seconds >= size or size == 1:
            whole, rest = divmod(seconds, size)
            words = [_unit(whole, unit)]
            if index + 1 < len(units):
                smaller, small_unit = units[index + 1]
                if rest // smaller and unit != "min":
                    words.append(_unit(rest // smaller, small_unit))
            return " ".join(words)
    return "0 s"  # pragma: no cover - the loop always returns


def _unit(n: int, unit: str) -> str:
    return f"{n} {unit}{'s' if unit == 'day' and n != 1 else ''}"


def _rough(seconds: int) -> str:
    """One unit, rounded down: relative ages do not need minutes after two hours."""
    for size, unit in ((86400, "day"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return _unit(seconds // size, unit)
    return "moments"


def ago(value, now: datetime | None = None) -> str:
    """How long ago or until a time is: `3 h ago`, `in 2 days`, `just now`."""
    moment = as_time(value)
    if moment is None:
        return ""
    delta = int(((now or utcnow()) - moment).total_seconds())
    if abs(delta) < 60:
        return "just now"
    return f"{_rough(delta)} ago" if delta > 0 else f"in {_rough(-delta)}"


def moment(value) -> Markup:
    """A time for a table: `<time>2026-11-02 22:10</time>` with its age as a tooltip and small text."""
    at = as_time(value)
    if at is None:
        return Markup("") if value in (None, "") else Markup(escape(str(value)))
    return Markup(
        '<time datetime="{iso}" title="{exact}">{shown}</time> <small class="text-body-secondary">{age}</small>'
    ).format(iso=at.isoformat(timespec="seconds"), exact=when(at) + " " + zone_label(), shown=when(at), age=ago(at))


def zone_label() -> str:
    """The name of the viewer's zone, for a title or a footer (`UTC`, `Europe/Berlin`)."""
    return str(viewer_zone())


def status_badge(status) -> Markup:
    """A status as a coloured badge."""
    if not status:
        return Markup("")
    tone = BADGES.get(str(status), "secondary")
    return Markup('<span class="badge text-bg-{}">{}</span>').format(tone, str(status).replace("_", " "))


def cell(value, kind: str = "text") -> str:
    """A report cell for reading: times in the viewer's zone, numbers with thousands separators.

    The downloads keep the exact machine form (engine.reports.export.text); the page shows
    the same values the way people read them.
    """
    if value is None:
        return ""
    if isinstance(value, datetime) or kind == "time":
        return when(value)
    if kind == "money":
        amount = as_amount(value)
        if amount is None:
            return str(value)
        exponent = amount.normalize().as_tuple().exponent
        digits = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        return number(amount, max(DEFAULT_PLACES, digits))
    if kind in ("int", "decimal", "hours", "pct") and not isinstance(value, str | bool):
        return number(value)
    return str(value)


FILTERS = {
    "money": money,
    "number": number,
    "when": when,
    "day": day,
    "ago": ago,
    "duration": duration,
    "moment": moment,
    "cell": cell,
    "status_badge": status_badge,
}


def register(app) -> None:
    """Make every filter available to every template of `app`."""
    app.jinja_env.filters.update(FILTERS)
    app.jinja_env.globals["zone_label"] = zone_label
