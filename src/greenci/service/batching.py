"""Micro-batches on the event loop: the requests that are waiting together are decided together.

Why: the planner is vectorised (:func:`~greenci.usecases.plan.plan_batch` places the jobs of one issue slot
in one pass over the forecast), and most of the cost of one decision is fixed per call. Under load many
requests are ready at once; each hands its item to :meth:`Batcher.submit` and awaits it, and the batcher
runs every item queued in that turn of the event loop in one call of ``run``. Alone, a request is a batch
of one and waits for nothing. ``run`` returns one result or exception per item, so one bad item never
fails the others.

``run`` executes under ``lock`` (the forecast cache, the history and the runner pools it reads are shared
with background threads). When a background thread holds the lock (a forecast refresh that is fetching),
the batch runs in a worker thread instead, so that the event loop never waits for it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from fastapi.concurrency import run_in_threadpool

__all__ = ["Batcher"]

In = TypeVar("In")
Out = TypeVar("Out")


class Batcher(Generic[In, Out]):
    """Runs ``run(items)`` for the items submitted in one turn of the event loop (at most ``max_batch``).

    ``then(results)``, if given, runs on the event loop after ``run`` (which may have run in a worker
    thread), before the results are delivered: a second step that must not leave the loop (the store's
    writes). ``min_interval_s``: batches start at least that far apart; a request that finds the batcher
    idle for longer starts its batch at once, so only a loaded service waits (see :meth:`submit`).
    """

    def __init__(self, run: Callable[[Sequence[In]], Sequence[Any]], lock: threading.Lock, *,
                 max_batch: int = 256, then: Callable[[Sequence[Any]], Sequence[Out | BaseException]] | None = None,
                 min_interval_s: float = 0.0) -> None:
        self.run, self.lock, self.max_batch = run, lock, max_batch
        self.then, self.min_interval_s = then, float(min_interval_s)
        self._pending: list[tuple[In, asyncio.Future[Out]]] = []
        self._scheduled = False
        self._last_start = float("-inf")  # loop time the last batch started
        self.batches = 0  # calls of run, and the items they held
        self.items = 0

    async def submit(self, item: In) -> Out:
        """``item``'s result, once its batch ran.

        Why a minimum interval: each batch costs a fixed part (a planner call, a commit) whatever it holds.
        Under load, batches started as soon as possible held one or two requests, and that fixed part kept
        the process saturated; starting them a few milliseconds apart lets the requests of those
        milliseconds share it. An idle batcher starts at once: a lone request waits for nothing.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Out] = loop.create_future()
        self._pending.append((item, future))
        if not self._scheduled:
            self._scheduled = True
            delay = self._last_start + self.min_interval_s - loop.time()
            if delay > 0:
                loop.call_later(delay, self._flush)
            else:
                loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        self._last_start = loop.time()
        batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
        if self._pending:
            loop.call_soon(self._flush)
        else:
            self._scheduled = False
        if self.lock.acquire(blocking=False):
            try:
                results = self._call(batch)
            finally:
                self.lock.release()
            self._deliver(batch, self._after(batch, results))
        else:
            loop.create_task(self._in_thread(batch))

    async def _in_thread(self, batch: list[tuple[In, asyncio.Future[Out]]]) -> None:
        def locked() -> Sequence[Any]:
            with self.lock:
                return self._call(batch)

        self._deliver(batch, self._after(batch, await run_in_threadpool(locked)))

    def _after(self, batch: list[tuple[In, asyncio.Future[Out]]], results: Sequence[Any]) -> Sequence[Any]:
        if self.then is None:
            return results
        try:
            after = self.then(results)
        except Exception as exc:  # noqa: BLE001 - the second step failed as a whole: every item gets the reason
            return [exc] * len(batch)
        if len(after) != len(batch):  # pragma: no cover - a contract of then
            return [RuntimeError(f"a batch of {len(batch)} gave {len(after)} results")] * len(batch)
        return after

    def _call(self, batch: list[tuple[In, asyncio.Future[Out]]]) -> Sequence[Out | BaseException]:
        self.batches += 1
        self.items += len(batch)
        try:
            results = self.run([item for item, _ in batch])
        except Exception as exc:  # noqa: BLE001 - run failed as a whole: every item gets the reason
            return [exc] * len(batch)
        if len(results) != len(batch):  # pragma: no cover - a contract of run
            return [RuntimeError(f"a batch of {len(batch)} gave {len(results)} results")] * len(batch)
        return results

    @staticmethod
    def _deliver(batch: list[tuple[In, asyncio.Future[Out]]], results: Sequence[Out | BaseException]) -> None:
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # the request was cancelled (its client went away)
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
