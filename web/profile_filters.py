"""Stand-ins for the shared Jinja filters (web/formatting.py) while that module is not there.

Registered with `setdefault`, so the shared filters always win when the app has them.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from markupsafe import Markup, escape

from engine.values import utcnow

MINOR_UNITS = {"JPY": 0, "KRW": 0, "BTC": 8, "ETH": 8, "USDT": 2}
BADGES = {"approved": "success", "active": "success", "completed": "success", "done": "success",
          "pending": "warning", "open": "primary", "in_progress": "info", "waiting": "secondary",
          "on_hold": "warning", "retry": "warning", "missing": "danger", "failed": "danger",
          "rejected": "danger", "blocked": "danger", "locked": "danger", "disabled": "secondary",
          "refused": "danger", "dismissed": "secondary", "submitted": "info"}


def money(value, currency: str | None = None) -> str:
    """Return `1,234.50 USD` with the currency's minor units."""
    if value is None:
        return ""
    places = MINOR_UNITS.get((currency or "").upper(), 2)
    amount = Decimal(str(value)).quantize(Decimal(1).scaleb(-places))
    return f"{amount:,.{places}f} {currency or ''}".strip()


def when(value) -> str:
    """Return a time as `2026-11-02 22:10` (UTC)."""
    if not isinstance(value, datetime):
        return value or ""
    return value.strftime("%Y-%m-%d %H:%M")


def duration(value) -> str:
    """Return a timedelta or seconds as words: `2 days`, `3 h`, `5 min`."""
    seconds = abs(int(value.total_seconds() if isinstance(value, timedelta) else value or 0))
    for size, unit in ((86400, "day"), (3600, "h"), (60, "min")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if unit == 'day' and n != 1 else ''}"
    return f"{seconds} s"


def ago(value) -> str:
    """Return how long ago (or until) a time is: `3 h ago`, `in 2 days`."""
    if not isinstance(value, datetime):
        return ""
    delta = utcnow() - value
    return f"{duration(delta)} ago" if delta.total_seconds() >= 0 else f"in {duration(delta)}"


def status_badge(status) -> Markup:
    """Return a status as a coloured badge."""
    if not status:
        return Markup("")
    tone = BADGES.get(str(status), "secondary")
    return Markup(f'<span class="badge text-bg-{tone}">{escape(str(status).replace("_", " "))}</span>')


def money_text(value, currency: str | None) -> str:
    """Format money in Python code with the shared filter when it exists, else the stand-in."""
    try:
        from web.formatting import money as shared
    except ImportError:
        shared = money
    return shared(Decimal(str(value)), currency)


def register(app) -> None:
    """Add each stand-in filter the app does not have yet."""
    for name, fn in (("money", money), ("when", when), ("ago", ago), ("duration", duration),
                     ("status_badge", status_badge)):
        app.jinja_env.filters.setdefault(name, fn)
