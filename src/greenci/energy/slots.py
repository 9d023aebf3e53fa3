"""A fixed grid of time slots and the pro-rata spreading of interval values over it (PUE, attribution).

Why one module: PUE from meters and the attribution of a node's power both compare two series sampled
at different steps, so both need the same two things: a common grid, and each interval's value (energy,
CPU seconds, covered seconds) split over the slots it overlaps in proportion to the overlap (an interval
record's value is spread evenly over its span, as its mean power says). Nothing here fills a gap: a slot
that no interval reaches gets nothing, and the callers compare covered seconds with the slot length.

The grid rule (documented for both callers): the step is the **coarser** of the two series' typical steps
(the median duration of their intervals) unless one is given, and slot boundaries are aligned on the first
interval of the coarser series, so that a coarse meter's own intervals are slots and are never cut; only
the finer series' intervals that straddle a boundary are split (pro rata to time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from greenci.bounds import MAX_DURATION_S
from greenci.errors import InputError

__all__ = ["SlotGrid", "coarser_step_s", "grid_over", "spread", "typical_step_s"]

#: a slot is "fully covered" when its covered seconds reach the step within this relative tolerance
COVER_TOLERANCE = 1e-9


@dataclass(frozen=True)
class SlotGrid:
    """Slots ``[origin_s + k * step_s, origin_s + (k + 1) * step_s)`` for ``k`` in ``0 .. n - 1`` (epoch s)."""

    origin_s: float
    step_s: float
    n: int

    @property
    def starts_s(self) -> np.ndarray:
        return self.origin_s + self.step_s * np.arange(self.n, dtype=np.float64)

    @property
    def starts(self) -> np.ndarray:
        """Slot starts as ``datetime64[ms]`` (UTC)."""
        return np.round(self.starts_s * 1000).astype("datetime64[ms]")


def typical_step_s(starts_s: np.ndarray, ends_s: np.ndarray) -> float:
    """The median duration of a series' intervals, s: its step when regular, a fair one when not."""
    return float(np.median(np.asarray(ends_s) - np.asarray(starts_s)))


def coarser_step_s(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray],
                   step_s: float | None = None) -> tuple[float, int]:
    """The grid step (given, else the coarser typical step) and which series (0 or 1) sets the alignment."""
    sa, sb = typical_step_s(*a), typical_step_s(*b)
    if step_s is not None:
        if not (isinstance(step_s, (int, float)) and math.isfinite(step_s) and 0 < step_s <= MAX_DURATION_S):
            raise InputError(f"step_s {step_s!r} must be a positive number of seconds (e.g. 900 for 15 minutes)",
                             field="step_s")
        return float(step_s), 0 if sa >= sb else 1
    return (sa, 0) if sa >= sb else (sb, 1)


def grid_over(span_start_s: float, span_end_s: float, step_s: float, anchor_s: float) -> SlotGrid:
    """The slots aligned on ``anchor_s`` that cover ``[span_start_s, span_end_s)``."""
    first = math.floor((span_start_s - anchor_s) / step_s + 1e-9)
    origin = anchor_s + first * step_s
    n = max(math.ceil((span_end_s - origin) / step_s - 1e-9), 0)
    return SlotGrid(origin_s=float(origin), step_s=float(step_s), n=int(n))


def spread(grid: SlotGrid, starts_s: np.ndarray, ends_s: np.ndarray, values: np.ndarray,
           rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interval values split over the slots they overlap, pro rata to time, summed per (row, slot).

    ``values`` is ``(m,)`` or ``(m, k)`` (k quantities spread alike, e.g. CPU seconds and wall seconds);
    ``rows`` (``(m,)`` ints, default 0) groups the intervals (one job, one meter). Returns ``(row, slot,
    amount)``, sorted by row then slot, one entry per pair that any interval reaches; what falls outside
    the grid is dropped (callers compare totals to see it). Intervals must have ``end > start``.
    """
    s = np.asarray(starts_s, dtype=np.float64)
    e = np.asarray(ends_s, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    flat = v.ndim == 1
    v2 = v[:, None] if flat else v
    r = np.zeros(s.size, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    width = v2.shape[1]
    if s.size == 0 or grid.n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0) if flat else np.zeros((0, width))
    k0 = np.floor((s - grid.origin_s) / grid.step_s).astype(np.int64)
    k1 = np.ceil((e - grid.origin_s) / grid.step_s).astype(np.int64) - 1
    k0c = np.clip(k0, 0, grid.n - 1)
    k1c = np.clip(k1, 0, grid.n - 1)
    inside = (k1 >= 0) & (k0 <= grid.n - 1) & (k1c >= k0c)
    idx = np.flatnonzero(inside)
    counts = (k1c - k0c + 1)[idx]
    rec = np.repeat(idx, counts)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    slot = k0c[rec] + (np.arange(rec.size, dtype=np.int64) - offsets)
    lo = np.maximum(s[rec], grid.origin_s + slot * grid.step_s)
    hi = np.minimum(e[rec], grid.origin_s + (slot + 1) * grid.step_s)
    share = np.clip(hi - lo, 0.0, None) / (e[rec] - s[rec])
    amounts = v2[rec] * share[:, None]
    key = r[rec] * grid.n + slot
    uniq, inverse = np.unique(key, return_inverse=True)
    out = np.stack([np.bincount(inverse, weights=amounts[:, j], minlength=uniq.size) for j in range(width)], axis=1)
    row_out, slot_out = np.divmod(uniq, grid.n)
    return row_out, slot_out, out[:, 0] if flat else out


def epoch_seconds(times: Sequence[object]) -> np.ndarray:
    """Aware datetimes as float epoch seconds (the records' edge; everything after is NumPy)."""
    return np.fromiter((t.timestamp() for t in times), dtype=np.float64, count=len(times))  # type: ignore[attr-defined]
