"""The set-based form of the payment projections (engine.payments.batch) leaves exactly the
tables the per-event projections do: deposits, transfers, the ledger, the clients' funnel.

Payment-heavy histories: the demo broker's journeys with, per funded client, more deposits
(requested then completed, failed then completed, made on the platform, refunded), wallet
transfers both ways, a transfer reported failed and then completed (a platform retry), a
transfer beyond the wallet's balance (it waits), one into an account nobody opened, events
re-sent under new ids; and a failing event (a completion in another currency than its
deposit's). Streams are processed with the set-based path off and on (the helpers of
test_batch_equivalence) and every table compared; the events the set-based path took are
counted by type.

The deposit handlers' form is on, a failed deposit excepted (the shipped rules' episode
task has no set-based form: engine.payments.projections, DEPOSITS). `deposits_on` takes
failed deposits too and, on both paths alike, leaves the IB's activity projection out of
the deposit types (its form refuses a referred client's), so that these tests show the
deposit form itself exact; tests/engine/test_batch_deposits.py shows the deposits with
the shipped rules and the IB's form.
"""

from __future__ import annotations

import zlib
from collections import Counter
from datetime import datetime, timedelta

import pytest

from engine import projections
from engine.payments import projections as payment_projections
from tests.engine.test_batch_equivalence import (  # noqa: F401  (fixtures)
    _assert_same,
    _one_transaction_per_group,
    compare,
    counting_batched,
    demo_stream,
    shuffled_with_duplicates,
    urls,
)

SETTLED = ("payment.deposit_completed", "payment.deposit_refunded", "payment.deposit_charged_back")


def _at(text: str, **delta) -> str:
    moved = datetime.fromisoformat(text.replace("Z", "+00:00")) + timedelta(**delta)
    return moved.isoformat().replace("+00:00", "Z")


def _event(client: str, eid: str, type_: str, at: str, **data) -> dict:
    return {"id": eid, "type": type_, "source": "backoffice", "occurred_at": at, "client": client, "data": data}


def _deposit(client: str, eid: str, status: str, at: str, payment_id: str, amount: str, **more) -> dict:
    data = {"payment_id": payment_id, "amount": amount, "currency": "USD", "method": "card", "provider": "stripe"}
    return _event(client, eid, f"payment.deposit_{status}", at, **data, **more)


def _transfer(client: str, eid: str, status: str, at: str, transfer_id: str, frm: str, to: str, amount: str) -> dict:
    data = {"transfer_id": transfer_id, "from": frm, "to": to, "amount": amount, "currency": "USD"}
    return _event(client, eid, f"wallet.transfer_{status}", at, **data)


def payment_heavy(clients: int = 24) -> list[dict]:
    """The demo journeys with more payments per funded client (see the module)."""
    events = demo_stream(seed=5, clients=clients)
    accounts = {e["client"]: e for e in events if e["type"] == "account.created"}
    out = list(events)
    funded = [e for e in events if e["type"] == "payment.deposit_completed"]
    for n, first in enumerate(funded):
        c, t0, pid = first["client"], first["occurred_at"], first["data"]["payment_id"]
        out.append(
            _deposit(c, f"{c}-x1", "requested", _at(t0, minutes=-10), pid, first["data"]["amount"], reference=f" R{c} ")
        )
        out.append(_deposit(c, f"{c}-x2", "requested", _at(t0, hours=1), f"{c}-P2", "120.5"))
        out.append(_deposit(c, f"{c}-x3", "completed", _at(t0, hours=2), f"{c}-P2", "120.50"))
        out.append(_deposit(c, f"{c}-x4", "failed", _at(t0, hours=3), f"{c}-P4", "75", reason_code="declined"))
        out.append(_deposit(c, f"{c}-x5", "completed", _at(t0, hours=4), f"{c}-P4", "75.00"))
        if n % 4 == 1:  # a refund: the per-event path posts it (how much the wallet covers)
            out.append(_deposit(c, f"{c}-x6", "refunded", _at(t0, hours=5), f"{c}-P2", "20.5"))
        account = accounts.get(c)
        if account is None:
            continue
        m, t1 = account["data"]["account_id"], account["occurred_at"]
        out.append(
            _deposit(c, f"{c}-x7", "completed", _at(t1, minutes=5), f"{c}-P7", "300", account_id=m, on_platform=True)
        )
        out.append(_transfer(c, f"{c}-y1", "failed", _at(t1, hours=1), f"{c}-T9", "wallet", m, "10"))
        out.append(_transfer(c, f"{c}-y2", "completed", _at(t1, hours=2), f"{c}-T9", "wallet", m, "10"))
        out.append(_transfer(c, f"{c}-y3", "completed", _at(t1, hours=3), f"{c}-T8", m, "wallet", "5.25"))
        out.append(_transfer(c, f"{c}-y4", "failed", _at(t1, hours=3, minutes=30), f"{c}-T7", m, "wallet", "1"))
        if n % 3 == 0:  # beyond the wallet's balance: it waits (per event), later deposits too
            out.append(_transfer(c, f"{c}-y5", "completed", _at(t1, hours=4), f"{c}-T6", "wallet", m, "99999"))
        if n % 7 == 3:  # into an account nobody opened: it waits for it
            out.append(_transfer(c, f"{c}-y6", "completed", _at(t1, hours=4), f"{c}-T5", "wallet", "MT5-NOPE", "1"))
        out.append(_deposit(c, f"{c}-x8", "completed", _at(t1, hours=5), f"{c}-P8", "40"))
    # Re-sent under new ids: the same payments and transfers, nothing posted twice.
    again = [
        e for e in out if e["type"].startswith(("payment.deposit", "wallet.")) and zlib.crc32(e["id"].encode()) % 4 == 0
    ]
    return out + [{**e, "id": e["id"] + "-again"} for e in again]


