"""Real HTTP load for the pipeline benchmark: a WSGI server, signed webhooks, task watching, memory.

The server is gunicorn (one process, threads) running `web:create_app()`; deliveries are
signed the way bench/faults.py signs them (its payload builders are reused).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

from faults import STRIPE_SECRET, SUMSUB_SECRET, _stripe, _sumsub  # noqa: E402

import connectors  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_env(url: str, extra: dict | None = None) -> dict:
    """The environment of the server and workers for database `url`."""
    return {
        **os.environ,
        "FXCRM_DATABASE_URL": url,
        "FXCRM_SECRET_KEY": "bench",
        "FXCRM_STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
        "FXCRM_SUMSUB_SECRET_KEY": SUMSUB_SECRET,
        **(extra or {}),
    }


class Server:
    """gunicorn serving the app on a free port (one process, `threads` threads)."""

    def __init__(self, env: dict, threads: int = 8):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-b",
                f"127.0.0.1:{self.port}",
                "-w",
                "1",
                "-k",
                "gthread",
                "--threads",
                str(threads),
                "--log-level",
                "warning",
                "web:create_app()",
            ],
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if request(self.port, "GET", "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the server did not answer /healthz within 60 s")

    def app_pid(self) -> int:
        """The gunicorn worker process (the one that serves and, embedded, processes)."""
        return children(self.proc.pid)[0]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def request(
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, bytes]:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        if own:
            conn.close()


# ---- deliveries ---------------------------------------------------------------------


def delivery(env: dict) -> tuple[str, str, dict, bytes, list[str]]:
    """Return (kind, path, headers, body, canonical event keys) for one generated event."""
    if env["type"] in ("payment.deposit_completed", "payment.deposit_failed", "kyc.review_completed"):
        provider, headers, body = (_sumsub if env["type"].startswith("kyc") else _stripe)(env)
        payload = json.loads(body)
        keys = [f"{e['source']}/{e['id']}" for e in connectors.get(provider).normalize(payload).events]
        return "webhook", f"/webhooks/{provider}", {**headers, "Content-Type": "application/json"}, body, keys
    body = json.dumps(env).encode()
    return "api", "/api/events", {"Content-Type": "application/json"}, body, [f"{env['source']}/{env['id']}"]


def signed(kind_path: str, headers: dict, body: bytes, token: str) -> dict:
    """Add the signature (Stripe signs the send time) or the bearer token."""
    if kind_path == "/webhooks/stripe":
        t = int(time.time())
        sig = hmac.new(STRIPE_SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        return {**headers, "Stripe-Signature": f"t={t},v1={sig}"}
    if kind_path == "/api/events":
        return {**headers, "Authorization": f"Bearer {token}"}
    return headers


class Deliverer:
    """Threads that send single deliveries and record each response time and 2xx moment."""

    def __init__(self, port: int, token: str, items: list, threads: int, rate: float | None = None):
        self.port, self.token, self.items = port, token, items
        self.interval = 1.0 / rate if rate else 0.0  # seconds between sends, all threads together
        self.lock = threading.Lock()
        self.next = 0
        self.due = time.perf_counter()
        self.times: dict[str, list[float]] = {"webhook": [], "api": []}
        self.accepted_at: dict[str, float] = {}  # canonical event key -> perf_counter of the 2xx
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join()

    def _take(self):
        with self.lock:
            if self.next >= len(self.items):
                return None
            self.next += 1
            item, wait = self.items[self.next - 1], self.due - time.perf_counter()
            self.due = max(self.due, time.perf_counter()) + self.interval
        if wait > 0:
            time.sleep(wait)  # paced: a steady rate, not as fast as the server answers
        return item

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        while (item := self._take()) is not None:
            kind, path, headers, body, keys = item
            start = time.perf_counter()
            status, text = request(self.port, "POST", path, body, signed(path, headers, body, self.token), conn)
            done = time.perf_counter()
            if status >= 300:
                self.errors.append(f"{path}: {status} {text[:200]!r}")
                continue
            with self.lock:
                self.times[kind].append(done - start)
                for key in keys:
                    self.accepted_at[key] = done
        conn.close()


def post_batches(port: int, token: str, lines: list[str], size: int = 200) -> list[float]:
    """Post the bulk events to /api/events in batches (the broker's own systems); return times."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    times = []
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    for start in range(0, len(lines), size):
        body = ("[" + ",".join(lines[start : start + size]) + "]").encode()
        began = time.perf_counter()
        status, text = request(port, "POST", "/api/events", body, headers, conn)
        if status != 202:
            raise RuntimeError(f"batch at line {start + 1}: {status} {text[:300]!r}")
        times.append(time.perf_counter() - began)
    conn.close()
    return times


# ---- observing ----------------------------------------------------------------------


class TaskWatcher(threading.Thread):
    """Poll the tasks table and note when each task first becomes readable (committed)."""

    def __init__(self, engine, interval: float = 0.02):
        super().__init__(daemon=True)
        self.engine, self.interval = engine, interval
        self.seen: dict[str, float] = {}  # trigger_key -> perf_counter when first read
        self.stop = threading.Event()

    def run(self) -> None:
        from sqlalchemy import text

        last = 0
        with self.engine.connect() as conn:
            while not self.stop.wait(self.interval):
                rows = conn.execute(
                    text("SELECT id, trigger_key FROM tasks WHERE id > :last ORDER BY id"), {"last": last}
                ).all()
                conn.commit()  # end the read transaction so the next poll sees new commits
                now = time.perf_counter()
                for task_id, key in rows:
                    last = max(last, task_id)
                    if key:
                        self.seen.setdefault(key, now)


def children(pid: int) -> list[int]:
    """Return the direct children of `pid`."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children(current))
    return out


def pss_kb(pid: int) -> int:
    """Proportional set size of one process (shared pages split between sharers), 0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) of a process tree, with its reaped children's."""
    total = 0
    for pid in tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    return total / _TICK


