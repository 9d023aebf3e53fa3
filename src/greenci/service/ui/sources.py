"""Where each region's forecast comes from right now: the source or the fallback step, the last refresh, errors.

Why read the provider rather than keep a log: the forecast the pages show is the one decisions use, so the
state is asked of the same objects (the fallback chain's memory per region, the intensity grid's last known
slot, the background refresher's last outcome, the fallback counter of the metrics).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from greenci.errors import GreenciError
from greenci.forecast import ForecastProvider
from greenci.grid import IntensityGrid
from greenci.timeutil import iso

__all__ = ["fallback_counts", "last_known_slots", "sources_status"]


def last_known_slots(grid: IntensityGrid) -> list[int | None]:
    """Per region, the start (epoch s) of the last slot with a value; None when a region has none."""
    finite = np.isfinite(grid.values)
    last = grid.n_slots - 1 - np.argmax(finite[:, ::-1], axis=1)
    starts = grid.start_s + last * grid.step_s
    return [int(s) if any_ else None for s, any_ in zip(starts, finite.any(axis=1), strict=True)]


def fallback_counts(metrics: Any) -> dict[str, int]:
    """Decisions made on each fallback step since the process started (from the Prometheus counter)."""
    out: dict[str, int] = {}
    counter = getattr(metrics, "fallbacks", None)
    if counter is None:
        return out
    for family in counter.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                out[sample.labels.get("step", "?")] = int(sample.value)
    return out


def sources_status(provider: ForecastProvider, regions: tuple[str, ...], lock: threading.Lock,
                   refresher: Any = None, metrics: Any = None, now_s: float | None = None) -> dict[str, Any]:
    """The sources page: one row per region, the provider, the refresher and the fallback counts."""
    now = int(time.time() if now_s is None else now_s)
    name = str(getattr(provider, "name", type(provider).__name__))
    chain = hasattr(provider, "primary") and hasattr(provider, "store")  # the fallback chain around an API
    error, issued = None, None
    try:
        with lock:
            issued = provider.forecast(list(regions), now, 48 * 3600)
    except GreenciError as exc:  # the page still shows what is known: the error is the news
        error = str(exc)
    grid = getattr(provider, "grid", None)
    data_until = dict(zip(grid.regions, last_known_slots(grid), strict=True)) if isinstance(grid, IntensityGrid) else {}
    rows = []
    for r in regions:
        memory = provider.store.load(r) if chain else None  # type: ignore[attr-defined]
        if issued is not None:
            step = issued.fallback or "source answered"
            method, note = issued.method, issued.note
        else:
            step, method, note = "error", "", error or ""
        last_refresh = (memory.last_issued_s if memory is not None else
                        issued.issued_at_s if issued is not None and not chain else None)
        rows.append({"region": r, "step": step, "fallback": bool(issued is not None and issued.fallback),
                     "method": method, "note": note, "last_refresh": iso(last_refresh) if last_refresh else None,
                     "last_method": memory.last_method if memory is not None else None,
                     "data_until": iso(data_until[r]) if data_until.get(r) is not None else None,
                     "synthetic": bool(issued.grid.synthetic) if issued is not None else None})
    last_ok = getattr(refresher, "last_ok_s", None)
    last_error = getattr(refresher, "last_error", None)
    return {"provider": name, "kind": "API source with the fallback chain" if chain else "forecast model on a grid",
            "primary": getattr(getattr(provider, "primary", None), "name", None), "rows": rows, "error": error,
            "refresher": None if refresher is None else {
                "every_s": getattr(getattr(refresher, "settings", None), "refresh_s", None),
                "last_ok": iso(int(last_ok)) if last_ok else None,
                "last_error": None if not last_error else {"at": iso(int(last_error[0])), "message": last_error[1]}},
            "fallbacks": fallback_counts(metrics), "checked_at": iso(now)}
