"""Durable decisions under load: ``greenci serve``, 64 concurrent clients posting jobs. Prints a table; asserts nothing.

Run: ``python benchmarks/bench_service.py [--seconds 60] [--clients 64] [--cases sqlite-1,postgresql-1,postgresql-2]
[--repeat 1]``.

Each case starts the service as a subprocess (``greenci serve`` on a free loopback port, the default ridge
forecast) over SYNTHETIC intensity files written to a temporary folder (two zones, DE-LU and GB, an hourly
daily sine from 2022-08-01 to 2022-10-20, labelled synthetic in every row), creates API tokens for a tenant
(one per client: a token's rate limit is 100 requests/s), and runs the clients for ``--seconds`` after a
warm-up (every hourly issue slot the jobs use is decided once first, so the measured window holds no
forecast fit). Every client posts distinct jobs (``POST /v1/jobs``: its own repo, workflow and job name,
a new Idempotency-Key per job), one at a time, back to back, on one keep-alive connection. As a live
service sees them, the jobs are submitted *now*: ``submitted_at`` is 2022-10-12 10:00 UTC (inside the
data) plus the seconds elapsed since the measurement began.

A *durable decision* is a ``201 Created``: the service answers it after the job and its decision are
committed to the store (SQLite in WAL mode, ``synchronous=FULL``; PostgreSQL: a commit). After each case
the stored rows of the tenant are counted and shown beside the 201s. Latency is measured by the client,
from the first byte sent to the last byte read. The clients are a lean asyncio HTTP/1.1 client in this
process (so that the load generator takes as little of the machine's CPU as it can); the CPU seconds of
the client and of the server processes are shown, since they share the cores.

Two loads per case, each on a fresh service: *back to back* (each client sends its next request when it
has the answer: the most the service can do; by Little's law p50 is then about clients / rate, so this
run shows throughput, not latency) and *paced* (``--rate``, default 1,000 requests/s offered by the 64
clients together on a fixed timetable; a latency counts from when its request was due, so queueing
shows). Cases: SQLite with 1 worker (the baseline of the ratios) and 2 workers (``--workers`` processes
sharing the file); PostgreSQL with 1 and 2 workers, on a throwaway server started with
``tests/pgserver.py``, which runs with ``fsync=off`` and ``synchronous_commit=off`` (a test server: its
commits are not flushed to disk, so its figures are an upper bound of what a durable PostgreSQL gives).
A case that cannot start (no PostgreSQL binaries, ...) is skipped with the reason printed.

Target: >= 1,000 durable decisions/s with p99 < 25 ms on SQLite, on this 2-core machine: a paced run at
1,000/s whose every request is a 201, at >= 99 % of the offered rate, with p99 under 25 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
REGIONS = ("DE-LU", "GB")
DAY = np.datetime64("2022-10-12T00:00:00", "s")  # submitted_at of the jobs: this day, inside the data
DAY_S = int(DAY.astype(np.int64))
LIVE_FROM_S = 10 * 3600  # the measured jobs are submitted at DAY 10:00 plus the seconds elapsed (as if live)
EVENTS = ("push", "pull_request", "schedule", "workflow_dispatch")
DURATIONS = ("5m", "20m", "1h")
DEADLINES = (None, "3h", "8h")
TARGET_RATE, TARGET_P99_MS = 1000.0, 25.0
HEADER = ("Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
          "Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage,Renewable Percentage,Data Source,"
          "Data Estimated,Data Estimation Method")
DATA_LABEL = ("SYNTHETIC intensity: 2 zones (DE-LU, GB), hourly daily sine 2022-08-01..2022-10-20, "
              "written to a temporary folder")


# --------------------------------------------------------------------------- the service under test
def write_intensity(folder: Path) -> Path:
    """SYNTHETIC Electricity Maps yearly exports for REGIONS (as tests/test_service.py writes them)."""
    t = np.arange(np.datetime64("2022-08-01T00:00"), np.datetime64("2022-10-20T00:00"), np.timedelta64(1, "h"))
    for zone, phase in zip(REGIONS, (0.0, 0.4), strict=True):
        v = 300 + 150 * np.sin(2 * math.pi * (np.arange(t.size) / 24 + phase))
        rows = [f"{str(ts).replace('T', ' ')}:00,S,S,{zone},{x:.1f},{x:.1f},50,40,synthetic,false,"
                for ts, x in zip(t, v, strict=True)]
        (folder / zone).mkdir(parents=True, exist_ok=True)
        (folder / zone / f"{zone}_2022_hourly.csv").write_text(HEADER + "\n" + "\n".join(rows) + "\n",
                                                              encoding="utf-8")
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_tokens(data_dir: Path, db: str | None, n: int, tenant: str = "bench") -> list[str]:
    """``n`` tokens of ``tenant`` (submit, read), made through the store as ``greenci token create`` does."""
    from greenci.service.auth import create_token
    from greenci.service.settings import ServiceSettings
    from greenci.service.store import JobStore

    store = JobStore(ServiceSettings(data_dir=data_dir, database_url=db).url)
    try:
        return [create_token(store, tenant, ("submit", "read"), label=f"bench client {k}") for k in range(n)]
    finally:
        store.close()


def stored_jobs(data_dir: Path, db: str | None, tenant: str = "bench") -> int:
    """Jobs of ``tenant`` in the store, less the warm-up's."""
    import sqlalchemy as sa

    from greenci.service.settings import ServiceSettings
    from greenci.service.store import JobStore, jobs

    store = JobStore(ServiceSettings(data_dir=data_dir, database_url=db).url)
    try:
        with store.engine.connect() as c:
            q = sa.select(sa.func.count()).select_from(jobs).where(jobs.c.tenant == tenant, jobs.c.workflow != "warm")
            return int(c.execute(q).scalar_one())
    finally:
        store.close()


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    def processes(self) -> list:  # the server and its worker processes (psutil.Process)
        import psutil

        try:
            main = psutil.Process(self.process.pid)
            return [main, *main.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_s(self) -> float:
        total = 0.0
        for p in self.processes():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except Exception:  # noqa: BLE001 - a worker that just exited
                pass
        return total


@contextmanager
def serving(data_dir: Path, intensity: Path, *, db: str | None = None, workers: int = 1,
            extra: tuple[str, ...] = ()) -> Iterator[Server]:
    """``greenci serve`` as a subprocess (its own process group) until it answers /healthz; stopped on exit."""
    import httpx

    port = free_port()
    log = data_dir / "server.log"
    argv = [sys.executable, "-c", "from greenci.cli import main; main()", "serve", "--data-dir", str(data_dir),
            "--intensity", str(intensity), "--regions", ",".join(REGIONS), "--port", str(port),
            "--workers", str(workers), *extra]
    if db:
        argv += ["--db", db]
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                   start_new_session=True)
    server = Server(process, port, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"greenci serve exited ({process.returncode}):\n{_tail(log)}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"greenci serve did not answer /healthz within 120 s:\n{_tail(log)}")
            time.sleep(0.2)
        yield server
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """SIGINT to the server's own process group (uvicorn shuts down cleanly), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    except ProcessLookupError:
        pass


def _tail(path: Path, n: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


# --------------------------------------------------------------------------- a lean HTTP/1.1 client
class Connection:
    """One keep-alive connection; ``request`` sends one request and reads its whole response.

    An ``asyncio.Protocol`` that parses responses as they arrive, rather than stream readers and writers:
    the clients share the machine's two cores with the service, and the streams' machinery cost about as
    much CPU per request as the rest of the client.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self._transport: asyncio.Transport | None = None
        self._reader: _Responses | None = None
        self._heads: dict[str, bytes] = {}  # token -> the request head's fixed lines

    async def request(self, method: str, path: str, token: str, body: bytes | None = None,
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        if self._transport is None or self._reader is None or self._reader.lost:
            loop = asyncio.get_running_loop()
            self._transport, self._reader = await loop.create_connection(_Responses, "127.0.0.1", self.port)
        fixed = self._heads.get(token)
        if fixed is None:
            fixed = self._heads[token] = f"Host: 127.0.0.1:{self.port}\r\nAuthorization: Bearer {token}\r\n".encode()
        lines = [f"{k}: {v}\r\n" for k, v in (headers or {}).items()]
        if body is not None:
            lines.append(f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n")
        answer = self._reader.expect()
        self._transport.write(f"{method} {path} HTTP/1.1\r\n".encode() + fixed + "".join(lines).encode("latin-1")
                              + b"\r\n" + (body or b""))
        try:
            status, data, close = await answer
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return status, data

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self._transport = self._reader = None


class _Responses(asyncio.Protocol):
    """HTTP/1.1 responses with a Content-Length, one at a time: ``(status, body, connection closes)``."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._waiting: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self.lost = False

    def expect(self) -> asyncio.Future[tuple[int, bytes, bool]]:
        self._waiting = asyncio.get_running_loop().create_future()
        if self.lost:
            self._waiting.set_exception(ConnectionResetError("the service closed the connection"))
        return self._waiting

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0 or self._waiting is None:
            return
        head = bytes(self._buffer[:end]).split(b"\r\n")
        length, close = 0, False
        for line in head[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if len(self._buffer) < end + 4 + length:
            return
        body = bytes(self._buffer[end + 4:end + 4 + length])
        del self._buffer[:end + 4 + length]
        waiting, self._waiting = self._waiting, None
        if not waiting.done():
            waiting.set_result((int(head[0][9:12]), body, close))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_exception(asyncio.IncompleteReadError(bytes(self._buffer), None))


def run_loop(main: Any) -> Any:
    """``main`` on uvloop when it is installed (the service's extra brings it): the clients share the
    service's two cores, and uvloop's event loop costs them less than asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def job_body(k: int, tag: str, at_s: float | None = None) -> bytes:
    """A distinct job: its own repo, workflow and job name. Submitted ``at_s`` seconds into DAY, as a live
    service sees jobs (submitted now); without ``at_s``, at a second of DAY spread by ``k``."""
    import json

    offset = int(at_s) if at_s is not None else (k * 7919) % 86400
    submitted = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(DAY_S + offset))  # numpy's dates cost more
    doc = {"repo": f"{tag}/r{k % 97}", "workflow": f"wf{k % 13}", "job": f"job{k}", "event": EVENTS[k % 4],
           "submitted_at": submitted, "duration": DURATIONS[k % 3], "branch": "main"}
    deadline = DEADLINES[k % 3]
    if deadline:
        doc["deadline"] = deadline
    return json.dumps(doc).encode()


@dataclass
class Load:
    """What the clients saw in the measured window."""

    seconds: float
    latencies: list[float] = field(default_factory=list)  # of 201s
    statuses: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)  # exceptions by type
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0

    @property
    def durable(self) -> int:
        return self.statuses.get(201, 0)

    @property
    def errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s != 201) + sum(self.failures.values())

    def pct_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1e3 if self.latencies else float("nan")


async def _warm(port: int, tokens: list[str], tag: str) -> None:
    """Decide one job per hourly issue slot of DAY, so that no forecast is fitted in the measured window.

    One connection per client token, at once: each worker process fits its own forecasts, and a connection
    stays with the worker that accepted it (one connection warmed one worker of two, and the other fitted
    its forecast in the measured window, a few hundred ms that showed up as the p99 of a short run); and
    each worker verifies each token once (a live service has its clients' tokens cached).
    """
    async def one(k: int) -> None:
        conn = Connection(port)
        try:
            for hour in range(25):
                await conn.request("POST", "/v1/jobs", tokens[k], _warm_body(hour, f"{tag}-{k}"))
        finally:
            conn.close()

    await asyncio.gather(*(one(k) for k in range(len(tokens))))


def _warm_body(hour: int, tag: str) -> bytes:  # tag: one warm-up connection's own jobs
    import json

    submitted = DAY + np.timedelta64(hour * 3600 + 1, "s")
    return json.dumps({"repo": f"{tag}-warm/r", "workflow": "warm", "job": f"h{hour}", "event": "push",
                       "submitted_at": f"{submitted}Z", "duration": "20m"}).encode()


async def drive(port: int, tokens: list[str], seconds: float, tag: str,
                make: Callable[[int], tuple[str, str, bytes | None, dict[str, str]]] | None = None,
                server: Server | None = None, rate: float | None = None) -> Load:
    """``len(tokens)`` clients for ``seconds``; each client uses its own token and connection.

    ``rate`` None: every client sends its next request as soon as it has the answer (closed loop: the
    most the service can do). ``rate`` R: the clients together send R requests/s on a fixed timetable
    (client i sends at offsets i/R apart, every n/R seconds); a latency counts from the time a request
    was due, so a late answer also charges the requests that queued behind it.
    """
    await _warm(port, tokens, tag)
    load = Load(seconds)
    counter = iter(range(10**12))
    start = time.perf_counter()
    stop_at = start + seconds
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    server_cpu0 = server.cpu_s() if server else 0.0
    n = len(tokens)

    def default(k: int) -> tuple[str, str, bytes | None, dict[str, str]]:  # submitted now: DAY 10:00 + elapsed
        at = LIVE_FROM_S + time.perf_counter() - start
        return "POST", "/v1/jobs", job_body(k, tag, at), {"Idempotency-Key": f"{tag}-{k}"}

    make = make or default

    async def client(i: int, token: str) -> None:
        conn = Connection(port)
        due = start + (i / rate if rate else 0.0)
        try:
            while True:
                now = time.perf_counter()
                if rate:
                    if due >= stop_at:
                        return
                    if due > now:
                        await asyncio.sleep(due - now)
                    t0 = due
                    due += n / rate
                else:
                    if now >= stop_at:
                        return
                    t0 = now
                method, path, body, headers = make(next(counter))
                try:
                    status, _ = await conn.request(method, path, token, body, headers)
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    load.failures[type(exc).__name__] += 1
                    await asyncio.sleep(0.01)
                    continue
                load.statuses[status] += 1
                if status == 201:
                    load.latencies.append(time.perf_counter() - t0)
        finally:
            conn.close()

    await asyncio.gather(*(client(i, t) for i, t in enumerate(tokens)))
    load.seconds = max(seconds, time.perf_counter() - start)  # the last answers may come after the window
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    load.client_cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    load.server_cpu_s = (server.cpu_s() - server_cpu0) if server else 0.0
    return load


# --------------------------------------------------------------------------- cases
@dataclass
class Result:
    name: str
    workers: int
    rate: float | None  # None: closed loop (as fast as the service answers)
    load: Load | None = None
    stored: int = 0
    skipped: str | None = None
    run: int = 1  # which of the --repeat runs of this case and load

    @property
    def store(self) -> str:
        return self.name.split(",")[0]

    @property
    def load_label(self) -> str:
        return "back to back" if self.rate is None else f"{self.rate:,.0f}/s offered"

    def label(self, repeat: int) -> str:
        return self.load_label + (f", run {self.run}/{repeat}" if repeat > 1 else "")

    def met(self) -> bool:
        """The target: the offered rate answered (>= 99 %, every request a 201) with p99 under 25 ms."""
        if self.load is None or self.rate is None:
            return False
        rate = self.load.durable / self.load.seconds
        return (self.rate >= TARGET_RATE and rate >= 0.99 * self.rate and self.load.errors == 0
                and self.load.pct_ms(99) < TARGET_P99_MS)


def run_case(name: str, tag: str, workers: int, intensity: Path, seconds: float, clients: int,
             db_factory: Callable[[ExitStack], str | None], rate: float | None) -> Result:
    """One load on a fresh service (its own data folder and database)."""
    with ExitStack() as stack:
        try:
            db = db_factory(stack)
        except Exception as exc:  # noqa: BLE001 - any reason the store cannot start: print it, skip the case
            return Result(name, workers, rate, skipped=f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}")
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="greenci-bench-")))
        tokens = create_tokens(data_dir, db, clients)
        try:
            server = stack.enter_context(serving(data_dir, intensity, db=db, workers=workers))
        except RuntimeError as exc:  # the service did not start: say why (the last line of its log)
            return Result(name, workers, rate,
                          skipped=f"greenci serve did not start: {str(exc).strip().splitlines()[-1]}")
        load = run_loop(drive(server.port, tokens, seconds, tag, server=server, rate=rate))
        _stop(server.process)
        stored = stored_jobs(data_dir, db)
        return Result(name, workers, rate, load, stored)


