"""Client search: partial, case-insensitive text search, filters and keyset pages.

Pages are keyed on the client id (newest first), never OFFSET, so a later page
costs the same as the first one.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable

from sqlalchemy import Select, column, func, or_, select, table, union
from sqlalchemy.orm import Session

from engine.clients.models import (
    FUNNEL,
    SEARCH_FTS,
    STATUSES,
    Client,
    phone_digits,  # noqa: F401
    search_text,  # noqa: F401
)

KYC_STATUSES = ("not_started", "pending", "approved", "rejected", "retry", "on_hold")
RISKS = ("low", "medium", "high")
PAGE = 50


class SearchError(ValueError):
    """A search filter or cursor is malformed (the message names it)."""


@dataclass(frozen=True)
class ClientFilters:
    """What the client list shows."""

    text: str = ""
    status: str | None = None
    kyc_status: str | None = None
    funnel_stage: str | None = None
    risk: str | None = None
    country: str | None = None
    ib: str | None = None
    registered_from: date | None = None
    registered_to: date | None = None

    def public(self) -> dict:
        """Return the filters a user chose as query arguments (for links)."""
        chosen = {k: str(v) for k, v in self.__dict__.items() if v not in (None, "")}
        if "text" in chosen:
            chosen["q"] = chosen.pop("text")
        return chosen


def parse_filters(args) -> ClientFilters:
    """Build filters from request-like args, or raise SearchError naming the bad one."""
    text = (args.get("q") or "").strip()
    if "\x00" in text or len(text) > 200:
        raise SearchError("q: at most 200 characters, no NUL")
    values = {
        k: (args.get(k) or "").strip() or None
        for k in ("status", "kyc_status", "funnel_stage", "risk", "country", "ib")
    }
    _one_of("status", values["status"], STATUSES)
    _one_of("kyc_status", values["kyc_status"], KYC_STATUSES)
    _one_of("funnel_stage", values["funnel_stage"], FUNNEL)
    _one_of("risk", values["risk"], RISKS)
    if values["country"]:
        values["country"] = values["country"].upper()
    return ClientFilters(
        text=text, registered_from=_date(args, "registered_from"), registered_to=_date(args, "registered_to"), **values
    )


def _one_of(name: str, value, allowed) -> None:
    if value is not None and value not in allowed:
        raise SearchError(f"{name}: unknown value {value!r}; use one of {', '.join(allowed)}")


def _date(args, name: str) -> date | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise SearchError(f"{name}: {raw!r} is not a date (use YYYY-MM-DD)") from None


def encode_cursor(client_id: int) -> str:
    """Return the opaque cursor that starts the page after this client."""
    return base64.urlsafe_b64encode(f"c{client_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """Return the client id a cursor points after, or raise SearchError."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw[0] != "c" or not raw[1:].isdigit() or len(raw) > 19:
            raise ValueError
        return int(raw[1:])
    except (ValueError, IndexError, UnicodeDecodeError):
        raise SearchError("cursor: not a page link from this list; start again") from None


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_PHONE = re.compile(r"^\+?[0-9 ()./-]{4,}$")


# Other domains add what a client can be found by (a trading account id): each registers,
# in its `search` module, a function (needle, dialect) -> select of Client.id.
IdMatcher = Callable[[str, str], Select]
MATCHERS: list[IdMatcher] = []


def client_search(match: IdMatcher) -> IdMatcher:
    """Register `match(needle, dialect)`: the ids of clients found by it (a UNION member)."""
    MATCHERS.append(match)
    return match


def matchers() -> list[IdMatcher]:
    """Import every domain's `search` module once; return the registered matchers."""
    from engine.domains import import_each_once

    import_each_once("search")
    return MATCHERS


def contains(column, text: str, dialect: str):
    """`column` contains `text` (both lower case). SQLite's instr() is a plain substring
    test, several times faster than LIKE with an escape; on PostgreSQL LIKE '%x%' is what
    the pg_trgm index serves."""
    if dialect == "sqlite":
        return func.instr(column, text) > 0
    return column.like(_like(text), escape="\\")


def _text_clause(text: str, dialect: str = "postgresql", session=None):
    """Clients whose search text, or what another domain finds them by (a trading account
    id, engine.accounts.search), contains `text`.

    A UNION of id sets rather than one OR, so each part can use its own index
    (PostgreSQL: pg_trgm on clients.search_text and on the account ids; SQLite: the FTS5
    trigram table over search_text)."""
    needle = text.lower()
    matches = contains(Client.search_text, needle, dialect)
    if _PHONE.fullmatch(text.strip()) and len(phone_digits(text)) >= 4:
        matches = or_(matches, contains(Client.search_text, phone_digits(text), dialect))
    if dialect == "sqlite" and _trigram_ok(needle, text) and session is not None and _has_fts(session):
        by_text = _sqlite_trigram(needle, text)
    else:
        by_text = [select(Client.id).where(matches)]
    by_others = [match(needle, dialect) for match in matchers()]
    return Client.id.in_(union(*by_text, *by_others))  # flat: SQLite nests no UNION


_FTS = table(SEARCH_FTS, column("rowid"), column("search_text"))


_FTS_FOUND: dict[str, bool] = {}


def _has_fts(session) -> bool:
    """Whether migration 1099 could make the FTS5 trigram table (SQLite 3.34+), per database."""
    url = str(session.get_bind().url)
    if url not in _FTS_FOUND:
        _FTS_FOUND[url] = (
            session.execute(
                select(func.count()).select_from(table("sqlite_master")).where(column("name") == SEARCH_FTS)
            ).scalar()
            > 0
        )
    return _FTS_FOUND[url]


def _trigram_ok(needle: str, text: str) -> bool:
    """The FTS5 trigram index answers LIKE for 3+ characters without wildcards in them."""
    return len(needle) >= 3 and not any(c in needle for c in "%_\\")


def _sqlite_trigram(needle: str, text: str) -> list:
    """Selects of the ids whose search text contains `needle` (or the phone digits), from
    the trigram index."""
    patterns = [needle]
    if _PHONE.fullmatch(text.strip()) and len(phone_digits(text)) >= 4:
        patterns.append(phone_digits(text))
    # One index lookup per pattern (an OR of two LIKEs would scan the FTS table).
    return [select(_FTS.c.rowid).where(_FTS.c.search_text.like(f"%{p}%")) for p in patterns]


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=timezone.utc)


def _where(f: ClientFilters, dialect: str = "postgresql", session=None) -> list:
    clauses = []
    if f.text:
        clauses.append(_text_clause(f.text, dialect, session))
    for name in ("status", "kyc_status", "funnel_stage", "country"):
        if getattr(f, name):
            clauses.append(getattr(Client, name) == getattr(f, name))
    if f.risk:
        clauses.append(Client.risk_category == f.risk)
    if f.ib:
        clauses.append(func.lower(Client.referral_code) == f.ib.lower())
    if f.registered_from:
        clauses.append(Client.registered_at >= _day_start(f.registered_from))
    if f.registered_to:
        clauses.append(Client.registered_at < _day_start(f.registered_to + timedelta(days=1)))
    return clauses


def search(
    session: Session, filters: ClientFilters, *, after: str | None = None, limit: int = PAGE
) -> tuple[list[Client], str | None]:
    """Return one page of matching clients (newest first) and the next page's cursor."""
    query = select(Client).where(*_where(filters, session.get_bind().dialect.name, session))
    after_id = decode_cursor(after)
    if after_id is not None:
        query = query.where(Client.id < after_id)
    rows = list(session.scalars(query.order_by(Client.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].id) if more else None
