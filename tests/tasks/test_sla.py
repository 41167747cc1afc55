"""Business hours: parsing and adding business time."""

from datetime import timedelta

import pytest

from engine.tasks.sla import BusinessHours, HoursError
from engine.values import parse_datetime as dt


def test_default_hours_skip_nights_and_weekends():
    hours = BusinessHours.parse(None)
    assert hours.add(dt("2026-11-02T08:00:00Z"), timedelta(hours=1)) == dt("2026-11-02T10:00:00Z")
    assert hours.add(dt("2026-11-02T17:30:00Z"), timedelta(hours=1)) == dt("2026-11-03T09:30:00Z")
    assert hours.add(dt("2026-11-07T12:00:00Z"), timedelta(hours=1)) == dt("2026-11-09T10:00:00Z")


def test_time_zone_and_holidays():
    hours = BusinessHours.parse("Mon-Fri 09:00-17:00 Europe/Berlin; holidays 2026-12-24")
    # 23 Dec 15:00 UTC = 16:00 Berlin: 1h left that day, the 24th is a holiday.
    assert hours.add(dt("2026-12-23T15:00:00Z"), timedelta(hours=2)) == dt("2026-12-25T09:00:00Z")


def test_wrapping_days():
    hours = BusinessHours.parse("Sun-Thu 08:00-16:00 Asia/Dubai")
    assert hours.days == frozenset({6, 0, 1, 2, 3})


@pytest.mark.parametrize(
    "text, message",
    [
        ("Mon-Fri 9-18 UTC", "expected like"),
        ("Mon-Fry 09:00-18:00 UTC", "unknown day 'Fry'"),
        ("Mon-Fri 18:00-09:00 UTC", "must end after it starts"),
        ("Mon-Fri 09:00-18:00 Mars/Olympus", "unknown time zone"),
        ("Mon-Fri 09:00-18:00 UTC; holidays 2026-13-01", "month must be"),
        ("Mon-Fri 09:00-18:00 UTC; closed Sundays", "expected 'holidays"),
    ],
)
def test_bad_settings_say_what_is_wrong(text, message):
    with pytest.raises(HoursError, match=message):
        BusinessHours.parse(text)


def test_hours_come_from_the_configuration_when_it_has_them():
    from types import SimpleNamespace

    from engine.tasks.sla import hours_for

    assert hours_for(SimpleNamespace()).days == frozenset(range(5))
    configured = hours_for(SimpleNamespace(business_hours="Sun-Thu 08:00-16:00 Asia/Dubai"))
    assert configured.days == frozenset({6, 0, 1, 2, 3}) and configured.start.hour == 8
