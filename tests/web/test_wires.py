"""Bank wires: the unmatched queue and its finance tasks, manual match and return, upload."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.audit.models import AuditEntry
from engine.db import unit_of_work
from engine.deliveries import replay as replay_mod
from engine.deliveries import wires as wires_service
from engine.deliveries.models import Delivery
from engine.payments import ledger
from engine.payments.models import Deposit
from engine.tasks.models import Task
from engine.values import utcnow
from tests.connectors import helpers as fx
from tests.helpers import record_and_process
from tests.web.conftest import csrf
from tests.web.test_webhooks_replay import wire_request, wire_requests

WIRES = fx.raw("camt054/incoming_wires.xml")


def seed(database) -> None:
    """Register the clients and deposit requests, then import the file (2 unmatched wires)."""
    record_and_process(database, wire_requests())
    replay_mod.replay_camt054(database, WIRES, utcnow())


def unmatched(database) -> list[int]:
    with unit_of_work(database) as s:
        return [row.id for row in wires_service.list_unmatched(s)]


def seeded_first_wire(database) -> int:
    """Seed the two unmatched wires; return the first one's delivery id."""
    seed(database)
    return unmatched(database)[0]


def wallet(database, ref: str = "C-1002", currency: str = "EUR") -> Decimal:
    with unit_of_work(database) as s:
        return ledger.balance(s, ledger.wallet(ref, currency), currency)


def open_tasks(database) -> list[Task]:
    with unit_of_work(database) as s:
        return list(s.scalars(select(Task).where(Task.queue == "finance", Task.status == "open")))


def test_each_unmatched_wire_opens_one_finance_task(database):
    seed(database)
    replay_mod.replay_camt054(database, WIRES, utcnow())  # a replay opens nothing twice
    ids = unmatched(database)
    assert len(ids) == 2
    assert sorted(t.data["delivery_id"] for t in open_tasks(database)) == ids


def test_manual_match_credits_the_wallet_once(database):
    first = seeded_first_wire(database)
    before = wallet(database)
    with unit_of_work(database) as s:
        wires_service.match(s, delivery_id=first, client_ref="C-1002", actor="fin@example.com")
    assert wallet(database) == before + Decimal("100.00")
    with pytest.raises(wires_service.WireError, match="no longer unmatched"):
        with unit_of_work(database) as s:
            wires_service.match(s, delivery_id=first, client_ref="C-1002", actor="fin@example.com")
    report = replay_mod.replay_camt054(database, WIRES, utcnow())
    assert report.counts["duplicate"] == 3 and report.counts["unmatched"] == 1
    assert wallet(database) == before + Decimal("100.00")
    assert [t.data["delivery_id"] for t in open_tasks(database)] == unmatched(database)
    with unit_of_work(database) as s:
        (entry,) = s.scalars(select(AuditEntry).where(AuditEntry.action == "wire.matched"))
    assert (entry.target_id, entry.actor, entry.detail["delivery_id"]) == ("C-1002", "fin@example.com", first)


def test_match_refuses_an_unknown_client_and_stores_nothing(database):
    first = seeded_first_wire(database)
    with pytest.raises(wires_service.WireError, match="does not exist"):
        with unit_of_work(database) as s:
            wires_service.match(s, delivery_id=first, client_ref="C-404", actor="fin")
    assert unmatched(database)[0] == first and len(open_tasks(database)) == 2


def test_return_needs_a_reason_and_closes_the_task(database):
    first = seeded_first_wire(database)
    with pytest.raises(wires_service.WireError, match="needs a reason"):
        with unit_of_work(database) as s:
            wires_service.return_delivery(s, delivery_id=first, reason=" ", actor="fin")
    with unit_of_work(database) as s:
        wires_service.return_delivery(s, delivery_id=first, reason="unknown payer", actor="fin")
    with unit_of_work(database) as s:
        row = s.get(Delivery, first)
        assert (row.status, row.reason) == ("ignored", "returned by fin: unknown payer")
        task = s.scalar(select(Task).where(Task.data["delivery_id"].as_integer() == first))
        assert task.status == "done"
    assert first not in unmatched(database)


def statement(count: int, amount: str = "10.00") -> bytes:
    """Build a camt.054 file of `count` booked EUR credits that name no deposit request."""
    entry = (
        '<Ntry><NtryRef>R-{n}</NtryRef><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT'
        "</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2024-08-02</Dt></BookgDt>"
        "<AcctSvcrRef>RACE-{n}</AcctSvcrRef><NtryDtls><TxDtls><RmtInf><Ustrd>nobody {n}"
        "</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
    )
    entries = "".join(entry.format(n=n, amount=amount) for n in range(count))
    return (
        f'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">'
        f"<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>RACE</MsgId></GrpHdr><Ntfctn><Id>N</Id>"
        f"<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>{entries}</Ntfctn>"
        f"</BkToCstmrDbtCdtNtfctn></Document>"
    ).encode()


