"""History benchmark: the cost of one event must not grow with the client's history.

Run: .venv/bin/python bench/bench_history.py [--history 10000] [--trades 100] [--backend sqlite|postgres]

A referred, KYC-approved client with a deposit is given `--history` closed trades (processed
through the real pipeline with the shipped rules active, so the IB projections and the CPA
rule's `client.trades.lots(...)` see them). Then the same run times processing `--trades`
more trades of that client against `--trades` trades of a new client with no history, and
prints both rates and their ratio (old client's time / new client's time; target under 2).
Record the figures in docs/performance.md ("History").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pipeline_setup import drop_database, fresh_database, history_start  # noqa: E402

from engine.db import Database  # noqa: E402
from engine.processing.ingest import ingest_lines  # noqa: E402
from engine.values import iso  # noqa: E402


def _event(n: int, type_: str, client: str, at, **data) -> str:
    return json.dumps(
        {"id": f"h-{n}", "type": type_, "client": client, "occurred_at": iso(at), "source": "bench", "data": data}
    )


class Events:
    """Numbered events for the benchmark's clients, starting tomorrow (no timer falls due)."""

    def __init__(self):
        self.n, self.start = 0, history_start()

    def next(self, type_: str, client: str, minutes: float, **data) -> str:
        self.n += 1
        return _event(self.n, type_, client, self.start + timedelta(minutes=minutes), **data)

    def onboard(self, client: str, code: str) -> list[str]:
        return [
            self.next(
                "client.registered",
                client,
                0,
                email=f"{client.lower()}@example.com",
                country="DE",
                client_type="individual",
                referral_code=code,
            ),
            self.next("kyc.review_completed", client, 1, provider="sumsub", result="approved"),
            self.next(
                "payment.deposit_completed",
                client,
                2,
                payment_id=f"dep-{client}",
                amount="50.00",
                currency="USD",
                method="card",
                provider="stripe",
            ),
        ]

    def trades(self, client: str, count: int, from_minute: float) -> list[str]:
        out = []
        for i in range(count):
            close = self.start + timedelta(minutes=from_minute + i / 10)
            out.append(
                self.next(
                    "trade.closed",
                    client,
                    from_minute + i / 10,
                    account_id=f"A-{client}",
                    ticket=f"{client}-{i}-{self.n}",
                    symbol="EURUSD",
                    side="buy",
                    volume_lots="0.01",
                    open_time=iso(close - timedelta(minutes=10)),
                    close_time=iso(close),
                    profit="1.00",
                )
            )
        return out


def _timed(database: Database, lines: list[str]) -> float:
    started = time.perf_counter()
    report = ingest_lines(database, lines)
    elapsed = time.perf_counter() - started
    assert report.ok, report.rejected[:3]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--trades", type=int, default=100)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    url, config = fresh_database(args.backend)
    database = Database(config)
    try:
        ev = Events()
        ingest_lines(
            database,
            [
                ev.next(
                    "client.registered", "IB-OWNER", 0, email="ib@example.com", country="DE", client_type="individual"
                ),
                ev.next("ib.registered", "IB-OWNER", 1, ib_id="IB-H", referral_code="H"),
            ],
        )
        setup = ev.onboard("OLD", "H") + ev.trades("OLD", args.history, 10) + ev.onboard("NEW", "H")
        started = time.perf_counter()
        _timed(database, setup)
        setup_s = time.perf_counter() - started
        later = 10 + args.history / 10 + 60
        # Alternate the two measurements so drift (cache warm-up, load) hits both alike.
        old_s = new_s = 0.0
        for part in range(4):
            n = args.trades // 4
            old_s += _timed(database, ev.trades("OLD", n, later + part * 100))
            new_s += _timed(database, ev.trades("NEW", n, later + part * 100 + 50))
        print(
            json.dumps(
                {
                    "benchmark": "history",
                    "backend": args.backend,
                    "history_trades": args.history,
                    "measured_trades": args.trades,
                    "setup_s": round(setup_s, 1),
                    "old_client_ms_per_event": round(1000 * old_s / args.trades, 2),
                    "new_client_ms_per_event": round(1000 * new_s / args.trades, 2),
                    "ratio": round(old_s / new_s, 2),
                }
            ),
            flush=True,
        )
    finally:
        database.dispose()
        drop_database(url)


if __name__ == "__main__":
    main()
