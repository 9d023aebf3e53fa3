"""What each page shows, computed from plain records and NumPy columns: no I/O, no HTTP, no templates.

Why apart from the routes: these are the numbers a person acts on (how much was saved, which class misses
its wait objective), so they are tested directly against brute-force sums; the router only fetches the
inputs and renders the result.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from greenci.errors import InputError
from greenci.forecast import IssuedForecast
from greenci.service.ui.queries import Columns, QueuedJob
from greenci.timeutil import iso

__all__ = ["Group", "cumulative_saving", "csv_text", "decisions_over_time", "forecast_chart", "group_totals",
           "predicted_vs_actual", "queue_rows", "replay_view", "bucket_for"]


def _num(v: float) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


def forecast_chart(issued: IssuedForecast, hours: float, queue: Sequence[QueuedJob]) -> dict[str, Any]:
    """The next ``hours`` of the forecast per region, and the deferred jobs' windows drawn over it."""
    grid = issued.grid
    n = min(grid.n_slots, int(np.ceil(hours * 3600 / grid.step_s)))
    times = grid.times[:n].astype("datetime64[s]").astype(np.int64)
    lo, hi = int(times[0]), int(times[-1]) + grid.step_s if n else 0
    windows = [{"id": j.id, "region": j.region, "start": j.start_s, "end": max(j.end_s, j.start_s + 60),
                "label": f"{j.repo} {j.workflow}/{j.job_name}".strip()}
               for j in queue if j.region in grid.regions and j.start_s < hi and j.end_s > lo]
    return {"x": times.tolist(), "step_s": grid.step_s, "regions": list(grid.regions),
            "y": [[_num(v) for v in row[:n]] for row in grid.values], "windows": windows,
            "synthetic": bool(grid.synthetic), "method": issued.method, "fallback": issued.fallback,
            "issued_at": iso(issued.issued_at_s), "unit": "gCO2eq/kWh"}


def queue_rows(queue: Sequence[QueuedJob], now_s: float) -> list[dict[str, Any]]:
    """The queue table: start, region, how long the job has waited so far, what its wait is expected to save."""
    return [{"id": j.id, "tenant": j.tenant, "job": f"{j.repo} {j.workflow}/{j.job_name}".rstrip("/"),
             "priority": j.priority, "start": iso(j.start_s), "region": j.region,
             "waited_s": max(0.0, now_s - j.submitted_s), "starts_in_s": j.start_s - now_s,
             "expected_g": j.expected_g, "saving_g": j.saving_g} for j in queue]


def bucket_for(span_s: float) -> int:
    """The bar width of "decisions over time": an hour up to three days of decisions, else a day."""
    return 3600 if span_s <= 3 * 86400 else 86400


