"""The reference study ("Carbon-Awareness in CI/CD", 2023), set up for reproduction.

The study replayed 7,392 GitHub Actions runs in 12 regions (Europe, North America, Australia) over
2022-10-12 .. 2022-10-16 and reported emissions relative to round-robin. Its regions and runs are not
public; greenci uses the 9 Electricity Maps zones of the shared data in those continents plus JP-TK, KR
and SG, and either generated runs (labelled synthetic) or real histories a user imports.

One difference matters for the figures: the study used WattTime *marginal* intensity, the shared data
is Electricity Maps *average* intensity, whose spread between regions is much wider (CA-ON's hydro and
nuclear grid is ~10x cleaner than the mean). Location shifting therefore saves far more here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from greenci.errors import InputError
from greenci.grid import IntensityGrid
from greenci.timeutil import iso, to_datetime64

STUDY_REGIONS: tuple[str, ...] = (
    "AU-NSW", "AU-VIC", "CA-ON", "DE-LU", "GB", "US-CAL-CISO", "US-MIDA-PJM", "US-NY-NYIS", "US-TEX-ERCO",
    "JP-TK", "KR", "SG",
)
STUDY_STRATEGIES: tuple[str, ...] = ("round-robin", "location", "lts-1", "lts-3", "lts-6", "oracle", "greenci")
# Reductions vs round-robin reported by the paper (its Section 5.2), for side-by-side tables only.
STUDY_REDUCTIONS: dict[str, float] = {"location": 0.2531, "lts-1": 0.2859, "lts-3": 0.3120, "lts-6": 0.3120}
HISTORY_DAYS = 56


def study_runs(days: float) -> int:
    """7,392 runs over the study's 4 days; other spans keep the same rate."""
    return max(1, int(round(7392 * days / 4.0)))


def load_intensity_grid(paths: Sequence[Path], regions: Sequence[str], start: object, end: object, *,
                        read_series: Callable[[Sequence[Path]], list], history_days: float = HISTORY_DAYS,
                        tail_h: float = 48.0) -> IntensityGrid:
    """The regions' grid from files, cut to ``[start - history, end + tail]`` where the data allows.

    The history before ``start`` feeds the forecast models; the tail lets the last runs finish.
    """
    series = [s for s in read_series(paths) if s.region in set(regions)]
    found = {s.region for s in series}
    missing = [r for r in regions if r not in found]
    if missing:
        raise InputError(
            f"intensity for region(s) {', '.join(missing)} was not found in {', '.join(map(str, paths))}: "
            "give files or a folder holding them, or choose regions among those present"
        )
    grid = IntensityGrid.from_series(series).select(list(regions))
    t0, t1 = to_datetime64(start), to_datetime64(end)
    lo = max(t0 - np.timedelta64(int(history_days * 86400), "s"), grid.start)
    hi = min(t1 + np.timedelta64(int(tail_h * 3600), "s"), grid.end)
    if t0 < grid.start or t1 > grid.end:
        raise InputError(
            f"the span {iso(t0)} .. {iso(t1)} is not inside the intensity data ({iso(grid.start)} .. {iso(grid.end)}): "
            "choose start and days inside it, or give intensity files for that period"
        )
    return grid.between(lo, hi)
