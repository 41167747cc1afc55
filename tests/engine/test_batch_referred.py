"""Referred clients with the shipped IB rules (rules/ib/cpa.yaml, rebates.yaml) through the
set-based path (issue 20, step 8): the rules' `commission` (engine.ib.commission_batch)
and the CPA facts (engine.ib.batch_facts) decided for a group, the same tables as per event.

An IB chain IB-LEAF -> IB-MID -> IB-MASTER (master profile: overrides two levels up);
clients qualifying for the CPA across trades, a scalper, a chargeback before qualifying,
and two clients of one IB whose caps are reached inside one round.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from engine.db import unit_of_work
from engine.events.store import parse_line, record_many
from engine.processing import process_all_pending, process_clients
from engine.values import clock, iso
from tests.engine.test_batch_equivalence import (  # noqa: F401  (fixtures)
    NOW,
    START,
    _assert_same,
    _one_transaction_per_group,
    run,
    shuffled_with_duplicates,
    snapshot,
    urls,
)
from tests.engine.test_batch_ib import _without_ids, counting_clients


def _event(ref: str, n: int, etype: str, at: datetime, data: dict) -> dict:
    return {"id": f"{ref}-{n}", "type": etype, "source": "test", "occurred_at": iso(at), "client": ref, "data": data}


def _registered(ref: str, at: datetime, code: str | None = None) -> dict:
    data = {"email": f"{ref.lower()}@example.com", "country": "DE", "client_type": "individual"}
    return _event(ref, 0, "client.registered", at, {**data, **({"referral_code": code} if code else {})})


def _ibs(at: datetime, chain=(("IB-MASTER", None), ("IB-MID", "IB-MASTER"), ("IB-LEAF", "IB-MID"))) -> list[dict]:
    out = []
    for n, (ib, parent) in enumerate(chain):
        data = {"ib_id": ib, "referral_code": f"CODE-{ib}", **({"parent_ib": parent} if parent else {})}
        out += [
            _registered(ib, at + timedelta(minutes=n)),
            _event(ib, 1, "ib.registered", at + timedelta(minutes=n, seconds=30), data),
        ]
    return out


def _client(
    ref: str,
    ib: str,
    at: datetime,
    *,
    deposit: str = "250.00",
    charged_back: bool = False,
    kyc: bool = True,
    trades: tuple[tuple[str, int], ...] = (("1.5", 3600), ("0.5", 3600), ("4", 3600)),
    symbol: str = "EURUSD",
) -> list[dict]:
    """A client referred by `ib`'s code: an account, a deposit (charged back), KYC, then
    closed trades (lots, seconds held) an hour apart. (Amounts with their cents: one
    written in a round and read back by a later one, or by the per-event path after the
    round, has the 8 stored decimals, shown as `250.00`, where the per-event path shows the
    `250` it was given: engine.currencies.amount_text.)"""
    account = f"{ref}-MT5"
    out = [
        _registered(ref, at, f"CODE-{ib}"),
        _event(
            ref,
            1,
            "account.created",
            at + timedelta(minutes=1),
            {"account_id": account, "platform": "mt5", "account_type": "standard", "currency": "USD", "leverage": 100},
        ),
        _event(
            ref,
            2,
            "payment.deposit_completed",
            at + timedelta(minutes=10),
            {"payment_id": f"{ref}-P1", "amount": deposit, "currency": "USD", "method": "card", "provider": "stripe"},
        ),
    ]
    if charged_back:
        out.append(
            _event(
                ref,
                3,
                "payment.deposit_charged_back",
                at + timedelta(minutes=20),
                {
                    "payment_id": f"{ref}-P1",
                    "amount": deposit,
                    "currency": "USD",
                    "method": "card",
                    "provider": "stripe",
                    "reason_code": "fraudulent",
                },
            )
        )
    if kyc:
        out.append(
            _event(
                ref, 4, "kyc.review_completed", at + timedelta(minutes=30), {"provider": "sumsub", "result": "approved"}
            )
        )
    for n, (lots, held) in enumerate(trades):
        closed = at + timedelta(hours=2 + n)
        out.append(
            _event(
                ref,
                10 + n,
                "trade.closed",
                closed,
                {
                    "account_id": account,
                    "ticket": f"{ref}-{n}",
                    "symbol": symbol,
                    "side": "buy",
                    "volume_lots": lots,
                    "open_time": iso(closed - timedelta(seconds=held)),
                    "close_time": iso(closed),
                    "profit": "1.00",
                    "currency": "USD",
                },
            )
        )
    return out


def referred_stream() -> list[dict]:
    at = START + timedelta(hours=1)
    return [
        *_client("Q-LEAF", "IB-LEAF", at),  # qualifies at its second trade: one CPA, overrides
        *_client("Q-MID", "IB-MID", at + timedelta(minutes=5), trades=(("1", 3600),) * 4),
        *_client("SCALPER", "IB-LEAF", at, deposit="500.00", trades=(("5", 20),) * 3),  # held 20s: nothing
        *_client("CHARGED", "IB-MID", at, deposit="300.00", charged_back=True, trades=(("3", 600),) * 2),  # no CPA
        *_client("NO-KYC", "IB-LEAF", at, kyc=False, trades=(("2", 600), ("1", 600), ("0.35", 600))),
    ]


def _run(url: str, backend: str, events: list[dict], *, batch: bool, per_client: bool, rules: str):
    """The IBs registered first (`_ibs`), then `events`. (An IB registering a code its
    clients wait for in the same group: tests/engine/test_batch_pending_code.py.)"""
    database = run(url, backend, _ibs(START), batch=batch, per_client=per_client, rules=rules)
    with unit_of_work(database) as session:
        record_many(session, [parse_line(json.dumps(e)) for e in events], via="file")
    if per_client:
        for ref in sorted({e["client"] for e in events}):
            process_clients(database, [ref])
    else:
        process_all_pending(database)
    return database


def _compare(urls, backend, events, rules: str = "rules", *, per_client: bool = False):
    clock.freeze(NOW)
    per_event = snapshot(
        _run(urls[0], backend, events, batch=False, per_client=per_client, rules=rules), ids=per_client
    )
    with counting_clients() as taken:
        batched = snapshot(
            _run(urls[1], backend, events, batch=True, per_client=per_client, rules=rules), ids=per_client
        )
    if not per_client:
        per_event, batched = _without_ids(per_event), _without_ids(batched)
    return per_event, batched, taken


def _paid(tables: dict) -> list[tuple[str, str, str]]:
    return sorted((json.loads(r[1]), json.loads(r[3]), str(json.loads(r[5]))) for r in tables["ib_commissions"])


@pytest.mark.parametrize("shuffled", [False, True], ids=["in-order", "shuffled"])
def test_referred_clients_earn_the_same_commissions_set_based(urls, backend, shuffled):
    events = referred_stream()
    if shuffled:
        events = shuffled_with_duplicates(events)
    per_event, batched, taken = _compare(urls, backend, events)
    paid = _paid(per_event)
    kinds = {kind for _, kind, _ in paid}
    assert {"cpa", "lot_rebate", "override"} <= kinds, paid
    assert sum(1 for ib, kind, _ in paid if kind == "cpa") == 2  # Q-LEAF and Q-MID only
    # Most of the referred clients' closed trades went through the set-based path (a
    # trade making the client qualify makes two commissions: per event).
    trades = [c for c, t in taken if t == "trade.closed"]
    assert len(trades) >= 10, taken
    _assert_same(per_event, batched)


def test_one_client_at_a_time_the_ids_are_the_same(urls, backend):
    per_event, batched, taken = _compare(urls, backend, referred_stream(), per_client=True)
    assert any(t == "trade.closed" for _, t in taken)
    _assert_same(per_event, batched)


def _capped_rules(tmp_path: Path, per_month: str) -> str:
    rules = tmp_path / "rules"
    shutil.copytree("rules", rules)
    profiles = rules / "policy" / "ib" / "profiles.yaml"
    text = profiles.read_text()
    assert 'per_month: "25000"' in text
    profiles.write_text(text.replace('per_month: "25000"', f'per_month: "{per_month}"'))
    return str(rules)


def _two_clients_of_one_ib() -> list[dict]:
    """Two clients of IB-LEAF, each closing three 100-lot trades (650 USD rebate each)."""
    at, big = START + timedelta(hours=1), (("100", 3600),) * 3
    return _client("CAP-A", "IB-LEAF", at, trades=big) + _client("CAP-B", "IB-LEAF", at, trades=big)


def test_per_client_caps_reached_inside_one_round_by_two_clients_of_one_ib(urls, backend):
    """The per-client cap (1000 USD, the CPA counted) cuts each client's second rebate and
    stops its third, in the round both clients' trades go through."""
    per_event, batched, taken = _compare(urls, backend, _two_clients_of_one_ib())
    notes = [r[10] for r in per_event["ib_commissions"]]
    assert sum(1 for n in notes if "per client" in n) == 2 and not any("per month" in n for n in notes)
    assert sum(1 for _, t in taken if t == "trade.closed") >= 4, taken  # all but the qualifying trades
    _assert_same(per_event, batched)