def decisions_over_time(cols: Columns) -> dict[str, Any]:
    """Decisions per time bucket (by submission), split into "run now" and "shifted" (a wait > 0)."""
    if cols.n == 0:
        return {"x": [], "now": [], "shifted": [], "bucket_s": 3600}
    t = cols.submitted_s
    bucket = bucket_for(float(t[-1] - t[0]))
    first = int(t[0] // bucket * bucket)
    idx = ((t - first) // bucket).astype(np.int64)
    shifted = (cols.start_s - cols.submitted_s) > 0
    k = int(idx.max()) + 1
    now = np.bincount(idx[~shifted], minlength=k)
    moved = np.bincount(idx[shifted], minlength=k)
    return {"x": (first + bucket * np.arange(k)).tolist(), "now": now.tolist(), "shifted": moved.tolist(),
            "bucket_s": bucket}


def cumulative_saving(cols: Columns, classes: Sequence[str]) -> dict[str, Any]:
    """The expected gCO2eq saved against running now, summed over decisions in order, in all and per class.

    Cancelled jobs saved nothing (they did not run) and count 0 from their decision on.
    """
    saving = np.where(np.isfinite(cols.saving_g) & (cols.status != "cancelled"), cols.saving_g, 0.0)
    x = cols.submitted_s.astype(np.int64)
    # one point per instant (the sum after its last decision): a chart's x values must be distinct
    last = np.r_[np.flatnonzero(np.diff(x)), x.size - 1] if x.size else np.zeros(0, dtype=np.int64)
    per = {c: np.cumsum(np.where(cols.priority == c, saving, 0.0))[last].tolist() for c in classes}
    return {"x": x[last].tolist(), "total": np.cumsum(saving)[last].tolist(), "classes": per}


@dataclass(frozen=True)
class Group:
    """Totals of one repository or priority class."""

    key: str
    jobs: int
    shifted: int
    expected_g: float
    saving_g: float
    completed: int
    predicted_g_completed: float
    actual_g: float


def group_totals(cols: Columns, by: str) -> list[Group]:
    """Totals per ``by`` ("repo" or "priority"), most saving first: one ``np.unique`` and a few bincounts."""
    if by not in ("repo", "priority"):
        raise InputError(f"group by {by!r}: use repo or priority", field="by")
    if cols.n == 0:
        return []
    keys, inv = np.unique(getattr(cols, by).astype(str), return_inverse=True)
    live = cols.status != "cancelled"
    done = np.isfinite(cols.actual_g)

    def total(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.bincount(inv, weights=np.where(mask & np.isfinite(values), values, 0.0), minlength=keys.size)

    jobs = np.bincount(inv, minlength=keys.size)
    shifted = np.bincount(inv, weights=((cols.start_s - cols.submitted_s) > 0).astype(float), minlength=keys.size)
    completed = np.bincount(inv, weights=done.astype(float), minlength=keys.size)
    expected, saving = total(cols.expected_g, live), total(cols.saving_g, live)
    predicted, actual = total(cols.expected_g, done), total(cols.actual_g, done)
    out = [Group(str(keys[i]), int(jobs[i]), int(shifted[i]), float(expected[i]), float(saving[i]),
                 int(completed[i]), float(predicted[i]), float(actual[i])) for i in range(keys.size)]
    return sorted(out, key=lambda g: (-g.saving_g, g.key))


def predicted_vs_actual(cols: Columns, limit: int = 500) -> dict[str, Any]:
    """Completed jobs with an actual gCO2eq, by completion: predicted at decision time against actual."""
    done = np.flatnonzero(np.isfinite(cols.actual_g) & np.isfinite(cols.completed_s))
    done = done[np.argsort(cols.completed_s[done], kind="stable")][-limit:]
    return {"x": cols.completed_s[done].astype(np.int64).tolist(),
            "predicted": [_num(v) for v in cols.expected_g[done]], "actual": cols.actual_g[done].tolist(),
            "rows": [{"id": str(cols.id[i]), "repo": str(cols.repo[i]), "priority": str(cols.priority[i]),
                      "completed": iso(int(cols.completed_s[i])), "predicted_g": _num(cols.expected_g[i]),
                      "actual_g": float(cols.actual_g[i]),
                      "difference_g": _num(cols.actual_g[i] - cols.expected_g[i])} for i in done]}


def csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A CSV document (the download beside a chart)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue()


def replay_view(doc: Any) -> dict[str, Any]:
    """The strategy table of a ``greenci simulate -o`` summary.json, checked (an upload is untrusted)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("strategies"), list) or not doc["strategies"]:
        raise InputError("summary.json has no strategies list: upload the summary.json that greenci simulate -o DIR "
                         "wrote", field="summary")
    rows = []
    for i, s in enumerate(doc["strategies"]):
        if not isinstance(s, dict) or not isinstance(s.get("name"), str):
            raise InputError(f"summary.json strategies[{i}] has no name: upload greenci simulate's summary.json",
                             field="summary")
        row = {"name": s["name"]}
        for key in ("emissions_g", "reduction_vs_round_robin", "wait_p50_s", "wait_p95_s", "wait_max_s"):
            v = s.get(key)
            if v is not None and not (isinstance(v, (int, float)) and np.isfinite(v)):
                raise InputError(f"summary.json strategies[{i}].{key} is {v!r}, not a number", field="summary")
            row[key] = None if v is None else float(v)
        for key in ("deadline_misses", "shifted_jobs"):
            v = s.get(key)
            row[key] = int(v) if isinstance(v, (int, float)) and np.isfinite(v) else None
        rows.append(row)
    notes = [str(n) for n in doc.get("notes", []) if isinstance(n, (str, int, float))][:50]
    synthetic = bool(doc.get("synthetic_intensity")) or bool(doc.get("synthetic_jobs"))
    span = doc.get("span") if isinstance(doc.get("span"), dict) else {}
    regions = [str(r) for r in doc.get("regions", []) if isinstance(r, str)][:100]
    return {"strategies": rows, "notes": notes, "synthetic": synthetic, "jobs": doc.get("jobs"),
            "regions": regions, "span": {k: str(v) for k, v in span.items()}, "forecast": str(doc.get("forecast", ""))}