def with_a_failing_deposit(events: list[dict]) -> list[dict]:
    """A completion in another currency than its deposit's, after everything else: it fails
    on both paths alike (retried later); the group is rolled back and redone client by
    client on the per-event path (engine.processing), the client's other events done."""
    first = max((e for e in events if e["type"] == "payment.deposit_completed"), key=lambda e: e["client"])
    last = max(e["occurred_at"] for e in events)
    bad = {**first, "id": "bad-currency", "occurred_at": _at(last, days=1)}
    return events + [{**bad, "data": {**first["data"], "currency": "EUR"}}]


STREAMS = {
    "payments": payment_heavy,
    "payments-shuffled": lambda: shuffled_with_duplicates(payment_heavy(), seed=4),
}


@pytest.fixture
def no_rules(tmp_path) -> str:
    """A rules directory with no rules: the forms of the payments alone decide."""
    path = tmp_path / "no-rules"
    path.mkdir()
    return str(path)


@pytest.fixture
def deposits_on():
    """The deposit types with the payments projection alone (the IB's activity left out)."""
    projections.load_handlers()
    saved_forms, saved = list(projections.BATCH_FORMS), {t: projections.PROJECTIONS[t] for t in SETTLED}
    for type_ in SETTLED:
        projections.PROJECTIONS[type_] = [payment_projections.deposit_settled]
    payment_projections.register_form()
    yield
    projections.PROJECTIONS.update(saved)
    projections.BATCH_FORMS[:] = saved_forms


def _compare(urls, backend, events, *, per_client: bool = False, rules: str = "rules") -> Counter:
    """Process `events` both ways, assert the same tables; return the set-based types taken."""
    with counting_batched() as taken:
        per_event, batched = compare(urls, backend, events, per_client=per_client, rules=rules)
    assert per_event["ledger_entries"] and per_event["transfers"]  # it did work
    assert any('"waiting"' in row for row in per_event["transfers"])  # the transfer beyond the balance
    _assert_same(per_event, batched)
    return Counter(taken)


def _types(events: list[dict]) -> Counter:
    return Counter(e["type"] for e in events)


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_transfers_go_set_based_and_leave_the_same_tables(urls, backend, stream, no_rules):
    events = STREAMS[stream]()
    taken = _compare(urls, backend, events, rules=no_rules)
    sent = _types(events)
    assert taken["wallet.transfer_completed"] > sent["wallet.transfer_completed"] * 0.4, (taken, sent)
    assert taken["wallet.transfer_failed"] > sent["wallet.transfer_failed"] * 0.4, (taken, sent)
    assert taken["payment.deposit_completed"] and taken["payment.deposit_failed"]  # failures too (no `takes`)


def test_a_failing_deposit_the_same_tables(urls, backend, no_rules, deposits_on, monkeypatch):
    """Groups of 5 clients: the failing client's group is redone per event, the others
    commit what the set-based path did."""
    import engine.processing

    monkeypatch.setattr(engine.processing, "CLIENTS_PER_TXN", 5)
    events = with_a_failing_deposit(payment_heavy())
    with counting_batched() as taken:
        per_event, batched = compare(urls, backend, events, per_client=False, rules=no_rules)
    assert any("DepositError" in row for row in map(str, per_event["events"]))
    _assert_same(per_event, batched)
    assert Counter(taken)["payment.deposit_completed"]


def test_with_the_shipped_rules_the_same_tables(urls, backend):
    taken = _compare(urls, backend, payment_heavy())
    assert taken["wallet.transfer_completed"]


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_deposits_go_set_based_and_leave_the_same_tables(urls, backend, stream, no_rules, deposits_on):
    events = STREAMS[stream]()
    taken = _compare(urls, backend, events, rules=no_rules)
    sent = _types(events)
    for type_ in ("payment.deposit_requested", "payment.deposit_completed", "payment.deposit_failed"):
        assert taken[type_] > sent[type_] * 0.4, (type_, taken, sent)
    # A refund that posts goes per event; only a re-sent one, its refund posted already
    # (nothing left to do), may be set-based: at most one per refund sent twice.
    refunds = [e for e in events if e["type"] == "payment.deposit_refunded"]
    resent = len(refunds) - len({(e["client"], e["data"]["payment_id"]) for e in refunds})
    assert resent and taken["payment.deposit_refunded"] <= resent, (taken, resent)
    assert taken["wallet.transfer_completed"]


def test_deposits_one_client_at_a_time_even_the_ids_are_the_same(urls, backend, no_rules, deposits_on):
    taken = _compare(urls, backend, payment_heavy(), per_client=True, rules=no_rules)
    assert taken["payment.deposit_completed"] and taken["wallet.transfer_completed"]


def test_deposits_on_with_the_shipped_rules_the_same_tables(urls, backend, deposits_on):
    """Where a shipped rule acts on a deposit the rules' form refuses it: the client's
    events go per event from there, and the tables are still the same."""
    taken = _compare(urls, backend, payment_heavy())
    assert taken["payment.deposit_requested"]  # the rules act on the others (the rules' form)
