"""Raw API points into an :class:`~greenci.grid.IntensitySeries`: the checks every intensity client needs.

Fields present, times sorted and de-duplicated (the newest revision wins, with a warning), implausible
values (negative, not finite, above the bound) and empty answers refused with the API's name, the
region, the item and the field in the message.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from greenci.accounting import Signal
from greenci.errors import DataFormatError, SourceError
from greenci.grid import IntensitySeries
from greenci.http import number_or_nan
from greenci.sources.tables import check_plausible
from greenci.timeutil import iso

logger = logging.getLogger("greenci.sources.points")


class ImplausibleValueError(DataFormatError, SourceError):
    """An API answered with an intensity that cannot be real (negative, not finite, above the bound).

    A format error in the answer, naming the API, the item and the field; and a failed source, so that
    a fallback chain answers instead of deciding on it (exit code 4, as for any source failure).
    """

    exit_code = SourceError.exit_code


def intensity_or_gap(value: Any, where: str) -> float:
    """A JSON intensity as float: null is a gap (NaN); NaN or infinity written by the API is refused."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ImplausibleValueError(f"{value!r} is not a finite number: the API answered a value that cannot be "
                                    "an intensity; try again later or use another source", path=where)
    return number_or_nan(value, where)


def check_intensities(values: np.ndarray, where: Callable[[int], str],
                      written: Callable[[int], str | None] = lambda i: None) -> None:
    """Refuse a negative value or one above the plausibility bound; ``where(i)`` names item ``i``'s field."""
    check_plausible(np.asarray(values, dtype=np.float64),
                    lambda message, i: ImplausibleValueError(message, path=where(i)), written)


def series_from_points(region: str, times: np.ndarray, values: Sequence[float] | np.ndarray, *,
                       signal: Signal, source: str, span: str,
                       estimated: Sequence[bool] | np.ndarray | None = None,
                       before: np.datetime64 | None = None) -> IntensitySeries:
    """An IntensitySeries from raw points: sorted, identical points merged, emptiness refused.

    ``before`` drops points at or after it, for APIs whose range end is inclusive while greenci
    spans are half-open ``[start, end)``.

    Points sharing a timestamp with different values keep the later one in the response order
    (the API's newest revision) and log a warning, because chunked requests may overlap while a
    value is revised between them.
    """
    t = np.asarray(times).astype("datetime64[s]")
    v = np.asarray(values, dtype=np.float64)
    e = None if estimated is None else np.asarray(estimated, dtype=bool)
    if before is not None:
        inside = t < before
        t, v = t[inside], v[inside]
        e = None if e is None else e[inside]
    if t.size == 0:
        raise SourceError(f"{source}: no data for {region} {span}: check the region name and the time span")
    if np.isinf(v).any():
        i = int(np.flatnonzero(np.isinf(v))[0])
        raise ImplausibleValueError(f"{region} value at {iso(t[i])} is not finite: the API answered a value that "
                                    "cannot be an intensity; try again later or use another source", path=source)
    check_intensities(v, lambda i: f"{source} {region} value at {iso(t[i])}")
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    if e is not None:
        e = e[order]
    same = t[1:] == t[:-1]
    if same.any():
        a, b = v[:-1][same], v[1:][same]
        conflicts = ~((a == b) | (np.isnan(a) & np.isnan(b)))
        if conflicts.any():
            k = int(np.flatnonzero(same)[np.flatnonzero(conflicts)[0]])
            logger.warning("%s: %s has %d timestamps with two values (first %s: %g vs %g); keeping the later",
                           source, region, int(conflicts.sum()), iso(t[k]), v[k], v[k + 1])
        keep = np.ones(t.size, dtype=bool)
        keep[:-1] = ~same  # last of each run of equal times
        t, v = t[keep], v[keep]
        if e is not None:
            e = e[keep]
    if not np.isfinite(v).any():
        raise SourceError(f"{source}: no values for {region} {span}: every point is null (no measurement yet)")
    return IntensitySeries(region=region, times=t, values_g_per_kwh=v, signal=signal, source=source,
                           estimated=e, kind=source.split(":", 1)[0])
