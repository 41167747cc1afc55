"""Inbox queries: filters, sorts, keyset pages, counts and saved views."""

from datetime import timedelta

import pytest

from engine.db import unit_of_work
from engine.tasks import service, views
from engine.tasks.query import Filters, QueryError, counts, list_page
from engine.values import clock, parse_datetime

NOW = parse_datetime("2026-11-02T12:00:00Z")


@pytest.fixture
def tasks(database):
    """Twelve tasks over three queues, with due times, priorities and one assignee."""
    clock.freeze(NOW)
    with unit_of_work(database) as s:
        for n in range(12):
            task, _ = service.create(
                s,
                queue=("finance", "support", "sales")[n % 3],
                title=f"t{n}",
                client_ref=f"C{n % 4}",
                rule_id="r-odd" if n % 2 else None,
                priority=("low", "normal", "high", "urgent")[n % 4],
                due_at=None if n % 5 == 0 else NOW + timedelta(hours=n - 6),
            )
            if n == 4:
                service.claim(s, task, actor="ann@x.io")
            if n == 7:
                service.resolve(s, task, actor="ann@x.io", resolution="ok")
    return database


def _titles(database, limit=50, after=None, **kw):
    with unit_of_work(database) as s:
        rows, cursor = list_page(s, Filters(now=NOW, **kw), limit=limit, after=after)
        return [t.title for t in rows], cursor


def _walk(database, **kw):
    seen, cursor = [], None
    while True:
        page, cursor = _titles(database, limit=2, after=cursor, **kw)
        seen += page
        if cursor is None:
            return seen


def test_filters(tasks):
    assert _titles(tasks, queue="finance")[0] == ["t9", "t6", "t3", "t0"]
    assert _titles(tasks, queues=("sales",), status="done")[0] == []
    assert _titles(tasks, status="done")[0] == ["t7"]
    assert _titles(tasks, assignee="ann@x.io")[0] == ["t4"]
    assert "t4" not in _titles(tasks, assignee="none")[0]
    assert _titles(tasks, client="C1", rule="r-odd")[0] == ["t9", "t5", "t1"]
    assert _titles(tasks, priority="urgent")[0] == ["t11", "t3"]
    assert _titles(tasks, due="overdue")[0] == ["t4", "t3", "t2", "t1"]
    assert _titles(tasks, due="none")[0] == ["t10", "t5", "t0"]
    assert _titles(tasks, queues=())[0] == []


@pytest.mark.parametrize(
    "sort, expected",
    [
        ("newest", ["t11", "t10", "t9", "t8", "t6", "t5", "t4", "t3", "t2", "t1", "t0"]),
        ("oldest", ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t8", "t9", "t10", "t11"]),
        ("due", ["t1", "t2", "t3", "t4", "t6", "t8", "t9", "t11", "t0", "t5", "t10"]),
        ("priority", ["t11", "t3", "t10", "t6", "t2", "t9", "t5", "t1", "t8", "t4", "t0"]),
    ],
)
def test_keyset_pages_cover_every_task_once_in_order(tasks, sort, expected):
    assert _walk(tasks, sort=sort) == _titles(tasks, sort=sort)[0]
    assert _titles(tasks, sort=sort)[0] == expected


def test_bad_filters_and_cursors_are_named(tasks):
    with pytest.raises(QueryError, match="status: unknown value 'closed'"):
        _titles(tasks, status="closed")
    with pytest.raises(QueryError, match="after: not a cursor of a list sorted by due"):
        _titles(tasks, sort="due", after="garbage")


def test_counts(tasks):
    with unit_of_work(tasks) as s:
        c = counts(s, ("finance", "support"), user="ann@x.io", now=NOW)
    assert c["queues"] == {"finance": 4, "support": 3}
    assert c["mine"] == 1 and c["unassigned"] == 6
    assert c["overdue"] == 3 and c["overdue_by_queue"] == {"finance": 1, "support": 2}


def test_saved_views(database):
    with unit_of_work(database) as s:
        views.save(
            s, owner="ann@x.io", name="Urgent finance", filters={"queue": "finance", "priority": "urgent", "junk": "x"}
        )
        views.save(s, owner="bob@x.io", name="Team", filters={"due": "overdue"}, shared=True)
        views.save(s, owner="bob@x.io", name="Mine", filters={"assignee": "bob@x.io"})
        with pytest.raises(QueryError, match="sort: unknown value"):
            views.save(s, owner="ann@x.io", name="bad", filters={"sort": "random"})
    with unit_of_work(database) as s:
        mine = views.list_for(s, "ann@x.io")
        assert [(v.name, v.filters) for v in mine] == [
            ("Team", {"due": "overdue"}),
            ("Urgent finance", {"queue": "finance", "priority": "urgent"}),
        ]
        assert not views.delete(s, owner="ann@x.io", view_id=mine[0].id)
        assert views.delete(s, owner="ann@x.io", view_id=mine[1].id)
