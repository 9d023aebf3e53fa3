"""Read-only endpoints: forecasts, the Carbon Aware SDK's shapes, statistics and Prometheus metrics.

The SDK routes answer in the Green Software Foundation Carbon Aware SDK WebAPI's JSON shapes
(``/emissions/bylocation``, ``/emissions/bylocations/best``, ``/emissions/forecasts/current``), so its
existing clients (and greenci's own ``--source carbon-aware-sdk``) work against a greenci service.
Metrics live in a registry of the app's own (no global state): two apps in one process never mix counts.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Response

from greenci.errors import InputError
from greenci.forecast import ForecastProvider
from greenci.grid import IntensityGrid
from greenci.timeutil import iso, to_datetime64

__all__ = ["Metrics", "metrics_response", "reads_router"]


class Metrics:
    """The service's Prometheus metrics: decisions, waits, gCO2eq predicted, saved and actual, fallbacks."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.decisions = Counter("greenci_decisions_total", "Decisions made", ["priority", "shifted"],
                                 registry=self.registry)
        self.within = Counter("greenci_decisions_within_max_wait_total", "Decisions whose wait is within their "
                              "class's maximum", ["priority"], registry=self.registry)
        self.wait = Histogram("greenci_decision_wait_seconds", "Wait chosen by decisions", registry=self.registry,
                              buckets=(0, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600))
        self.predicted = Counter("greenci_predicted_grams_total", "Expected gCO2eq of decided jobs",
                                 registry=self.registry)
        self.saving = Counter("greenci_saving_grams_total", "Expected gCO2eq saved against running now",
                              registry=self.registry)
        self.actual = Counter("greenci_actual_grams_total", "gCO2eq of completed jobs on actual intensity",
                              registry=self.registry)
        self.fallbacks = Counter("greenci_forecast_fallbacks_total", "Decisions made on a fallback forecast",
                                 ["step"], registry=self.registry)
        self.dispatch_failures = Counter("greenci_dispatch_failures_total", "Failed dispatch attempts",
                                         ["gave_up"], registry=self.registry)
        self.latency = Histogram("greenci_decision_seconds", "Time to decide one job", registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5))
        self._lock = threading.Lock()

    def decided(self, decision: dict[str, Any], seconds: float, priority: str = "normal",
                max_wait_s: float = float("inf")) -> None:
        with self._lock:
            wait = float(decision.get("wait_s") or 0.0)
            self.decisions.labels(priority=priority, shifted="yes" if wait > 0 else "no").inc()
            if wait <= max_wait_s + 1.0:
                self.within.labels(priority=priority).inc()
            self.wait.observe(wait)
            self.latency.observe(seconds)
            self.predicted.inc(max(float(decision.get("expected_g") or 0.0), 0.0))
            self.saving.inc(max(float(decision.get("saving_g") or 0.0), 0.0))
            if decision.get("fallback"):
                self.fallbacks.labels(step=str(decision["fallback"])).inc()

    def dispatch_failed(self, gave_up: bool) -> None:
        self.dispatch_failures.labels(gave_up="yes" if gave_up else "no").inc()

    def completed(self, actual_g: float | None) -> None:
        if actual_g is not None:
            self.actual.inc(max(float(actual_g), 0.0))


def metrics_response(metrics: Metrics) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


