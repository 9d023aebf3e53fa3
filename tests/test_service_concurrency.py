"""Concurrent requests over real HTTP: decided in micro-batches, stored by one writer, answered as if alone.

The batcher decides the requests that wait together in one vectorised call, and the writer commits the
jobs of many requests at once; neither may change an answer: concurrent requests get the decisions they
get one at a time, one bad job fails alone, a retried key is stored once, a full runner pool is never
overbooked, and a store that refuses a batch answers 503 and keeps serving.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service needs greenci[service]: pip install 'greenci[service]'")

from test_service import JOB, intensity, serving  # noqa: E402, F401 - the module fixture is reused

from greenci.service import ServiceSettings  # noqa: E402
from greenci.service.batching import Batcher  # noqa: E402
from greenci.service.keepalive import KeepAliveLimit  # noqa: E402

EVENTS = ("push", "pull_request", "schedule", "workflow_dispatch")


def _jobs(n: int) -> list[dict]:
    """Distinct jobs over three issue slots, with deadlines, classes, regions and estimates that differ."""
    out = []
    for k in range(n):
        doc = {"repo": f"acme/r{k % 5}", "workflow": f"wf{k % 3}", "job": f"j{k}", "event": EVENTS[k % 4],
               "submitted_at": f"2022-10-12T{8 + k % 3:02d}:{(k * 7) % 60:02d}:00Z",
               "duration": ("5m", "40m", "2h")[k % 3], "priority": ("normal", "flexible", "critical", "normal")[k % 4]}
        if k % 3 == 1:
            doc["deadline"] = "6h"
        if k % 5 == 2:
            doc["allowed_regions"] = ["GB"]
        if k % 7 == 3:
            doc["carbon_aware"] = True
        out.append(doc)
    return out


async def _post_all(base_url: str, headers: dict, bodies: list[dict], keys: list[str | None] | None = None
                    ) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60, trust_env=False,
                                 limits=httpx.Limits(max_connections=len(bodies))) as client:
        keys = keys or [None] * len(bodies)
        return list(await asyncio.gather(*(
            client.post("/v1/jobs", json=b, headers={"Idempotency-Key": k} if k else {})
            for b, k in zip(bodies, keys, strict=True))))


def _decided(doc: dict) -> tuple:
    d = doc["decision"]
    return d["region"], d["start"], round(d["expected_g"], 9), d["reason"], d["duration_estimate_s"]


def _settings(tmp_path: Path, name: str, intensity: Path, database_url: str | None, **kw: object) -> ServiceSettings:  # noqa: F811
    return ServiceSettings(data_dir=tmp_path / name, database_url=database_url, regions=("DE-LU", "GB"),
                           intensity=(intensity,), forecast="seasonal-naive", dispatcher=False,
                           rate_per_s=10_000, rate_burst=10_000, **kw)  # type: ignore[arg-type]


def test_concurrent_requests_get_the_decisions_they_get_alone(tmp_path: Path, intensity: Path) -> None:  # noqa: F811
    bodies = _jobs(48)
    with serving(_settings(tmp_path, "alone", intensity, None)) as http:
        alone = [http.post("/v1/jobs", json=b) for b in bodies]
    with serving(_settings(tmp_path, "together", intensity, None)) as http:
        together = asyncio.run(_post_all(str(http.base_url), dict(http.headers), bodies))
        stored = http.get("/v1/jobs", params={"limit": 1000}).json()["jobs"]
        deciding = http.app_state.deciding  # type: ignore[attr-defined]
    assert [r.status_code for r in alone] == [201] * len(bodies), alone[0].text
    assert [r.status_code for r in together] == [201] * len(bodies)
    assert [_decided(r.json()) for r in together] == [_decided(r.json()) for r in alone]
    assert len(stored) == len(bodies) and len({j["id"] for j in stored}) == len(bodies)
    print(f"48 concurrent requests: {deciding.batches} decision batches")


def test_one_bad_job_in_a_batch_fails_alone(tmp_path: Path, intensity: Path) -> None:  # noqa: F811
    good = _jobs(20)
    bad = {**JOB, "job": "late", "submitted_at": "2023-06-01T00:00:00Z"}  # after the intensity data ends
    bodies = good[:10] + [bad] + good[10:]
    with serving(_settings(tmp_path, "d", intensity, None)) as http:
        got = asyncio.run(_post_all(str(http.base_url), dict(http.headers), bodies))
        assert len(http.get("/v1/jobs", params={"limit": 1000}).json()["jobs"]) == len(good)
    codes = [r.status_code for r in got]
    assert codes[10] == 422 and "after the intensity data ends" in got[10].text, got[10].text
    assert codes[:10] + codes[11:] == [201] * len(good)


def test_a_key_sent_many_times_at_once_is_stored_once(tmp_path: Path, intensity: Path,  # noqa: F811
                                                      database_url: str | None) -> None:
    with serving(_settings(tmp_path, "d", intensity, database_url)) as http:
        got = asyncio.run(_post_all(str(http.base_url), dict(http.headers), [JOB] * 16, ["same-key"] * 16))
        other = http.post("/v1/jobs", json={**JOB, "job": "other"}, headers={"Idempotency-Key": "same-key"})
        assert len(http.get("/v1/jobs").json()["jobs"]) == 1
    assert sorted(r.status_code for r in got) == [200] * 15 + [201]
    assert len({r.json()["id"] for r in got}) == 1
    assert other.status_code == 409, other.text


def test_concurrent_requests_never_overbook_a_runner(tmp_path: Path, intensity: Path,  # noqa: F811
                                                     database_url: str | None) -> None:
    flexible = {**JOB, "submitted_at": "2022-10-12T08:00:00Z", "deadline": "20h", "duration": "2h",
                "event": "push", "priority": "flexible"}
    settings = _settings(tmp_path, "d", intensity, database_url, capacity={"DE-LU": 1, "GB": 1})
    with serving(settings) as http:
        got = asyncio.run(_post_all(str(http.base_url), dict(http.headers),
                                    [{**flexible, "job": f"j{i}"} for i in range(12)]))
        assert [r.status_code for r in got] == [201] * 12, got[0].text
        stored = http.get("/v1/jobs").json()["jobs"]
    spans = []
    for j in stored:
        d = j["decision"]
        start = int(np.datetime64(d["start"].rstrip("Z"), "s").astype(np.int64))
        spans.append((d["region"], start, start + int(np.ceil(d["duration_estimate_s"]))))
    for region in ("DE-LU", "GB"):
        mine = sorted((a, b) for r, a, b in spans if r == region)
        assert all(b1 <= a2 for (_, b1), (a2, _) in zip(mine, mine[1:], strict=False)), (region, mine)
    assert sum("capacity" in j["decision"]["reason"] for j in stored) >= 1


def test_a_store_that_refuses_a_batch_answers_503_and_keeps_serving(tmp_path: Path, intensity: Path) -> None:  # noqa: F811
    from greenci.service.store import jobs

    with serving(_settings(tmp_path, "d", intensity, None)) as http:
        assert http.post("/v1/jobs", json={**JOB, "job": "kept"}).status_code == 201
        engine = http.store.engine  # type: ignore[attr-defined]
        with engine.begin() as c:  # the store breaks under the service: its jobs table is renamed away
            c.exec_driver_sql("ALTER TABLE jobs RENAME TO jobs_aside")
        refused = asyncio.run(_post_all(str(http.base_url), dict(http.headers),
                                        [{**JOB, "job": f"r{i}"} for i in range(5)]))
        assert [r.status_code for r in refused] == [503] * 5, refused[0].text
        assert "could not keep the job" in refused[0].json()["detail"]
        assert http.get("/healthz").status_code == 200
        with engine.begin() as c:
            c.exec_driver_sql("ALTER TABLE jobs_aside RENAME TO jobs")
        assert http.post("/v1/jobs", json={**JOB, "job": "after"}).status_code == 201
        names = sorted(j["job"] for j in http.get("/v1/jobs").json()["jobs"])
    assert names == ["after", "kept"], "the refused jobs were not stored; the others all were"
    assert jobs.name == "jobs"


# ------------------------------------------------------------------------------------------ the batcher itself
def test_items_submitted_in_one_turn_run_in_one_call_and_fail_alone() -> None:
    calls: list[list[int]] = []

    def run(items: list[int]) -> list[int | BaseException]:
        calls.append(list(items))
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]

    async def main() -> list[object]:
        batcher: Batcher[int, int] = Batcher(run, threading.Lock())
        return await asyncio.gather(*(batcher.submit(i) for i in range(6)), return_exceptions=True)

    got = asyncio.run(main())
    assert calls == [[0, 1, 2, 3, 4, 5]]
    assert [g if isinstance(g, int) else str(g) for g in got] == [0, "odd 1", 20, "odd 3", 40, "odd 5"]


def test_a_lock_held_elsewhere_never_blocks_the_event_loop() -> None:
    lock = threading.Lock()
    lock.acquire()  # a background refresh holds it for 0.3 s
    threading.Timer(0.3, lock.release).start()

    async def main() -> tuple[int, int, float]:
        batcher: Batcher[int, int] = Batcher(lambda items: [i + 1 for i in items], lock)
        ticks = 0

        async def heartbeat() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        beat = asyncio.create_task(heartbeat())
        t0 = time.perf_counter()
        result = await batcher.submit(41)
        waited, seen = time.perf_counter() - t0, ticks
        beat.cancel()
        return result, seen, waited

    result, ticks, waited = asyncio.run(main())
    assert result == 42 and waited >= 0.25
    assert ticks >= 10, f"the event loop ran {ticks} times in {waited:.2f} s: it waited for the lock"


def test_a_connection_is_closed_after_its_requests_so_workers_share_the_load(
        tmp_path: Path, intensity: Path) -> None:  # noqa: F811
    with serving(_settings(tmp_path, "d", intensity, None, keepalive_requests=4)) as http:
        got = [http.get("/healthz") for _ in range(60)]
    assert [r.status_code for r in got] == [200] * 60
    closes = [k for k, r in enumerate(got) if r.headers.get("connection") == "close"]
    carried = np.diff([-1, *closes])  # requests each closed connection carried
    assert len(closes) >= 60 // 4 and set(carried) <= {2, 3, 4}, carried


def test_each_connection_draws_its_own_limit_so_clients_that_started_together_reconnect_apart() -> None:
    draws: list[tuple[int, int]] = []
    limits = iter([3, 1, 2])

    def draw(low: int, high: int) -> int:
        draws.append((low, high))
        return next(limits)

    async def app(scope: dict, receive: object, send: Callable) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    limit = KeepAliveLimit(app, max_requests=5, draw=draw)

    async def request(port: int) -> bool:  # whether the answer closes the connection
        heads: list[dict] = []

        async def send(message: dict) -> None:
            heads.append(message)

        await limit({"type": "http", "client": ("127.0.0.1", port), "server": ("127.0.0.1", 8000)}, None, send)
        return (b"connection", b"close") in heads[0]["headers"]

    async def main() -> list[bool]:
        a = [await request(1) for _ in range(3)]  # connection 1: its limit is 3
        b = [await request(2)]  # connection 2: 1
        c = [await request(3) for _ in range(2)]  # connection 3: 2
        return a + b + c

    assert asyncio.run(main()) == [False, False, True, True, False, True]
    assert draws == [(3, 5)] * 3  # between half the maximum (rounded up) and the maximum


def test_batches_start_at_least_the_interval_apart_and_an_idle_batcher_starts_at_once() -> None:
    calls: list[tuple[float, list[int]]] = []

    def run(items: list[int]) -> list[int]:
        calls.append((time.perf_counter(), list(items)))
        return list(items)

    async def main() -> tuple[float, list[object]]:
        batcher: Batcher[int, int] = Batcher(run, threading.Lock(), min_interval_s=0.25,
                                             then=lambda results: [r * 10 for r in results])
        t0 = time.perf_counter()
        first = await batcher.submit(1)  # idle: starts at once
        waited_first = time.perf_counter() - t0
        rest = await asyncio.gather(*(batcher.submit(i) for i in (2, 3, 4)))  # within the interval: they wait
        return waited_first, [first, *rest]

    waited_first, got = asyncio.run(main())
    assert got == [10, 20, 30, 40], "then() maps each batch's results before they are delivered"
    assert [items for _, items in calls] == [[1], [2, 3, 4]]
    assert waited_first < 0.2, f"an idle batcher made its request wait {waited_first:.3f} s"
    assert calls[1][0] - calls[0][0] >= 0.2, "the second batch started before the interval had passed"


def test_a_failing_second_step_fails_every_item_of_its_batch() -> None:
    def then(results: list[int]) -> list[int]:
        raise RuntimeError("the store is gone")

    async def main() -> list[object]:
        batcher: Batcher[int, int] = Batcher(lambda items: list(items), threading.Lock(), then=then)
        return await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)

    assert [str(g) for g in asyncio.run(main())] == ["the store is gone"] * 3


def test_job_ids_are_uuids_that_sort_by_creation() -> None:
    import uuid

    from greenci.service.store import new_job_id

    first = [new_job_id() for _ in range(1000)]
    time.sleep(0.002)
    later = new_job_id()
    assert len(set(first)) == len(first)
    assert all(uuid.UUID(i).version == 7 and str(uuid.UUID(i)) == i for i in first)
    assert max(first) < later, "an id made a millisecond later sorts after every earlier one"