@pytest.mark.xfail(strict=True, reason="the group runner orders clients' per-event fallbacks across rounds")
def test_a_monthly_cap_shared_by_two_clients_of_one_ib(urls, backend, tmp_path):
    """The IB's monthly cap (1500 USD) reached by the second client. Not the same tables, on
    main too: per event CAP-A's events all come before CAP-B's; in a group, CAP-A's trade
    that qualifies its CPA is refused and done per event after the round, its later trades
    in the next round, after CAP-B's trade that reached the cap was decided (per event too:
    the commission form refuses a commission a monthly cap cuts). A runner matter."""
    per_event, batched, taken = _compare(urls, backend, _two_clients_of_one_ib(), _capped_rules(tmp_path, "1500"))
    assert any("per month" in r[10] for r in per_event["ib_commissions"])
    _assert_same(per_event, batched)


def test_a_monthly_cap_shared_by_two_clients_holds_on_both_paths(urls, backend, tmp_path):
    """Which of the two clients the capped remainder goes to follows the order the runner
    applies them in (the xfail above); what the cap guards holds on both paths: the IB earns
    the same, never more than its monthly cap."""
    per_event, batched, _ = _compare(urls, backend, _two_clients_of_one_ib(), _capped_rules(tmp_path, "1500"))

    def earned(tables: dict) -> Decimal:
        return sum((Decimal(amount) for ib, _, amount in _paid(tables) if ib == "IB-LEAF"), Decimal(0))

    assert earned(per_event) == earned(batched) == Decimal("1500")


def test_a_clients_many_trades_in_one_round_are_each_judged_once(urls, backend, monkeypatch):
    """`trades.lots(...)`, read by the CPA rule for each closed trade, adds the round's new
    trades of the client that count: each is judged once per policy, not again at each
    later trade of the round (40 trades: 820 judgements before, 40 now)."""
    from engine.ib import batch_facts

    events = _client("BUSY", "IB-LEAF", START + timedelta(hours=1), kyc=False, trades=(("0.01", 600),) * 40)
    clock.freeze(NOW)
    per_event = snapshot(_run(urls[0], backend, events, batch=False, per_client=False, rules="rules"), ids=False)
    judged: list[str] = []
    counts = batch_facts._counts
    monkeypatch.setattr(
        batch_facts, "_counts", lambda policy, trade, at: judged.append(trade.ticket) or counts(policy, trade, at)
    )
    with counting_clients() as taken:
        batched = snapshot(_run(urls[1], backend, events, batch=True, per_client=False, rules="rules"), ids=False)
    _assert_same(_without_ids(per_event), _without_ids(batched))
    assert sum(1 for _c, t in taken if t == "trade.closed") == 40
    assert sorted(judged) == sorted(f"BUSY-{n}" for n in range(40))
