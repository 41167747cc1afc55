"""The IB's referred clients through the set-based path (issue 20): the same tables as per event.

IB-heavy trade histories (engine.demo.trading_history: 35 % of the clients referred by
three IBs, here chained C000101 -> C000051 -> C000001) are processed with the IB policies
paying (policy mode: the IB rules left out of the active ruleset), monthly caps small
enough to be reached part-way through a group, the `master` profile (spread share, two
levels of overrides) for the top IB. Every table must be the one the per-event path
leaves, and the referred clients' closed trades must have gone through the set-based path.
A concurrency test runs two workers on two clients of one IB whose monthly cap is reached.
"""

from __future__ import annotations

import json
import shutil
import threading
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.db import forget_databases, get_database, unit_of_work
from engine.demo import trading_history
from engine.events.store import parse_line, record_many
from engine.ib.models import IbClientStats, IbCommission
from engine.processing import process_all_pending, process_clients
from engine.rules import activation
from engine.values import UTC, clock, iso
from tests.conftest import _truncate, make_config
from tests.engine.test_batch_equivalence import (  # noqa: F401  (fixtures)
    NOW,
    START,
    _assert_same,
    _one_transaction_per_group,
    counting_batched,
    run,
    shuffled_with_duplicates,
    snapshot,
    urls,
)

PARENTS = {"C000051": "C000001", "C000101": "C000051"}


def policy_rules(
    tmp_path: Path, *, standard_month: str = "12", master_month: str = "5000", leave_out: tuple[str, ...] = ()
) -> str:
    """The shipped rules without the IB rules (the profiles' policies pay), with monthly caps
    of `standard_month` / `master_month` USD and C000001 on the master profile."""
    rules = tmp_path / "rules"
    shutil.copytree("rules", rules, ignore=shutil.ignore_patterns("ib", *leave_out))
    shutil.copytree("rules/policy/ib", rules / "policy" / "ib")
    profiles = rules / "policy" / "ib" / "profiles.yaml"
    text = profiles.read_text()
    for old, new in (
        ("IB-MASTER: master", "C000001: master"),
        ('per_month: "25000"', f'per_month: "{standard_month}"'),
        ('per_client: "1500"', f'per_client: "1500"\n        per_month: "{master_month}"'),
    ):
        assert old in text
        text = text.replace(old, new)
    profiles.write_text(text)
    return str(rules)


def ib_history(seed: int = 9, clients: int = 110, total: int = 2000) -> list[dict]:
    events = list(trading_history(seed, clients, total, start=START))
    for event in events:
        if event["type"] == "ib.registered" and event["client"] in PARENTS:
            event["data"]["parent_ib"] = PARENTS[event["client"]]
    return events


def counting_clients():
    """Yield the (client, type) of each event the set-based path took."""
    return counting_batched(lambda event: (event.client_ref, event.type))


EXPLANATION = 10  # ib_commissions columns without ids: key, ib_id, client_ref, type, level, amount, ...


def _without_ids(tables: dict) -> dict:
    """In groups the ids differ (test_batch_equivalence): an override's explanation names
    its base's id (`override_of`), left out too."""
    rows = []
    for row in tables["ib_commissions"]:
        explanation = json.loads(row[EXPLANATION])
        explanation.pop("override_of", None)
        rows.append(row[:EXPLANATION] + (json.dumps(explanation, sort_keys=True),) + row[EXPLANATION + 1 :])
    return {**tables, "ib_commissions": sorted(rows)}


def _compare_ib(urls, backend, events, rules: str, *, per_client: bool) -> tuple[dict, dict, list, set[str]]:
    clock.freeze(NOW)
    per_event = snapshot(run(urls[0], backend, events, batch=False, per_client=per_client, rules=rules), ids=per_client)
    with counting_clients() as taken:
        database = run(urls[1], backend, events, batch=True, per_client=per_client, rules=rules)
    with unit_of_work(database) as session:
        referred = set(session.scalars(select(IbClientStats.client_ref).where(IbClientStats.ib_id.is_not(None))))
    batched = snapshot(database, ids=per_client)
    if not per_client:
        per_event, batched = _without_ids(per_event), _without_ids(batched)
    return per_event, batched, taken, referred


def _commissions(rows: list[tuple]) -> dict[tuple[str, str], Decimal]:
    """Sum the snapshot's ib_commissions rows by (IB, type) (ids left out: key first)."""
    out: dict[tuple[str, str], Decimal] = {}
    for row in rows:
        values = [json.loads(v) for v in row]
        ib_id, kind, amount = values[1], values[3], Decimal(str(values[5]))
        out[(ib_id, kind)] = out.get((ib_id, kind), Decimal(0)) + amount
    return out


@pytest.mark.parametrize("shuffled", [False, True], ids=["in-order", "shuffled"])
def test_referred_clients_trades_go_set_based_and_leave_the_same_tables(urls, backend, tmp_path, shuffled):
    events = ib_history()
    if shuffled:
        events = shuffled_with_duplicates(events)
    rules = policy_rules(tmp_path)
    per_event, batched, taken, referred = _compare_ib(urls, backend, events, rules, per_client=False)
    paid = _commissions(per_event["ib_commissions"])
    # What the scenario is meant to exercise: per-trade commissions of both profiles,
    # overrides two levels up, and monthly caps that cut a commission part-way.
    assert {("C000001", "lot_rebate"), ("C000001", "spread_share"), ("C000051", "lot_rebate")} <= set(paid)
    assert ("C000001", "override") in paid  # of C000051's commissions
    assert any("per month" in row[10] for row in per_event["ib_commissions"]), "no monthly cap was reached"
    closed = [c for c, t in taken if t == "trade.closed" and c in referred]
    all_closed = sum(1 for e in events if e["type"] == "trade.closed" and e["client"] in referred)
    assert len(closed) > all_closed * 0.6, (len(closed), all_closed)
    _assert_same(per_event, batched)