def reads_router(provider: ForecastProvider, regions: tuple[str, ...], lock: threading.Lock) -> APIRouter:
    """The forecast and the Carbon Aware SDK endpoints over one app's forecast."""
    router = APIRouter()

    def issued(at: str | None) -> int:
        return int(time.time()) if at is None else int(to_datetime64(at, field="at").astype(np.int64))

    def known(names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in regions]
        if unknown or not names:
            raise InputError(f"location {', '.join(unknown) or '(none)'} is not served here: use one of "
                             f"{', '.join(regions)}", field="location")
        return names

    def forecast_grid(names: list[str], at_s: int, hours: float) -> tuple[IntensityGrid, Any]:
        with lock:
            f = provider.forecast(names, at_s, hours * 3600)
        return f.grid, f

    def actual_grid() -> IntensityGrid:
        grid = getattr(provider, "grid", None)
        if not isinstance(grid, IntensityGrid):
            raise HTTPException(501, detail="past emissions need intensity files; this service reads an API")
        return grid

    @router.get("/v1/forecast")
    def forecast(region: str, at: str | None = None,
                 hours: Annotated[float, Query(gt=0, le=168)] = 24) -> dict[str, Any]:
        """The forecast the service decides on, issued at ``at`` (default now)."""
        grid, f = forecast_grid(known([region]), issued(at), hours)
        n = min(grid.n_slots, int(np.ceil(hours * 3600 / grid.step_s)))
        return {"region": region, "issued_at": iso(f.issued_at_s), "step_s": grid.step_s, "method": f.method,
                "fallback": f.fallback, "synthetic": grid.synthetic,
                "values": [{"time": iso(int(t)), "g_per_kwh": _num(v)}
                           for t, v in zip(grid.times[:n].astype(np.int64), grid.values[0, :n], strict=True)]}

    # ------------------------------------------------------------------ the Carbon Aware SDK's shapes
    @router.get("/emissions/bylocation")
    def by_location(location: str, time: str | None = None, toTime: str | None = None) -> list[dict]:  # noqa: N803
        """Past ratings of one location (the SDK's EmissionsData)."""
        return _emissions(actual_grid(), known([location]), time, toTime)

    @router.get("/emissions/bylocations/best")
    def best(location: Annotated[list[str], Query()], time: str | None = None,
             toTime: str | None = None) -> list[dict]:  # noqa: N803
        """The lowest past rating among the locations (ties: all of them)."""
        rows = _emissions(actual_grid(), known(location), time, toTime)
        if not rows:
            return []
        low = min(r["rating"] for r in rows)
        return [r for r in rows if r["rating"] == low]

    @router.get("/emissions/forecasts/current")
    def forecasts_current(location: Annotated[list[str], Query()], dataStartAt: str | None = None,  # noqa: N803
                          dataEndAt: str | None = None, windowSize: Annotated[int, Query(ge=1, le=1440)] = 5,
                          ) -> list[dict]:  # noqa: N803
        """The current forecast per location, with its best window (the SDK's EmissionsForecast)."""
        now = int(np.floor(_now()))
        grid, _f = forecast_grid(known(location), now, 24)
        lo = int(to_datetime64(dataStartAt, field="dataStartAt").astype(np.int64)) if dataStartAt else -2**62
        hi = int(to_datetime64(dataEndAt, field="dataEndAt").astype(np.int64)) if dataEndAt else 2**62
        times = grid.times.astype(np.int64)
        keep = (times >= lo) & (times + grid.step_s <= hi)
        out = []
        for r, name in enumerate(grid.regions):
            points = [{"location": name, "timestamp": iso(int(t)), "duration": grid.step_s // 60, "value": _num(v)}
                      for t, v, k in zip(times, grid.values[r], keep, strict=True) if k and np.isfinite(v)]
            best_points = _best_window(points, windowSize, grid.step_s)
            out.append({"generatedAt": iso(now), "requestedAt": iso(now), "location": name,
                        "dataStartAt": points[0]["timestamp"] if points else None,
                        "dataEndAt": iso(int(times[keep][-1]) + grid.step_s) if points else None,
                        "windowSize": windowSize, "optimalDataPoints": best_points, "forecastData": points})
        return out

    return router


def _now() -> float:
    return time.time()


def _num(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _emissions(grid: IntensityGrid, names: list[str], start: str | None, end: str | None) -> list[dict]:
    times = grid.times.astype(np.int64)
    lo = int(to_datetime64(start, field="time").astype(np.int64)) if start else int(times[0])
    hi = int(to_datetime64(end, field="toTime").astype(np.int64)) if end else lo + grid.step_s
    if hi <= lo:
        raise InputError(f"toTime {end} is not after time {start}: give a later toTime", field="toTime")
    keep = (times + grid.step_s > lo) & (times < hi)
    duration = _timespan(grid.step_s)
    return [{"location": name, "time": iso(int(t)), "rating": float(v), "duration": duration}
            for name in names for t, v in zip(times[keep], grid.values[grid.regions.index(name)][keep], strict=True)
            if np.isfinite(v)]


def _timespan(seconds: int) -> str:
    """A .NET TimeSpan, as the SDK writes durations (``01:00:00``, ``1.00:00:00``)."""
    d, rest = divmod(int(seconds), 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return (f"{d}." if d else "") + f"{h:02d}:{m:02d}:{s:02d}"


def _best_window(points: list[dict], window_min: int, step_s: int) -> list[dict]:
    """The start of the window of ``window_min`` with the lowest mean value (the SDK's optimalDataPoints)."""
    if not points:
        return []
    k = max(1, int(np.ceil(window_min * 60 / step_s)))
    values = np.array([p["value"] for p in points], dtype=float)
    if values.size < k:
        return [points[int(np.argmin(values))]]
    means = np.convolve(values, np.ones(k) / k, mode="valid")
    i = int(np.argmin(means))
    return [{**points[i], "value": float(means[i]), "duration": window_min}]
