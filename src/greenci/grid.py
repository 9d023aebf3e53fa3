"""Carbon-intensity series and the regions x time-slots grid every decision is made on.

An :class:`IntensitySeries` is what a reader returns: one region's timestamps and values as the source
gave them. An :class:`IntensityGrid` puts many series on one fixed UTC step and one span, so a
window search is a handful of array operations for all regions at once.

Conventions (see DESIGN.md): a value covers its whole slot ``[t, t + step)``; gaps are NaN, reported,
and filled only by an explicit policy; the signal kind (average or marginal) travels with the data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from greenci.accounting import Signal, check_signal, same_signal
from greenci.errors import GapError, InputError
from greenci.timeutil import iso, to_datetime64

FillPolicy = Literal["hold", "linear"]
SpanPolicy = Literal["common", "union"]
_DT = "datetime64[s]"


@dataclass(frozen=True, eq=False)
class IntensitySeries:
    """One region's carbon intensity as read from a source (gCO2eq/kWh, UTC timestamps).

    ``kind`` says what produced the values: the file format and value column (``electricitymaps_csv
    direct``) or the API. Series of one region are joined only when they are of one kind and one step
    (successive years of one export), never across sources; ``""`` (unknown) joins with any kind.
    """

    region: str
    times: np.ndarray
    values_g_per_kwh: np.ndarray
    signal: Signal = "average"
    source: str = ""
    synthetic: bool = False
    estimated: np.ndarray | None = None
    kind: str = ""

    def __post_init__(self) -> None:
        times = np.asarray(self.times).astype(_DT)
        values = np.asarray(self.values_g_per_kwh, dtype=np.float64)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "values_g_per_kwh", values)
        if self.estimated is not None:
            estimated = np.asarray(self.estimated, dtype=bool)
            if estimated.shape != values.shape:
                raise InputError(f"{self.source}: estimated flags have shape {estimated.shape}, values {values.shape}")
            object.__setattr__(self, "estimated", estimated)
        check_signal(self.signal)
        if not self.region:
            raise InputError(f"{self.source or 'series'}: region is empty: name the grid zone, e.g. DE-LU")
        if times.shape != values.shape or times.ndim != 1:
            raise InputError(f"{self.source}: times and values must be 1-D of the same length")
        if times.size == 0:
            raise InputError(f"{self.source}: series for {self.region} has no rows")
        if np.any(np.diff(times.astype(np.int64)) <= 0):
            bad = int(np.flatnonzero(np.diff(times.astype(np.int64)) <= 0)[0]) + 1
            raise InputError(
                f"{self.source}: {self.region} time {iso(times[bad])} does not follow {iso(times[bad - 1])}: "
                "timestamps must strictly increase (sort the file and drop duplicates)"
            )
        if np.isinf(values).any():
            bad = int(np.flatnonzero(np.isinf(values))[0])
            raise InputError(f"{self.source}: {self.region} value at {iso(times[bad])} is infinite: give a finite "
                             "intensity or leave the cell empty for a gap")
        finite = values[np.isfinite(values)]
        if finite.size and finite.min() < 0:
            bad = int(np.flatnonzero(values < 0)[0])
            raise InputError(f"{self.source}: {self.region} value at {iso(times[bad])} is a negative intensity "
                             f"({values[bad]:g}): correct it or leave it empty for a gap")

    def step_s(self) -> int:
        """The finest regular step every timestamp lies on: the GCD of the spacings, in seconds.

        For a series that changes step (30 min, then 15 min) this is the finer one; the coarser values
        are held over their own span by :meth:`regular`.
        """
        if self.times.size < 2:
            raise InputError(f"{self.source}: {self.region} has one row, so its step is unknown")
        diffs = np.diff(self.times.astype(np.int64))
        step = int(np.gcd.reduce(diffs))
        if step < 60 or diffs.sum() // step > 50 * diffs.size:
            raise InputError(
                f"{self.source}: {self.region} timestamps share no regular step (finest common spacing {step} s): "
                "resample the source to a fixed step first"
            )
        return step

    def hold_s(self) -> int:
        """How long one value lasts: the most common spacing (a longer spacing is a gap after that)."""
        diffs = np.diff(self.times.astype(np.int64))
        uniq, counts = np.unique(diffs, return_counts=True)
        return int(uniq[np.argmax(counts)]) if diffs.size else 0

    def regular(self, step_s: int | None = None) -> tuple[np.datetime64, np.ndarray]:
        """Values on a regular step from the first timestamp.

        Each value covers the time up to the next timestamp, but never longer than the series' most
        common spacing: beyond that the slots are gaps (NaN).
        """
        step = step_s or self.step_s()
        secs = self.times.astype(np.int64)
        offsets = secs - secs[0]
        off_grid = offsets % step != 0
        if np.any(off_grid):
            bad = int(np.flatnonzero(off_grid)[0])
            raise InputError(
                f"{self.source}: {self.region} time {iso(self.times[bad])} is off the {step} s step that "
                f"starts at {iso(self.times[0])}: resample the source to a fixed step first"
            )
        hold = max(self.hold_s(), step) if secs.size > 1 else step
        idx = offsets // step
        last = min(hold, int(offsets[-1] - offsets[-2])) if offsets.size > 1 else hold  # no data past the end
        cover = np.minimum(np.diff(np.r_[offsets, offsets[-1] + last]), hold) // step
        out = np.full(int(idx[-1] + cover[-1]), np.nan)
        for k in range(int(cover.max())):
            use = cover > k
            out[idx[use] + k] = self.values_g_per_kwh[use]
        return self.times[0], out

    def estimated_share(self) -> float:
        """Share of values the source flagged as estimated (0 when it flags none)."""
        return float(np.mean(self.estimated)) if self.estimated is not None and self.estimated.size else 0.0


@dataclass(frozen=True)
class RegionGaps:
    """Where a region's series has no value."""

    region: str
    slots: int
    gap_slots: int
    longest_gap_slots: int
    first_gap: str | None

    @property
    def gap_share(self) -> float:
        return self.gap_slots / self.slots if self.slots else 0.0


