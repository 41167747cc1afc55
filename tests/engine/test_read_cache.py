"""The per-transaction read cache (engine.db.cached) and processing's strong references.

Processing answers "the client's documents / requests / open tasks / timers" from the
session while no write touched them; these tests pin down what does and does not forget
an answer, since a stale answer would be a wrong decision.
"""

import gc

from sqlalchemy import event as sa_event, select, update

from engine.db import cached, keep_loaded_objects, unit_of_work
from engine.kyc import service as kyc
from engine.kyc.models import DocumentRequest
from engine.tasks.models import Task
from engine.values import utcnow

TABLES = frozenset({"kyc_document_requests"})


def _request(ref: str, kind: str = "passport") -> DocumentRequest:
    return DocumentRequest(client_ref=ref, document_type=kind, requested_by="test", requested_at=utcnow())


def _loads(session, ref: str, calls: list) -> list:
    def load():
        calls.append(ref)
        return [
            r.document_type for r in session.scalars(select(DocumentRequest).where(DocumentRequest.client_ref == ref))
        ]

    return cached(session, ("requests", ref), TABLES, load, client_ref=ref)


def test_a_write_for_another_client_keeps_the_answer_a_write_for_the_client_forgets_it(database):
    with unit_of_work(database) as s:
        calls: list = []
        assert _loads(s, "A", calls) == [] and _loads(s, "A", calls) == [] and calls == ["A"]
        s.add(_request("B"))
        assert _loads(s, "A", calls) == [] and calls == ["A"]  # B's row: A's answer stands
        s.add(_request("A"))
        assert _loads(s, "A", calls) == ["passport"] and calls == ["A", "A"]


def test_a_row_moved_to_another_client_forgets_both_clients_answers(database):
    with unit_of_work(database) as s:
        row = _request("A")
        s.add(row)
        s.flush()
        calls: list = []
        assert _loads(s, "A", calls) == ["passport"] and _loads(s, "B", calls) == []
        row.client_ref = "B"
        assert _loads(s, "A", calls) == [] and _loads(s, "B", calls) == ["passport"]
        assert calls == ["A", "B", "A", "B"]


def test_statements_forget_their_table_scoped_to_the_client_they_name(database):
    with unit_of_work(database) as s:
        s.add_all([_request("A"), _request("B")])
        s.flush()
        calls: list = []
        _loads(s, "A", calls), _loads(s, "B", calls)
        s.execute(
            update(DocumentRequest)
            .where(DocumentRequest.client_ref == "B")
            .values(reason="x")
            .execution_options(client_ref="B")
        )
        _loads(s, "A", calls), _loads(s, "B", calls)
        assert calls == ["A", "B", "B"]
        s.execute(update(DocumentRequest).values(reason="y"))  # whose rows: unknown
        _loads(s, "A", calls), _loads(s, "B", calls)
        assert calls == ["A", "B", "B", "A", "B"]


def _touch_tasks(session, ref: str | None) -> None:
    """A write to the tasks table of client `ref` (None: of clients unknown) that changes no row."""
    session.execute(update(Task).where(Task.id == -1).values(title="x").execution_options(client_ref=ref))


def test_each_write_forgets_exactly_the_answers_of_its_table_and_client_however_often(database):
    both = frozenset({"kyc_document_requests", "tasks"})
    questions = [  # (key, tables, client_ref): None is an answer about anyone's rows
        (("both", "A"), both, "A"),
        (("both", "B"), both, "B"),
        (("tasks", "anyone"), frozenset({"tasks"}), None),
        (("requests", "A"), TABLES, "A"),
    ]
    with unit_of_work(database) as s:
        calls: list = []

        def asked_again() -> list:
            calls.clear()
            for key, tables, ref in questions:
                cached(s, key, tables, lambda key=key: calls.append(key), client_ref=ref)
            return sorted(calls)

        asked_again()
        for _ in range(3):  # answers asked again are forgotten again by the next write
            _touch_tasks(s, "A")
            assert asked_again() == [("both", "A"), ("tasks", "anyone")]
        s.add(_request("B"))
        assert asked_again() == [("both", "B")]
        s.add(_request("A"))
        assert asked_again() == [("both", "A"), ("requests", "A")]
        _touch_tasks(s, None)
        assert asked_again() == [("both", "A"), ("both", "B"), ("tasks", "anyone")]
        assert asked_again() == []


def test_a_rolled_back_savepoint_forgets_what_it_may_have_undone(database):
    with unit_of_work(database) as s:
        calls: list = []
        _loads(s, "A", calls)
        try:
            with s.begin_nested():
                s.add(_request("A"))
                assert _loads(s, "A", calls) == ["passport"]
                raise RuntimeError("undo")
        except RuntimeError:
            pass
        assert _loads(s, "A", calls) == [] and calls == ["A", "A", "A"]


def test_kyc_answers_follow_the_clients_own_writes(database):
    with unit_of_work(database) as s:
        assert kyc.requests(s, "A") == []
        s.add(_request("A", "proof_of_address"))
        assert [r.document_type for r in kyc.requests(s, "A")] == ["proof_of_address"]


def test_processing_sessions_answer_primary_key_lookups_from_memory(database):
    with unit_of_work(database) as s:
        s.add(_request("A"))
    statements: list = []

    def seen(_conn, _cursor, statement, *_rest):
        statements.append(statement)

    sa_event.listen(database.engine, "before_cursor_execute", seen)
    try:
        with unit_of_work(database) as s:
            keep_loaded_objects(s)
            row_id = s.scalar(select(DocumentRequest)).id
            gc.collect()  # nothing else refers to the row any more
            before = len(statements)
            assert s.get(DocumentRequest, row_id).client_ref == "A"
            assert len(statements) == before  # no query: the session kept it
    finally:
        sa_event.remove(database.engine, "before_cursor_execute", seen)
