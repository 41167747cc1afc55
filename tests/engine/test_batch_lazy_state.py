"""A projection form loads the state of the group's other clients only when a rule reads it.

The rules' form reads some facts from a projection form's group state
(engine.facts.STATE_FACTS: the KYC documents and review, `accounts.count`). Those facts
may be read for any client of the group, but most rounds read none of them for clients
the form has no event of: the KYC form reads the rows of the clients with a KYC event in
the round at once, and the others' in one bulk read when a fact of one of them is first
read; the accounts form counts the group's accounts when `accounts.count` is first read.
"""

from __future__ import annotations

from sqlalchemy import event as sa_event
from sqlalchemy import select

from engine.accounts import batch as accounts_batch
from engine.accounts import service as accounts_service
from engine.clients.models import Client
from engine.db import unit_of_work
from engine.events.models import Event
from engine.kyc import batch as kyc_batch
from engine.kyc import service as kyc_service
from tests.engine.test_batch_marks import store
from tests.engine.test_batch_onboarding import STREAMS


def _processed_demo(database) -> None:
    from engine.processing import process_clients

    events = STREAMS["demo"]()
    store(database, events)
    process_clients(database, sorted({e["client"] for e in events}))


class _Statements:
    """The statements sent while in the block that name one of `tables`."""

    def __init__(self, database, *tables: str) -> None:
        self.engine, self.tables, self.seen = database.engine, tables, []

    def _note(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if any(f" {table}" in statement for table in self.tables):
            self.seen.append(statement)

    def __enter__(self):
        sa_event.listen(self.engine, "before_cursor_execute", self._note)
        return self

    def __exit__(self, *exc) -> None:
        sa_event.remove(self.engine, "before_cursor_execute", self._note)


def _group(session) -> tuple[dict[str, Client], Event, Client]:
    """The group's clients, one stored KYC event of the first, and another client."""
    clients = {c.ref: c for c in session.scalars(select(Client).order_by(Client.ref))}
    kyc_event = session.scalars(select(Event).where(Event.type == "kyc.document_submitted").order_by(Event.seq)).first()
    other = next(c for ref, c in clients.items() if ref != kyc_event.client_ref and kyc_service.documents(session, ref))
    return clients, kyc_event, other


def test_kyc_rows_of_clients_without_a_kyc_event_are_read_when_a_fact_needs_them(database):
    _processed_demo(database)
    with unit_of_work(database) as s:
        clients, kyc_event, other = _group(s)
        with _Statements(database, "kyc_documents", "document_requests", "kyc_reviews") as reads:
            state = kyc_batch.load(s, clients, [kyc_event])
        assert reads.seen, "the KYC event's client is read at once"
        assert all(str(other.ref) not in str(p) for p in reads.seen)
        assert kyc_event.client_ref in state.documents and other.ref not in state.documents

        with _Statements(database, "kyc_documents") as reads:
            missing = kyc_batch.documents_missing(state, other)
            also = kyc_batch.reason(state, list(clients.values())[-1])
        assert len(reads.seen) == 1, "the group's other clients are read together, once"
        assert missing == kyc_service.missing_documents(s, other)
        last = list(clients.values())[-1]
        assert also == kyc_service.reason_of(kyc_service.latest_result(s, last.ref))


def test_no_kyc_row_is_read_when_the_round_has_no_kyc_event_and_no_fact_is_read(database):
    _processed_demo(database)
    with unit_of_work(database) as s:
        clients, _kyc_event, _other = _group(s)
        with _Statements(database, "kyc_documents", "document_requests", "kyc_reviews") as reads:
            kyc_batch.load(s, clients, [])
        assert reads.seen == []


def test_accounts_are_counted_when_the_count_is_first_read(database):
    _processed_demo(database)
    with unit_of_work(database) as s:
        clients = {c.ref: c for c in s.scalars(select(Client).order_by(Client.ref))}
        with _Statements(database, "trading_accounts") as reads:
            state = accounts_batch.load(s, clients, [])
        assert reads.seen == []
        with _Statements(database, "trading_accounts") as reads:
            counts = {ref: accounts_batch.accounts_count(state, c) for ref, c in clients.items()}
        assert len(reads.seen) == 1
        assert counts == {ref: accounts_service.count_for(s, ref) for ref in clients}
        assert any(counts.values())