@dataclass(frozen=True)
class RegionSummary:
    """Descriptive statistics of one region of a grid."""

    region: str
    start: str
    end: str
    step_s: int
    slots: int
    mean_g_per_kwh: float
    min_g_per_kwh: float
    max_g_per_kwh: float
    gap_share: float
    greenest_hours_utc: tuple[int, ...]
    signal: str
    synthetic: bool


@dataclass(frozen=True)
class BestWindow:
    """The cleanest start found for one job."""

    region: str
    start: np.datetime64
    duration_s: float
    mean_g_per_kwh: float
    emissions_g_per_kw: float


_NO_NAN = np.zeros((1, 1), dtype=bool)
_SIGNALS = frozenset({"average", "marginal"})


class WindowEngine:
    """Integrals of piecewise-constant series over ``[t0, t1)``, from prefix sums: the one window-cost engine.

    Why one: the grid's best-window search, the kernel's candidate costs (on actual intensity and on
    forecasts) and the accounting must agree to the last bit on the same rule (a value covers its
    whole slot; a partial slot counts pro rata; a window touching a gap is unknown).

    ``values`` is ``blocks x slots x columns`` (or ``slots x columns`` for one block), slot-major so
    that one window in every column (region) is one contiguous row. Positions ``t`` are in slots from
    the start of their block. Before 0 a window is unknown (NaN); past the last slot it is unknown too,
    unless ``hold_last`` (forecasts: the last value is held beyond the horizon). Integrals are in
    value x slots: multiply by the slot length in hours and by kW for grams.
    """

    __slots__ = ("_g", "_s", "_v", "_xpad", "blocks", "has_gaps", "hold_last", "last_nan", "n_columns", "n_slots",
                 "width")

    def __init__(self, values: np.ndarray, *, hold_last: bool = False, labels: Sequence[str] = ()) -> None:
        v = values if type(values) is np.ndarray and values.dtype == np.float64 else np.asarray(values, np.float64)
        self.hold_last = hold_last
        self._g = self._xpad = None
        self.last_nan = _NO_NAN
        if v.ndim == 2 and v.shape[0]:  # one block (a grid): the hot path of a best-window search, few calls
            n, c = v.shape
            self.blocks, self.n_slots, self.n_columns, self.width = 1, n, c, n + 1
            s = np.empty((n + 1, c))
            s[0] = 0.0
            np.add.accumulate(v, axis=0, out=s[1:])
            self._v, self._s = v[None], s
            # a NaN (or inf) makes a total so; a short row is checked without NumPy's reduction overhead
            self.has_gaps = not all(map(math.isfinite, s[n].tolist())) if c <= 64 else not math.isfinite(s[n].sum())
        else:
            if v.ndim != 3 or v.shape[1] == 0:
                raise InputError(f"window values must be (blocks x) slots x columns with at least one slot, "
                                 f"got shape {np.shape(values)}")
            b, n, c = v.shape
            self.blocks, self.n_slots, self.n_columns, self.width = b, n, c, n + 1
            # rows: block k's prefix sums are rows k*width .. k*width + n (row k*width is 0)
            s = np.empty((b * (n + 1), c))
            s3 = s.reshape(b, n + 1, c)
            s3[:, 0] = 0.0
            np.add.accumulate(v, axis=1, out=s3[:, 1:])
            self._v, self._s = v, s
            self.has_gaps = not math.isfinite(float(s3[:, n].sum()))
        if self.has_gaps:
            self._count_gaps(labels)

    def _count_gaps(self, labels: Sequence[str]) -> None:
        """Prefix sums with gaps as 0, and prefix counts of gaps (a window touching one is unknown)."""
        v = self._v
        b, n, c = v.shape
        if np.isinf(v).any():
            col = int(np.flatnonzero(np.isinf(v).any(axis=(0, 1)))[0])
            name = labels[col] if col < len(labels) else f"column {col}"
            raise InputError(f"region {name} has an infinite intensity: give finite numbers, and leave a value out "
                             "to mark a gap")
        nan = np.isnan(v)
        self.last_nan = nan[:, n - 1].copy()
        self._v = np.where(nan, 0.0, v)
        s3 = self._s.reshape(b, self.width, c)
        np.add.accumulate(self._v, axis=1, out=s3[:, 1:])
        g = np.zeros((b * self.width, c), dtype=np.int64)
        np.add.accumulate(nan, axis=1, dtype=np.int64, out=g.reshape(b, self.width, c)[:, 1:])
        self._g = g

    @property
    def _x(self) -> np.ndarray:
        """Values (gaps as 0) on the prefix sums' rows: each block padded with one row past its end,
        0 (nothing beyond the data) or, with ``hold_last``, the last value. Built on first use."""
        if self._xpad is None:
            b, n, c = self._v.shape
            x = np.empty((b * self.width, c))
            x3 = x.reshape(b, self.width, c)
            x3[:, :n] = self._v
            x3[:, n] = self._v[:, n - 1] if self.hold_last else 0.0
            self._xpad = x
        return self._xpad

    # -------------------------------------------------------------- arbitrary windows (the kernel)
    def _bounds(self, block: np.ndarray | int, t0: np.ndarray, t1: np.ndarray) -> tuple[np.ndarray, ...]:
        n = self.n_slots
        bad = t0 < 0
        if not self.hold_last:
            bad |= t1 > n + 1e-9
        a = np.minimum(np.maximum(t0, 0.0), n)  # np.clip's dispatch costs more than these two on small arrays
        b = np.maximum(t1, 0.0) if self.hold_last else np.minimum(np.maximum(t1, 0.0), n)
        fa = np.minimum(a.astype(np.int64), n)  # a >= 0: truncation is floor
        fb = np.minimum(b.astype(np.int64), n)
        base = np.asarray(block, dtype=np.int64) * self.width
        return bad, a, b, fa, fb, base

    def all_columns(self, block: np.ndarray | int, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """Integral over ``[t0, t1)`` in every column at once: shape ``t0.shape + (columns,)``.

        ``block`` broadcasts against ``t0`` (e.g. ``(J, 1)`` for ``(J, W)`` windows).
        """
        bad, a, b, fa, fb, base = self._bounds(block, t0, t1)
        ra, rb = base + fa, base + fb
        s, x = self._s, self._x
        val = (s[rb] + (b - fb)[..., None] * x[rb]) - (s[ra] + (a - fa)[..., None] * x[ra])
        bad = bad[..., None]
        if self.hold_last and self.has_gaps:
            bad = bad | ((b > self.n_slots)[..., None] & self.last_nan[np.broadcast_to(block, b.shape)])
        if self._g is not None:
            cb = np.minimum(np.ceil(b - 1e-9).astype(np.int64), self.n_slots)
            bad = bad | ((self._g[base + np.maximum(cb, fa)] - self._g[ra]) > 0)
        return np.where(bad, np.nan, val)

    def columns(self, block: np.ndarray | int | None, cols: np.ndarray, t0: np.ndarray,
                t1: np.ndarray) -> np.ndarray:
        """Integral over ``[t0, t1)`` in column ``cols`` of each window (all arguments broadcast)."""
        bad, a, b, fa, fb, base = self._bounds(0 if block is None else block, t0, t1)
        ra, rb = base + fa, base + fb
        s, x = self._s, self._x
        val = (s[rb, cols] + (b - fb) * x[rb, cols]) - (s[ra, cols] + (a - fa) * x[ra, cols])
        if self.hold_last and self.has_gaps:
            bad = bad | ((b > self.n_slots) & self.last_nan[np.asarray(0 if block is None else block), cols])
        if self._g is not None:
            cb = np.minimum(np.ceil(b - 1e-9).astype(np.int64), self.n_slots)
            bad = bad | ((self._g[base + np.maximum(cb, fa), cols] - self._g[ra, cols]) > 0)
        return np.where(bad, np.nan, val)

    # -------------------------------------------------------------- every slot-boundary start (the grid)
    def slot_starts(self, whole: int, frac: float) -> tuple[np.ndarray, np.ndarray | None]:
        """Integral of a ``whole + frac`` slot window from every slot boundary of block 0 that fits.

        Returns ``(starts x columns, mask of windows touching a gap or None when there is no gap)``: the
        same formula as :meth:`all_columns`, read with slices instead of gathers.
        """
        n = self.n_slots
        tail = 1 if frac > 0 else 0
        k = n - whole - tail + 1
        s = self._s
        cost = s[whole:whole + k] - s[:k]
        if tail:
            cost += frac * self._v[0, whole:whole + k]
        bad = None
        if self._g is not None:
            g = self._g
            bad = (g[whole + tail:whole + tail + k] - g[:k]) > 0
        return cost, bad


@dataclass(frozen=True, eq=False)
class IntensityGrid:
    """Carbon intensity for ``regions`` x ``n_slots`` slots of ``step_s`` seconds from ``start`` (UTC).

    ``values[r, i]`` covers ``[start + i*step, start + (i+1)*step)``; NaN marks a gap.
    """

    regions: tuple[str, ...]
    start: np.datetime64
    step_s: int
    values: np.ndarray
    signal: Signal = "average"
    synthetic: bool = False
    sources: tuple[str, ...] = ()
    filled: str | None = None

    def __post_init__(self) -> None:
        values = np.array(self.values, dtype=np.float64)  # own copy: the prefix-sum cache must not go stale
        values.setflags(write=False)
        if values.ndim != 2 or values.shape[0] != len(self.regions):
            raise InputError(
                f"values must be regions x slots, got shape {values.shape} for {len(self.regions)} regions")
        if len(self.regions) > 1 and len(set(self.regions)) != len(self.regions):
            raise InputError(f"regions {self.regions} repeat a name: each region appears once")
        if int(self.step_s) <= 0:
            raise InputError(f"step_s {self.step_s} must be a positive number of seconds")
        start = np.datetime64(self.start, "s")
        # frozen: set through __dict__ (one call); infinities are refused by the window engine (free there);
        # start_s is derived, not a field, so it is never stale
        self.__dict__.update(values=values, start=start, step_s=int(self.step_s), start_s=int(start.view(np.int64)))
        if self.signal not in _SIGNALS:
            check_signal(self.signal)

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_series(cls, series: Sequence[IntensitySeries], *, step_s: int | None = None,
                    span: SpanPolicy = "common") -> IntensityGrid:
        """Put series on one step and one span.

        Series of the same region (e.g. two yearly files) are joined. The step defaults to the finest
        of the series; coarser series are held, finer ones averaged. ``span="common"`` keeps the span
        every region covers, ``"union"`` pads with NaN gaps.
        """
        if not series:
            raise InputError("no intensity series given: pass at least one file or source")
        signal = same_signal(*(s.signal for s in series))
        by_region: dict[str, list[IntensitySeries]] = {}
        for s in series:
            by_region.setdefault(s.region, []).append(s)
        joined = [_join(parts) for parts in by_region.values()]
        steps = [s.step_s() for s in joined]
        firsts = [int(s.times[0].astype(np.int64)) for s in joined]
        if step_s is None:
            target = int(np.gcd.reduce(np.array(steps + [f - firsts[0] for f in firsts[1:]] or steps, np.int64)))
            target = target or min(steps)
        else:
            target = int(step_s)
        rows = []
        for s, own in zip(joined, steps, strict=True):
            t0, vals = s.regular(own)
            rows.append(_resample_row(t0, vals, own, target, s.region))
        starts = [r[0].astype(np.int64) for r in rows]
        ends = [r[0].astype(np.int64) + r[1].size * target for r in rows]
        if span == "common":
            lo, hi = max(starts), min(ends)
            if hi <= lo:
                raise InputError(
                    "the series share no common span: "
                    + ", ".join(f"{s.region} {iso(np.datetime64(int(a), 's'))}..{iso(np.datetime64(int(b), 's'))}"
                                for s, a, b in zip(joined, starts, ends, strict=True))
                    + "; give intensity files that cover the same period"
                )
        elif span == "union":
            lo, hi = min(starts), max(ends)
        else:
            raise InputError(f"span {span!r} is unknown: use 'common' or 'union'")
        n = (hi - lo) // target
        values = np.full((len(rows), n), np.nan)
        for i, (t0, vals) in enumerate(rows):
            delta = t0.astype(np.int64) - lo
            if delta % target:
                raise InputError(
                    f"{joined[i].region} starts at {iso(t0)}, off the {target} s step of the grid: give a step "
                    f"that divides both (e.g. {int(np.gcd(delta, target))} s)", field="step_s"
                )
            off = delta // target
            a, b = max(off, 0), min(off + vals.size, n)
            values[i, a:b] = vals[a - off:b - off]
        return cls(
            regions=tuple(s.region for s in joined),
            start=np.datetime64(int(lo), "s"),
            step_s=target,
            values=values,
            signal=signal,
            synthetic=any(s.synthetic for s in series),
            sources=tuple(dict.fromkeys(s.source for s in series)),
        )

    # ----------------------------------------------------------------- shape and time
    @property
    def n_slots(self) -> int:
        return int(self.values.shape[1])

    @property
    def end(self) -> np.datetime64:
        """First instant after the grid (exclusive end)."""
        return self.start + np.timedelta64(self.n_slots * self.step_s, "s")

    @property
    def times(self) -> np.ndarray:
        """Start of every slot."""
        return self.start + np.arange(self.n_slots) * np.timedelta64(self.step_s, "s")

    def region_index(self, region: str) -> int:
        try:
            return self.regions.index(region)
        except ValueError:
            raise InputError(f"region {region!r} is not in the grid: choose one of {', '.join(self.regions)}") from None

    def slot_at(self, t: object) -> int:
        """Index of the slot containing time ``t`` (may be outside 0..n_slots-1)."""
        secs = int(to_datetime64(t).astype(np.int64)) - self.start_s
        return int(secs // self.step_s)

    def select(self, regions: Sequence[str]) -> IntensityGrid:
        idx = [self.region_index(r) for r in regions]
        return replace(self, regions=tuple(regions), values=self.values[idx])

    def between(self, start: object = None, end: object = None) -> IntensityGrid:
        """The slots whose start lies in ``[start, end)``."""
        a = 0 if start is None else max(-(-(to_datetime64(start).astype(np.int64)
                                             - self.start_s) // self.step_s), 0)
        b = self.n_slots if end is None else min(-(-(to_datetime64(end).astype(np.int64)
                                                       - self.start_s) // self.step_s), self.n_slots)
        if b <= a:
            raise InputError(f"the span {start}..{end} holds no slot of the grid ({iso(self.start)}..{iso(self.end)})")
        return replace(self, start=self.start + np.timedelta64(a * self.step_s, "s"),
                       values=self.values[:, a:b])

    def resample(self, step_s: int) -> IntensityGrid:
        """The grid on another step: held when finer, averaged (gaps kept) when coarser."""
        rows = [_resample_row(self.start, row, self.step_s, int(step_s), r)
                for r, row in zip(self.regions, self.values, strict=True)]
        t0 = rows[0][0]
        width = min(r[1].size for r in rows)
        return replace(self, start=t0, step_s=int(step_s), values=np.vstack([r[1][:width] for r in rows]))

    # ----------------------------------------------------------------- gaps
    def gaps(self) -> list[RegionGaps]:
        out = []
        for region, row in zip(self.regions, self.values, strict=True):
            nan = np.isnan(row)
            first = int(np.argmax(nan)) if nan.any() else None
            out.append(RegionGaps(region, row.size, int(nan.sum()), _longest_run(nan),
                                  None if first is None else iso(self.times[first])))
        return out

    def has_gaps(self) -> bool:
        return bool(np.isnan(self.values).any())

    def fill(self, policy: FillPolicy) -> IntensityGrid:
        """Fill gaps by an explicit policy: ``hold`` the last value, or ``linear`` interpolation.

        Leading gaps take the first value; a region with no value at all cannot be filled.
        """
        if policy not in ("hold", "linear"):
            raise InputError(f"fill policy {policy!r} is unknown: use 'hold' or 'linear'")
        values = self.values.copy()
        idx = np.arange(self.n_slots)
        for r, row in enumerate(values):
            ok = ~np.isnan(row)
            if not ok.any():
                raise GapError(f"region {self.regions[r]} has no value at all in {iso(self.start)}..{iso(self.end)}: "
                               "it cannot be filled; leave the region out, or give an intensity file that covers "
                               "this span")
            if ok.all():
                continue
            if policy == "linear":
                row[~ok] = np.interp(idx[~ok], idx[ok], row[ok])
            else:
                last = np.maximum.accumulate(np.where(ok, idx, -1))
                first_ok = int(np.argmax(ok))
                last[last < 0] = first_ok
                values[r] = row[last]
        return replace(self, values=values, filled=policy)

    # ----------------------------------------------------------------- windows
    @property
    def windows(self) -> WindowEngine:
        """The grid's window-cost engine (slot-major prefix sums), built on first use.

        Cached on the instance, not a field: ``dataclasses.replace`` (select, between, fill, ...) makes a
        new grid whose engine is built from its own values, so no cache can go stale. (A plain dict
        lookup: ``functools.cached_property`` takes a lock, which costs more than the lookup itself.)
        """
        cache = self.__dict__
        engine = cache.get("_windows")
        if engine is None:
            engine = cache["_windows"] = WindowEngine(self.values.T, labels=self.regions)
        return engine

    def _window_slot_sums(self, duration_s: float) -> tuple[np.ndarray, np.ndarray | None]:
        """Sum of value x slot weight for every start (n_starts x regions), and where a gap is used.

        The mask is None when the grid has no gap. Multiply by ``step_s / 3600 * power_kw`` for grams.
        """
        whole, frac = self._split_duration(duration_s)
        if self.n_slots - whole - (1 if frac > 0 else 0) + 1 <= 0:
            raise InputError(
                f"duration {duration_s} s is longer than the grid ({self.n_slots * self.step_s} s): "
                "give a longer intensity series or a shorter job"
            )
        return self.windows.slot_starts(whole, frac)

    def window_emissions_g(self, duration_s: float, power_kw: float = 1.0) -> np.ndarray:
        """Emissions (g) of a job drawing ``power_kw`` for ``duration_s``, for every start, every region.

        Returns ``regions x n_starts``; column ``i`` is the start of slot ``i``; only starts whose
        window ends inside the grid are returned. A partial last slot counts pro rata. A window that
        touches a gap is NaN. Computed from prefix sums: O(regions x slots) whatever the duration.
        """
        cost, bad = self._window_slot_sums(duration_s)
        cost = cost * (self.step_s / 3600.0 * power_kw)
        if bad is not None:
            cost[bad] = np.nan
        return cost.T

    def window_mean_g_per_kwh(self, duration_s: float) -> np.ndarray:
        """Mean intensity over every window (regions x n_starts), NaN where the window has a gap."""
        return self.window_emissions_g(duration_s) / (duration_s / 3600.0)

    def _split_duration(self, duration_s: float) -> tuple[int, float]:
        duration_s = float(duration_s)
        if not math.isfinite(duration_s) or duration_s <= 0:
            raise InputError(f"duration {duration_s} s must be a positive number of seconds")
        slots = duration_s / self.step_s
        whole = math.floor(slots + 1e-9)
        frac = slots - whole
        if frac < 1e-9:
            frac = 0.0
        return whole, frac

    def best_window(self, duration_s: float, *, earliest: object = None, latest_start: object = None,
                    power_kw: float = 1.0) -> BestWindow:
        """The cleanest slot-boundary start in ``[earliest, latest_start]`` over all regions."""
        cost, bad = self._window_slot_sums(duration_s)
        t0 = self.start_s
        a = 0 if earliest is None else max(-(-(int(to_datetime64(earliest).astype(np.int64)) - t0) // self.step_s), 0)
        b = cost.shape[0] if latest_start is None else min(self.slot_at(latest_start) + 1, cost.shape[0])
        if b <= a:
            raise InputError(
                f"no allowed start lets the job finish inside the intensity data ({iso(self.start)}.."
                f"{iso(self.end)}): allow later starts, or give an intensity series that reaches further"
            )
        sub = cost if a == 0 and b == cost.shape[0] else cost[a:b]
        if bad is not None:
            sub_bad = bad[a:b]
            if sub_bad.all():
                gaps = [g for g in self.gaps() if g.gap_slots]
                where = "; ".join(f"{g.region} from {g.first_gap} ({g.gap_slots} of {g.slots} slots missing)"
                                  for g in gaps[:3])
                raise GapError(
                    f"every candidate start leads to a window that touches a gap in the intensity data ({where}): "
                    "choose a start and deadline in a span without gaps, or give another intensity file or "
                    "source that covers it")
            sub = np.where(sub_bad | np.isnan(sub), np.inf, sub)  # NaN also from inf - inf
        i, r = divmod(int(sub.argmin()), sub.shape[1])  # start-major: the earliest start wins a tie
        emissions = float(sub[i, r]) * (self.step_s / 3600.0) * power_kw
        return BestWindow(
            region=self.regions[r],
            start=np.datetime64(t0 + (a + i) * self.step_s, "s"),
            duration_s=float(duration_s),
            mean_g_per_kwh=emissions / power_kw / (duration_s / 3600.0),
            emissions_g_per_kw=emissions / power_kw,
        )

    # ----------------------------------------------------------------- description
    def summary(self, greenest: int = 3) -> list[RegionSummary]:
        hours = (self.times.astype(np.int64) // 3600) % 24
        out = []
        for gap, region, row in zip(self.gaps(), self.regions, self.values, strict=True):
            ok = ~np.isnan(row)
            if ok.any():
                sums = np.bincount(hours[ok], weights=row[ok], minlength=24)
                counts = np.bincount(hours[ok], minlength=24)
                with np.errstate(invalid="ignore", divide="ignore"):
                    by_hour = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
                green = tuple(int(h) for h in np.argsort(by_hour, kind="stable")[:greenest] if counts[h] > 0)
                mean, lo, hi = float(row[ok].mean()), float(row[ok].min()), float(row[ok].max())
            else:
                green, mean, lo, hi = (), float("nan"), float("nan"), float("nan")
            out.append(RegionSummary(
                region=region, start=iso(self.start), end=iso(self.end), step_s=self.step_s,
                slots=self.n_slots, mean_g_per_kwh=mean, min_g_per_kwh=lo, max_g_per_kwh=hi,
                gap_share=gap.gap_share, greenest_hours_utc=green, signal=self.signal,
                synthetic=self.synthetic,
            ))
        return out


def _join(parts: list[IntensitySeries]) -> IntensitySeries:
    """One series per region: parts are concatenated; identical overlaps are dropped, conflicts refused.

    Parts must come from one source: successive years of one export join, but two sources for one region
    (another format or value column, another step, another signal) are refused, naming both files.
    """
    if len(parts) == 1:
        return parts[0]
    _check_one_source(parts)
    times = np.concatenate([p.times for p in parts])
    values = np.concatenate([p.values_g_per_kwh for p in parts])
    flags = np.concatenate([p.estimated if p.estimated is not None else np.zeros(p.times.size, bool) for p in parts])
    order = np.argsort(times, kind="stable")
    times, values, flags = times[order], values[order], flags[order]
    dup = np.flatnonzero(np.diff(times.astype(np.int64)) == 0)
    if dup.size:
        a, b = values[dup], values[dup + 1]
        differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
        if differ.any():
            k = int(dup[np.flatnonzero(differ)[0]])
            raise InputError(
                f"{parts[0].region}: sources {', '.join(p.source for p in parts)} disagree at {iso(times[k])} "
                f"({a[differ][0]} vs {b[differ][0]}): give one source per region and period"
            )
        keep = np.ones(times.size, bool)
        keep[dup + 1] = False
        times, values, flags = times[keep], values[keep], flags[keep]
    first = parts[0]
    any_flags = any(p.estimated is not None for p in parts)
    return IntensitySeries(first.region, times, values, first.signal, " + ".join(p.source for p in parts),
                           any(p.synthetic for p in parts), flags if any_flags else None,
                           next((p.kind for p in parts if p.kind), ""))


def _check_one_source(parts: list[IntensitySeries]) -> None:
    """Refuse parts of one region that come from different sources, steps or signals."""
    def step(p: IntensitySeries) -> int:
        return p.hold_s() if p.times.size > 1 else 0

    def what(p: IntensitySeries) -> str:
        bits = [b for b in (p.kind, p.signal, _step_text(step(p)) if step(p) else "") if b]
        return f"{p.source or 'a series'} ({', '.join(bits)})"

    first = parts[0]
    for other in parts[1:]:
        reason = ""
        if other.signal != first.signal:
            reason = "one is average, the other marginal intensity"
        elif first.kind and other.kind and other.kind != first.kind:
            reason = "they are different sources (format or value column)"
        elif step(first) and step(other) and step(first) != step(other):
            reason = f"their steps differ ({_step_text(step(first))} vs {_step_text(step(other))})"
        if reason:
            raise InputError(
                f"region {first.region} is given twice, by {what(first)} and by {what(other)}, and {reason}: "
                "merged into one row they would be a mix no source published; give one of the two files "
                "for this region (successive years of one source may be given together)"
            )


def _step_text(step_s: int) -> str:
    if step_s % 3600 == 0:
        return f"{step_s // 3600} h steps"
    if step_s % 60 == 0:
        return f"{step_s // 60} min steps"
    return f"{step_s} s steps"


def _resample_row(t0: np.datetime64, row: np.ndarray, step: int, target: int,
                  region: str) -> tuple[np.datetime64, np.ndarray]:
    """One region's regular values on another step (hold when finer, strict mean when coarser)."""
    if target == step:
        return np.datetime64(t0, "s"), row
    if step % target == 0:
        return np.datetime64(t0, "s"), np.repeat(row, step // target)
    if target % step == 0:
        k = target // step
        start = t0.astype(np.int64)
        aligned = -(-start // target) * target  # first coarse boundary at or after t0
        if (aligned - start) % step:
            raise InputError(
                f"{region}: {step} s values stamped from {iso(np.datetime64(int(start), 's'))} straddle the "
                f"{target} s boundaries, so no {target} s slot is a mean of whole values: keep the {step} s step "
                "or resample the source file onto clock-aligned steps"
            )
        skip = (aligned - start) // step
        usable = (row.size - skip) // k
        if usable <= 0:
            raise InputError(f"{region}: series is shorter than one {target} s slot")
        block = row[skip:skip + usable * k].reshape(usable, k)
        return np.datetime64(int(aligned), "s"), block.mean(axis=1)  # NaN in a block keeps the slot NaN
    raise InputError(
        f"{region}: step {step} s cannot be resampled to {target} s: choose a step that divides or is "
        f"a multiple of {step} s (e.g. {np.gcd(step, target)} s)"
    )


def _longest_run(mask: np.ndarray) -> int:
    if not mask.any():
        return 0
    padded = np.concatenate([[0], mask.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max())
