"""A soak of the scheduler service: a steady request rate for minutes, the server's memory sampled. Prints a table.

Run: ``python benchmarks/soak_service.py [--seconds 600] [--rate 500] [--store sqlite|postgresql] [--workers 2]``.

Two workers by default: on a 2-core machine one process holds about 400 requests/s of this mix, not 500.

The service runs as ``greenci serve`` in a subprocess (the same setup as ``bench_service.py``: SYNTHETIC
intensity files in a temporary folder, one token per connection). The load is open-loop: request ``k`` is
due at ``k / rate`` seconds, sent by the first of ``--connections`` keep-alive connections that is free (when
the service falls behind, requests go out as fast as it answers and the achieved rate drops below the
target). The mix, by request:

* 40 % ``POST /v1/jobs``: a new, distinct job (submitted on 2022-10-12, inside the data);
* 10 % ``POST /v1/jobs/{id}/started`` and 10 % ``POST /v1/jobs/{id}/completed`` (runtime 20 min): jobs
  of this soak moved through their lifecycle, so the run history the service keeps in memory grows;
* 25 % ``GET /v1/jobs/{id}``, 10 % ``GET /v1/jobs?limit=20``, 5 % ``GET /v1/forecast``.

Every ``--sample`` seconds (10) it records the window's requests, achieved rate, errors (no answer, or a
status >= 400), p50 and p99 latency (client side), and the resident memory (RSS) of the server process
and its children (psutil). At the end: the table, the RSS growth (first sample to last, and its slope over
the second half), the errors by kind, the rows stored, and the time of one ``GET /v1/stats`` over them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter, deque
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_service import (  # noqa: E402 - the bench's server and client
    DATA_LABEL,
    DAY,
    Connection,
    Server,
    create_tokens,
    job_body,
    postgres,
    serving,
    stored_jobs,
    write_intensity,
)

MIX = (("submit", 0.40), ("started", 0.10), ("completed", 0.10), ("get", 0.25), ("list", 0.10), ("forecast", 0.05))


@dataclass
class Window:
    start: float
    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    requests: int = 0


@dataclass
class Sample:
    t: float
    requests: int
    rate: float
    errors: int
    p50_ms: float
    p99_ms: float
    rss_mb: float


def rss_mb(server: Server) -> float:
    total = 0
    for p in server.processes():
        try:
            total += p.memory_info().rss
        except Exception:  # noqa: BLE001 - a worker that just exited
            pass
    return total / 2**20


class Soak:
    """The load: an open-loop schedule over keep-alive connections, a lifecycle for the jobs it creates."""

    def __init__(self, server: Server, tokens: list[str], rate: float, seconds: float, sample_s: float,
                 console: Console, seed: int = 11) -> None:
        self.server, self.tokens, self.rate, self.seconds, self.sample_s = server, tokens, rate, seconds, sample_s
        self.console = console
        rng = np.random.default_rng(seed)
        names, weights = zip(*MIX, strict=True)
        self.ops = rng.choice(np.array(names), size=1_000_003, p=np.array(weights) / sum(weights))
        self.scheduled: deque[tuple[str, int]] = deque(maxlen=50_000)  # (job id, submitted_s)
        self.running: deque[tuple[str, int]] = deque(maxlen=50_000)
        self.starting: dict[str, tuple[str, int]] = {}  # started sent, not answered yet
        self.known: deque[str] = deque(maxlen=5_000)
        self.samples: list[Sample] = []
        self.errors: Counter = Counter()
        self.total = 0
        self.unsent = 0  # requests due before the end that the connections never got to (the service behind)
        self.window = Window(time.perf_counter())

    def request_for(self, k: int) -> tuple[str, str, bytes | None, dict[str, str]]:
        op = str(self.ops[k % self.ops.size])
        if op == "started" and self.scheduled:
            job_id, submitted = self.scheduled.popleft()
            self.starting[f"/v1/jobs/{job_id}/started"] = (job_id, submitted)  # running once it is answered
            at = np.datetime64(submitted + 60, "s")
            return "POST", f"/v1/jobs/{job_id}/started", json.dumps({"at": f"{at}Z"}).encode(), {}
        if op == "completed" and self.running:
            job_id, submitted = self.running.popleft()
            at = np.datetime64(submitted + 60 + 1200, "s")
            body = {"at": f"{at}Z", "runtime_s": 1200.0}
            return "POST", f"/v1/jobs/{job_id}/completed", json.dumps(body).encode(), {}
        if op == "get" and self.known:
            return "GET", f"/v1/jobs/{self.known[-1 - k % len(self.known)]}", None, {}
        if op == "list":
            return "GET", "/v1/jobs?limit=20", None, {}
        if op == "forecast":
            at = DAY + np.timedelta64((k * 977) % 86400, "s")
            return "GET", f"/v1/forecast?region={'GB' if k % 2 else 'DE-LU'}&at={at}Z&hours=24", None, {}
        return "POST", "/v1/jobs", job_body(k, "soak"), {"Idempotency-Key": f"soak-{k}"}

    def close_window(self, now: float, t0: float) -> None:
        w = self.window
        lat = np.array(w.latencies) if w.latencies else np.array([np.nan])
        self.samples.append(Sample(now - t0, w.requests, w.requests / max(now - w.start, 1e-9), sum(w.errors.values()),
                                   float(np.nanpercentile(lat, 50)) * 1e3, float(np.nanpercentile(lat, 99)) * 1e3,
                                   rss_mb(self.server)))
        s = self.samples[-1]
        self.console.print(f"[dim]{s.t:6.0f} s  {s.requests:7,} requests  {s.rate:6.0f}/s  {s.errors:5,} errors  "
                           f"p99 {s.p99_ms:7.1f} ms  RSS {s.rss_mb:7.1f} MB[/dim]")
        self.window = Window(now)

    async def run(self) -> None:
        counter = iter(range(10**12))
        t0 = time.perf_counter()
        end = t0 + self.seconds
        self.window = Window(t0)
        self.samples.append(Sample(0.0, 0, 0.0, 0, float("nan"), float("nan"), rss_mb(self.server)))

        async def connection(token: str) -> None:
            conn = Connection(self.server.port)
            try:
                while True:
                    k = next(counter)
                    due = t0 + k / self.rate
                    if due >= end or time.perf_counter() >= end:  # a backlog is not sent after the end
                        return
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    method, path, body, headers = self.request_for(k)
                    sent = time.perf_counter()
                    try:
                        status, data = await conn.request(method, path, token, body, headers)
                    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                        self.starting.pop(path, None)
                        self._count(f"{method} {_route(path)}: {type(exc).__name__}", None)
                        await asyncio.sleep(0.01)
                        continue
                    self._count(f"{method} {_route(path)}: {status}" if status >= 400 else None,
                                time.perf_counter() - sent)
                    started = self.starting.pop(path, None)
                    if started is not None and status == 200:
                        self.running.append(started)
                    if method == "POST" and path == "/v1/jobs" and status in (200, 201):
                        doc = json.loads(data)
                        self.known.append(doc["id"])
                        self.scheduled.append((doc["id"], int(np.datetime64(doc["request"]["submitted_at"]
                                                                            .rstrip("Z"), "s").astype(np.int64))))
            finally:
                conn.close()

        async def sampler() -> None:
            next_at = t0 + self.sample_s
            while next_at <= end + 1e-6:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                self.close_window(time.perf_counter(), t0)
                next_at += self.sample_s

        await asyncio.gather(sampler(), *(connection(t) for t in self.tokens))
        self.unsent = max(0, int(self.seconds * self.rate) - self.total)

    def _count(self, error: str | None, latency: float | None) -> None:
        self.total += 1
        self.window.requests += 1
        if error is not None:
            self.errors[error] += 1
            self.window.errors[error] += 1
        elif latency is not None:
            self.window.latencies.append(latency)


def _route(path: str) -> str:
    parts = path.split("?")[0].split("/")
    return "/".join("{id}" if len(p) == 36 and p.count("-") == 4 else p for p in parts)


def _ms(v: float) -> str:
    return "-" if np.isnan(v) else f"{v:.1f} ms"


def stats_ms(port: int, token: str) -> tuple[float, int]:
    import httpx

    t = time.perf_counter()
    got = httpx.get(f"http://127.0.0.1:{port}/v1/stats", headers={"Authorization": f"Bearer {token}"}, timeout=300,
                    trust_env=False)
    return (time.perf_counter() - t) * 1e3, got.status_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="soak length (default 600 s)")
    parser.add_argument("--rate", type=float, default=500.0, help="target requests/s (default 500)")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples (default 10)")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections (default 64)")
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=2, help="greenci serve --workers (default 2)")
    args = parser.parse_args()
    console = Console(width=130)
    with ExitStack() as stack:
        db = postgres(stack) if args.store == "postgresql" else None
        intensity = write_intensity(Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="greenci-soak-i-"))))
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="greenci-soak-")))
        tokens = create_tokens(data_dir, db, args.connections)
        server = stack.enter_context(serving(data_dir, intensity, db=db, workers=args.workers))
        console.print(f"[dim]soak: {args.seconds:g} s at {args.rate:g} requests/s, {args.connections} connections, "
                      f"{args.store}, {args.workers} worker(s), server pid {server.process.pid}[/dim]")
        soak = Soak(server, tokens, args.rate, args.seconds, args.sample, console)
        asyncio.run(soak.run())
        stats_time, stats_status = stats_ms(server.port, tokens[0])
        rows = stored_jobs(data_dir, db)

    samples = soak.samples
    table = Table(title=f"Soak: {args.seconds:g} s at {args.rate:g} requests/s (40% submit, 20% started/completed, "
                        f"40% reads), {args.store}, {args.workers} worker(s); {DATA_LABEL}")
    for col in ("time", "requests", "req/s", "errors", "p50", "p99", "RSS", "RSS vs start"):
        table.add_column(col, justify="right")
    for s in samples:
        table.add_row(f"{s.t:.0f} s", f"{s.requests:,}", f"{s.rate:,.0f}", f"{s.errors:,}", _ms(s.p50_ms),
                      _ms(s.p99_ms), f"{s.rss_mb:.1f} MB", f"{s.rss_mb - samples[0].rss_mb:+.1f} MB")
    console.print(table)
    achieved = sum(s.requests for s in samples) / max(samples[-1].t, 1e-9)
    kinds = ", ".join(f"{n} x {e}" for e, n in soak.errors.most_common())
    behind = f"; {soak.unsent:,} due were never sent: the service was behind" if soak.unsent else ""
    console.print(f"requests: {soak.total:,} answered ({achieved:,.0f}/s achieved of {args.rate:g}/s{behind}); errors: "
                  f"{sum(soak.errors.values()):,}" + (f" ({kinds})" if kinds else ""))
    later = [s for s in samples if s.t >= samples[-1].t / 2]
    slope = float(np.polyfit([s.t for s in later], [s.rss_mb for s in later], 1)[0]) * 60 if len(later) >= 2 else 0.0
    console.print(f"RSS: {samples[0].rss_mb:.1f} MB at start (after start-up), {samples[-1].rss_mb:.1f} MB at the end "
                  f"({samples[-1].rss_mb - samples[0].rss_mb:+.1f} MB); over the second half {slope:+.2f} MB/min")
    console.print(f"stored jobs: {rows:,}; one GET /v1/stats over them: {stats_time:,.0f} ms (status {stats_status})")


if __name__ == "__main__":
    main()
