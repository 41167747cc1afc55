"""The shared Jinja filters (web.formatting): money by minor units, times by zone, durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from web import formatting as fmt

NOW = datetime(2026, 11, 2, 22, 10, 30, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "currency", "shown"),
    [
        (Decimal("11.30000000"), "USD", "11.30 USD"),
        (Decimal("1234567.5"), "USD", "1,234,567.50 USD"),
        (Decimal("150000.00000000"), "JPY", "150,000 JPY"),
        (Decimal("0.015"), "BTC", "0.01500000 BTC"),
        (Decimal("1.2345"), "KWD", "1.234 KWD"),  # ISO 4217: 3 decimals, half-even
        ("200.5", "EUR", "200.50 EUR"),  # the domains' dicts carry strings
        (Decimal("-42"), "usd", "-42.00 usd"),
        (Decimal("7"), "ZZZ", "7.00 ZZZ"),  # unknown currency: 2 decimals
        (Decimal("7"), None, "7.00"),
    ],
)
def test_money_uses_the_currencys_minor_units_and_thousands(value, currency, shown):
    assert fmt.money(value, currency) == shown


def test_money_leaves_no_value_empty_and_a_non_number_as_given():
    assert fmt.money(None, "USD") == ""
    assert fmt.money("n/a", "USD") == "n/a"


def test_number_has_thousands_separators():
    assert fmt.number(1234567) == "1,234,567"
    assert fmt.number(Decimal("1234.50")) == "1,234.5"
    assert fmt.number("3.14159", 2) == "3.14"


def test_when_shows_minutes_in_the_given_zone():
    assert fmt.when(NOW) == "2026-11-02 22:10"
    assert fmt.when(NOW, ZoneInfo("Asia/Tokyo")) == "2026-11-03 07:10"
    assert fmt.when(NOW, ZoneInfo("America/New_York")) == "2026-11-02 17:10"


def test_when_reads_iso_strings_and_takes_naive_times_as_utc():
    assert fmt.when("2026-11-02T22:10:30.123456+00:00") == "2026-11-02 22:10"
    assert fmt.when("2026-11-02T22:10:30Z", ZoneInfo("Europe/Berlin")) == "2026-11-02 23:10"
    assert fmt.when(datetime(2026, 11, 2, 22, 10), ZoneInfo("Europe/Berlin")) == "2026-11-02 23:10"
    assert fmt.when(None) == ""
    assert fmt.when("not a time") == "not a time"


def test_day_is_the_date_in_the_zone():
    assert fmt.day(NOW, ZoneInfo("Asia/Tokyo")) == "2026-11-03"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (172800, "2 days"),
        (timedelta(days=1, hours=4), "1 day 4 h"),
        (86400, "1 day"),
        (12000, "3 h 20 min"),
        (3600, "1 h"),
        (300, "5 min"),
        (330, "5 min"),
        (40, "40 s"),
        (0, "0 s"),
        (Decimal("7200.0"), "2 h"),
        (timedelta(hours=-3), "3 h"),
    ],
)
def test_duration_in_words(value, words):
    assert fmt.duration(value) == words


def test_ago_says_past_and_future():
    assert fmt.ago(NOW - timedelta(hours=3, minutes=5), now=NOW) == "3 h ago"
    assert fmt.ago(NOW + timedelta(hours=2, minutes=1), now=NOW) == "in 2 h"
    assert fmt.ago(NOW - timedelta(days=3), now=NOW) == "3 days ago"
    assert fmt.ago(NOW - timedelta(seconds=20), now=NOW) == "just now"
    assert fmt.ago(None) == ""


def test_zone_named_accepts_iana_names_only():
    assert fmt.zone_named("Europe/Berlin") == ZoneInfo("Europe/Berlin")
    for bad in ("Mars/Olympus", "", None, "../etc/passwd", " UTC", "Europe/Berlin\x00"):
        assert fmt.zone_named(bad) is None


def test_status_badge_escapes_and_colours():
    assert fmt.status_badge("approved") == '<span class="badge text-bg-success">approved</span>'
    assert "&lt;b&gt;" in fmt.status_badge("<b>")
    assert fmt.status_badge(None) == ""


def test_moment_shows_the_time_and_its_age():
    html = fmt.moment("2026-11-02T22:10:30+00:00")
    assert 'datetime="2026-11-02T22:10:30+00:00"' in html and ">2026-11-02 22:10</time>" in html
