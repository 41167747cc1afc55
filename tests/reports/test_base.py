"""Report building blocks without a database: median, rounding, periods, filters, formats."""

from datetime import datetime, timedelta
from decimal import Decimal as D

import pytest

from engine.reports.base import ReportError, get_report, hours, median, parse_filters, pct, period_key, seconds
from engine.reports.export import text
from engine.values import UTC


def test_median():
    assert median([]) is None
    assert median([7]) == D(7)
    assert median([9, 1, 5]) == D(5)
    assert median([4, 1, 3, 10]) == D("3.5")
    assert median([1, 2]) == D("1.5")


def test_rounding_and_durations():
    assert pct(2, 3) == D("66.67") and pct(1, 8) == D("12.50") and pct(1, 0) is None
    assert hours(5400) == D("1.50") and hours(D("1.5")) == D("0.00") and hours(None) is None
    assert hours(18) == D("0.01")  # 0.005 h rounds half up
    assert seconds(timedelta(days=1, seconds=5, microseconds=900)) == 86405
    assert seconds(timedelta(seconds=-30)) == 0


def test_periods():
    when = datetime(2026, 1, 1, 12, tzinfo=UTC)  # a Thursday in ISO week 1 of 2026
    assert [period_key(when, p) for p in ("month", "week", "day", "all")] == [
        "2026-01",
        "2026-W01",
        "2026-01-01",
        "all",
    ]
    assert period_key(datetime(2027, 1, 1, tzinfo=UTC), "week") == "2026-W53"


def test_filters_are_checked_and_converted():
    funnel = get_report("funnel")
    got = parse_filters(
        funnel,
        {"since": "2026-02-01", "until": "2026-02-03T10:00:00+02:00", "by": "country", "stuck_days": "3", "period": ""},
    )
    assert got["since"] == datetime(2026, 2, 1, tzinfo=UTC)
    assert got["until"] == datetime(2026, 2, 3, 8, tzinfo=UTC)
    assert (got["by"], got["stuck_days"], got["period"], got["country"]) == ("country", 3, "month", None)
    for raw, message in (
        ({"queue": "x"}, "filter queue: not a filter of report 'funnel'"),
        ({"since": "2026-02-30"}, "filter since: not a date"),
        ({"until": "2026-02-01T00:00:00"}, "filter until: not a date"),
        ({"by": "age"}, "filter by: 'age' is not one of"),
        ({"stuck_days": "1e3"}, "filter stuck_days: not a whole number"),
    ):
        with pytest.raises(ReportError, match=message):
            parse_filters(funnel, raw)
    with pytest.raises(ReportError, match="report 'nope': no such report"):
        get_report("nope")
    assert get_report("operations") is get_report("tasks")


def test_cell_text():
    assert text(D("12.50000000"), "money") == "12.50"
    assert text(D("0.00012300"), "money") == "0.000123"
    assert text(D("1000"), "money") == "1000.00"
    assert text(D("1.50000000"), "decimal") == "1.5" and text(D("100"), "decimal") == "100"
    assert text(datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "time") == "2026-01-02T03:04:00Z"
    assert text(None) == "" and text(3, "int") == "3"