class MemorySampler(threading.Thread):
    """Sample the memory (PSS) of each process tree (a worker with its work-horse and sweeper)."""

    def __init__(self, roots: list[int], interval: float = 0.25):
        super().__init__(daemon=True)
        self.roots, self.interval = roots, interval
        self.samples: list[tuple[float, list[int]]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        self.cpu_start = sum(cpu_seconds(r) for r in self.roots)
        while not self.stop.is_set():
            self.samples.append((time.perf_counter(), [sum(pss_kb(p) for p in tree(r)) for r in self.roots]))
            self.cpu_end = sum(cpu_seconds(r) for r in self.roots)
            self.stop.wait(self.interval)

    def summary(self, warm_fraction: float = 0.5) -> dict:
        """Peak; after warm-up (the median over the 10 % of the run after the first
        `warm_fraction`: caches, prepared statements and pools fill in the first tens of
        seconds); end (median of the last 10 %); growth % from after warm-up to the end."""
        if len(self.samples) < 10:
            return {"samples": len(self.samples)}
        totals = [(t, sum(v) / 1024) for t, v in self.samples]
        t0, t1 = totals[0][0], totals[-1][0]
        span = t1 - t0

        def window(lo: float, hi: float) -> float:
            vals = [v for t, v in totals if t0 + lo * span <= t <= t0 + hi * span]
            return statistics.median(vals) if vals else totals[-1][1]

        warm = window(warm_fraction, warm_fraction + 0.1)
        end = window(0.9, 1.0)
        peak = max(v for t, v in totals if t >= t0 + warm_fraction * span)
        return {
            "processes": len(self.roots),
            "samples": len(totals),
            "unit": "MB PSS, all processes",
            "seconds": round(span, 1),
            "warm_up_fraction": warm_fraction,
            "peak_mb": round(max(v for _t, v in totals), 1),
            "after_warm_up_mb": round(warm, 1),
            "peak_after_warm_up_mb": round(peak, 1),
            "end_mb": round(end, 1),
            "growth_pct": round((end - warm) / warm * 100, 1),
            "peak_growth_pct": round((peak - warm) / warm * 100, 1),
        }


def percentiles(values: list[float]) -> dict:
    """p50/p99/max in milliseconds and the sample count."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)

    return {"n": len(ordered), "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": round(ordered[-1] * 1000, 1)}