def postgres(stack: ExitStack) -> str:
    sys.path.insert(0, str(ROOT / "tests"))
    import pgserver

    return stack.enter_context(pgserver.running_postgres("greenci_bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds per run (default 60)")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (default 64)")
    parser.add_argument("--rate", type=float, default=TARGET_RATE,
                        help="requests/s the clients offer together in the paced runs (default 1000; 0: none)")
    parser.add_argument("--cases", default="sqlite-1,sqlite-2,postgresql-1,postgresql-2",
                        help="comma-separated STORE-WORKERS cases")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each case and load, each on a fresh service (default 1): the spread")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat {args.repeat}: give 1 or more runs")
    console = Console(width=160)
    wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
    rates: list[float | None] = [None] + ([args.rate] if args.rate > 0 else [])
    with tempfile.TemporaryDirectory(prefix="greenci-bench-intensity-") as folder:
        intensity = write_intensity(Path(folder))
        results = []
        for case in wanted:
            store, _, workers = case.partition("-")
            factory = (lambda _stack: None) if store == "sqlite" else postgres
            plural = "s" if workers != "1" else ""
            label = f"{'SQLite' if store == 'sqlite' else 'PostgreSQL'}, {workers} worker{plural}"
            for rate in rates:
                what = "back to back" if rate is None else f"at {rate:,.0f} requests/s"
                for run in range(1, args.repeat + 1):
                    of = f" (run {run} of {args.repeat})" if args.repeat > 1 else ""
                    console.print(f"[dim]running {label}, {args.clients} clients {what}, for {args.seconds:g} s"
                                  f"{of} ...[/dim]")
                    result = run_case(label, f"{case}-{int(rate or 0)}-{run}", int(workers), intensity,
                                      args.seconds, args.clients, factory, rate)
                    results.append(replace(result, run=run))
                    if result.skipped:
                        break

    cores = os.cpu_count()
    table = Table(title=f"Durable decisions: {args.clients} clients x {args.seconds:g} s, POST /v1/jobs "
                        f"({DATA_LABEL}; {cores} cores)")
    for col in ("case", "load", "decisions/s", "p50", "p99", "max", "errors", "201s / stored rows", "server CPU",
                "client CPU", "vs SQLite 1 worker"):
        table.add_column(col, justify="left" if col in ("case", "load") else "right")
    for r in results:
        if r.load is None:
            table.add_row(r.name, r.label(args.repeat), "skipped", "", "", "", "", "", "", "", "(reason below)")
            continue
        base = next((b for b in results if b.load and b.name == "SQLite, 1 worker" and b.rate == r.rate
                     and b.run == r.run), None)
        rate = r.load.durable / r.load.seconds
        base_rate = base.load.durable / base.load.seconds if base and base.load else 0.0
        ratio = "1x" if r is base else (f"{rate / base_rate:.2f}x" if base_rate else "-")
        errors = f"{r.load.errors:,}" + (f" ({_breakdown(r.load)})" if r.load.errors else "")
        table.add_row(r.name, r.label(args.repeat), f"{rate:,.0f}", f"{r.load.pct_ms(50):.1f} ms",
                      f"{r.load.pct_ms(99):.1f} ms",
                      f"{max(r.load.latencies) * 1e3:.0f} ms" if r.load.latencies else "-", errors,
                      f"{r.load.durable:,} / {r.stored:,}", f"{r.load.server_cpu_s / r.load.seconds:.2f} cores",
                      f"{r.load.client_cpu_s / r.load.seconds:.2f} cores", ratio)
    console.print(table)
    for r in results:
        if r.skipped:
            console.print(f"{r.name}, {r.label(args.repeat)}: skipped: {r.skipped}")
    console.print("Back to back, each client waits for its answer before the next request, so p50 is about "
                  "clients / rate (Little's law): the latency target is measured on the paced runs.")
    if any(r.load and r.store == "PostgreSQL" for r in results):
        console.print("PostgreSQL: the throwaway server of tests/pgserver.py (fsync=off, synchronous_commit=off): "
                      "commits are not flushed to disk; an upper bound for a durable PostgreSQL.")
    target = (f">= {TARGET_RATE:,.0f} durable decisions/s with p99 < {TARGET_P99_MS:g} ms on SQLite "
              f"(this {cores}-core machine)")
    paced = [r for r in results if r.load and r.store == "SQLite" and r.rate is not None]
    if not paced:
        console.print(f"target: {target}: not measured (no paced SQLite run at >= {TARGET_RATE:,.0f}/s)")
    for name in dict.fromkeys(r.name for r in paced):
        runs = [r for r in paced if r.name == name]
        for r in runs:
            assert r.load is not None
            console.print(f"target: {target}: {'met' if r.met() else 'NOT met'} by {r.name} at "
                          f"{r.label(args.repeat)} ({r.load.durable / r.load.seconds:,.0f} decisions/s, "
                          f"p99 {r.load.pct_ms(99):.1f} ms, {r.load.errors} errors)")
        if len(runs) > 1:
            p99 = [r.load.pct_ms(99) for r in runs if r.load is not None]
            console.print(f"{name}, paced: target met in {sum(r.met() for r in runs)} of {len(runs)} runs; p99 "
                          f"{min(p99):.1f}-{max(p99):.1f} ms (median {float(np.median(p99)):.1f} ms)")


def _breakdown(load: Load) -> str:
    parts = [f"{n} x {s}" for s, n in sorted(load.statuses.items()) if s != 201]
    parts += [f"{n} x {e}" for e, n in sorted(load.failures.items())]
    return ", ".join(parts)


if __name__ == "__main__":
    main()