def test_one_client_at_a_time_even_the_ids_are_the_same(urls, backend, tmp_path):
    """One client per transaction: commissions (and the overrides naming their base's id)
    get the ids the per-event path gives them."""
    per_event, batched, taken, referred = _compare_ib(
        urls, backend, ib_history(total=1200), policy_rules(tmp_path), per_client=True
    )
    assert any(c in referred and t == "trade.closed" for c, t in taken)
    assert per_event["ib_commissions"]
    _assert_same(per_event, batched)


# ---- two workers on one IB's monthly cap (PostgreSQL) -----------------------------------

CAP = Decimal("40")


def _event(ref: str, n: int, etype: str, at: datetime, data: dict) -> dict:
    return {
        "id": f"{ref}-{etype}-{n}",
        "type": etype,
        "source": "test",
        "occurred_at": iso(at),
        "client": ref,
        "data": data,
    }


def _cap_round(index: int) -> tuple[list[dict], list[dict], list[str]]:
    """An IB and two clients it referred (registered first), then 12 closed trades each in
    one month: 12 x 1 lot x 6.50 USD rebate per client, far over the IB's monthly cap."""
    ib, at = (
        f"R{index:03d}-IB",
        datetime(2027, 1 + index % 12, 2, 9, 0, tzinfo=UTC) + timedelta(days=400 * (index // 12)),
    )
    setup = [
        _event(
            ib,
            0,
            "client.registered",
            at,
            {"email": f"{ib.lower()}@example.com", "country": "DE", "client_type": "individual"},
        ),
        _event(ib, 1, "ib.registered", at + timedelta(minutes=1), {"ib_id": ib, "referral_code": f"CODE-{ib}"}),
    ]
    refs, trades = [f"R{index:03d}-A", f"R{index:03d}-B"], []
    for ref in refs:
        setup += [
            _event(
                ref,
                0,
                "client.registered",
                at + timedelta(minutes=2),
                {
                    "email": f"{ref.lower()}@example.com",
                    "country": "DE",
                    "client_type": "individual",
                    "referral_code": f"CODE-{ib}",
                },
            ),
            _event(
                ref,
                1,
                "account.created",
                at + timedelta(minutes=3),
                {
                    "account_id": f"{ref}-MT5",
                    "platform": "mt5",
                    "account_type": "standard",
                    "currency": "USD",
                    "leverage": 100,
                },
            ),
        ]
        for n in range(12):
            opened = at + timedelta(hours=1 + n)
            trades.append(
                _event(
                    ref,
                    10 + n,
                    "trade.closed",
                    opened + timedelta(minutes=30),
                    {
                        "account_id": f"{ref}-MT5",
                        "ticket": f"{ref}-{n}",
                        "symbol": "EURUSD",
                        "side": "buy",
                        "volume_lots": "1",
                        "open_time": iso(opened),
                        "close_time": iso(opened + timedelta(minutes=30)),
                        "profit": "1.00",
                        "currency": "USD",
                    },
                )
            )
    return setup, trades, refs


def _store(database, events: list[dict]) -> None:
    with unit_of_work(database) as session:
        record_many(session, [parse_line(json.dumps(e)) for e in events], via="file")


def _paid(database, ib: str) -> Decimal:
    with unit_of_work(database) as session:
        total = session.scalar(select(func.sum(IbCommission.amount)).where(IbCommission.ib_id == ib))
    return Decimal(total or 0)


@pytest.mark.parametrize("batch", [True, False], ids=["set-based", "per-event"])
def test_two_workers_never_exceed_the_monthly_cap_of_an_ib_they_share(tmp_path, request, batch):
    """Two threads, released together, process two clients of the same IB; its monthly cap
    is reached between them. The IB's commissions never exceed the cap and equal what one
    worker on the per-event path records (both paths lock the IB before summing its month)."""
    url = request.getfixturevalue("postgres_url")
    if url is None:
        pytest.skip("PostgreSQL is not reachable")
    # Without the onboarding rules: their KYC reminders (delay timers with `unless`, pending
    # for these clients who never send documents) keep a client's events per event.
    rules = policy_rules(tmp_path, standard_month=str(CAP), leave_out=("onboarding",))
    forget_databases()
    clock.freeze(NOW)
    per_event = get_database(make_config(url, batch=False))
    _truncate(per_event)
    activation.activate_dir(per_event, rules, actor="test")
    setup, trades, refs = _cap_round(0)
    _store(per_event, setup + trades)
    process_all_pending(per_event)
    expected = _paid(per_event, "R000-IB")
    assert expected == CAP  # one worker, per event: the cap, exactly

    forget_databases()
    database = get_database(make_config(url, batch=batch))
    _truncate(database)
    activation.activate_dir(database, rules, actor="test")
    for index in range(1, 9):
        setup, trades, refs = _cap_round(index)
        _store(database, setup)
        process_all_pending(database)
        _store(database, trades)
        start, errors = threading.Barrier(2), []

        def work(ref: str) -> None:
            try:
                start.wait()
                process_clients(database, [ref])
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        with counting_clients() as taken:
            threads = [threading.Thread(target=work, args=(ref,)) for ref in refs]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        assert not errors
        assert sum(1 for _, t in taken if t == "trade.closed") == (len(trades) if batch else 0)
        paid = _paid(database, f"R{index:03d}-IB")
        assert paid == expected, (index, paid)