def test_match_to_an_open_deposit_request_completes_it(database):
    seed(database)
    record_and_process(
        database,
        [wire_request("C-1001", "2024-07-31T09:00:00Z", "dep_typo", "200.00", "DEP-BBB22")],
    )
    second = unmatched(database)[1]
    with unit_of_work(database) as s:
        (found,) = [c for c in wires_service.candidates(s, query="BBB22", amount="200.00", currency="EUR")]
        assert found["client"].ref == "C-1001"
        deposit_id = found["deposits"][0].id
        with pytest.raises(wires_service.WireError, match="not a deposit of client C-1002"):
            wires_service.match(s, delivery_id=second, client_ref="C-1002", actor="fin", deposit_id=deposit_id)
    before = wallet(database, "C-1001")
    with unit_of_work(database) as s:
        wires_service.match(s, delivery_id=second, client_ref="C-1001", actor="fin", deposit_id=deposit_id)
    with unit_of_work(database) as s:
        deposit = s.get(Deposit, deposit_id)
        assert (deposit.status, deposit.payment_id) == ("completed", "dep_typo")
    assert wallet(database, "C-1001") == before + Decimal("200.00")


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_two_concurrent_matches_credit_once(database):
    record_and_process(database, wire_requests())
    replay_mod.replay_camt054(database, statement(6), utcnow())
    rounds = unmatched(database)
    assert len(rounds) == 6
    for delivery_id in rounds:
        barrier, wins, errors = threading.Barrier(2), [], []

        def go():
            barrier.wait()
            try:
                with unit_of_work(database) as s:
                    wires_service.match(s, delivery_id=delivery_id, client_ref="C-1002", actor="fin")
                wins.append(1)
            except wires_service.WireError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=go) for _ in range(2)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert (len(wins), len(errors)) == (1, 1)
    assert wallet(database) == Decimal("60.00")


@pytest.mark.parametrize(
    "role,status",
    [("finance", 200), ("admin", 200), ("compliance", 200), ("support", 403), ("sales", 403), ("partner", 403)],
)
def test_who_may_view_the_queue(database, as_role, role, status):
    seed(database)
    assert as_role(role).get("/wires").status_code == status


def test_finance_matches_from_the_page_and_compliance_may_not(database, as_role):
    first = seeded_first_wire(database)
    viewer = as_role("compliance")
    page = viewer.get(f"/wires/{first}?q=C-1002").get_data(as_text=True)
    assert "C-1002" in page and "Match to" not in page
    refused = viewer.post(f"/wires/{first}/match", data={"client_ref": "C-1002", "csrf_token": csrf(viewer)})
    assert refused.status_code == 403
    finance = as_role("finance")
    assert finance.post(f"/wires/{first}/match", data={"client_ref": "C-1002"}).status_code == 400
    before = wallet(database)
    done = finance.post(f"/wires/{first}/match", data={"client_ref": "C-1002", "csrf_token": csrf(finance)})
    assert done.status_code == 302 and wallet(database) == before + Decimal("100.00")
    again = finance.post(f"/wires/{first}/match", data={"client_ref": "C-1002", "csrf_token": csrf(finance)})
    assert again.status_code == 302 and wallet(database) == before + Decimal("100.00")


def test_upload_shows_each_entry_and_a_malformed_file_stores_nothing(database, as_role):
    seed(database)
    finance = as_role("finance")
    bad = finance.post(
        "/wires/upload",
        data={"csrf_token": csrf(finance), "file": (__import__("io").BytesIO(b"<Document>"), "bad.xml")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400 and "not well-formed" in bad.get_data(as_text=True)
    with unit_of_work(database) as s:
        count = len(list(s.scalars(select(Delivery))))
    good = finance.post(
        "/wires/upload",
        data={"csrf_token": csrf(finance), "file": (__import__("io").BytesIO(WIRES), "w.xml")},
        content_type="multipart/form-data",
    )
    html = good.get_data(as_text=True)
    assert good.status_code == 200 and "duplicate" in html and "line 38" not in html
    assert "<td>38</td><td>error</td>" in html and "no requested deposit matches" in html
    with unit_of_work(database) as s:
        assert len(list(s.scalars(select(Delivery)))) == count
    assert as_role("compliance").get("/wires/upload").status_code == 403
