"""GAIA cluster job traces (umassos/GAIA ``src/cluster_traces``): delay-tolerant batch work at scale.

Why: about 100,000 jobs a year per trace is the scale benchmark for the scheduler and the
simulator, and a stand-in for batch work that can wait (nightly builds, large test matrices).

Columns: ``arrival_time`` (hours since the trace start), ``length`` (hours), ``cpus`` (cores).
Mapping: submitted = ``start`` + arrival (rounded to the second), duration = length x 3600 s,
repo = the trace name (file name without ``-100k``), workflow = event = ``"batch"``, ids =
``<trace>:<row>``. ``power_kw`` = cpus x :data:`GAIA_W_PER_CPU` / 1000: **10 W per CPU** by default,
a round figure for one busy server core (a 2-socket server with 64 cores draws some 400-700 W under
load, 6-11 W a core); pass ``w_per_cpu`` to change it. The traces carry no timestamps of their own,
so ``start`` (default 2022-01-01T00:00Z, inside the shared intensity data) is a choice, noted in the
table.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import numpy as np

from greenci.errors import InputError
from greenci.timeutil import iso, to_datetime64
from greenci.traces.records import TraceReadResult
from greenci.traces.tables import (
    ABSURD_DURATION_S,
    csv_layout,
    first_reason,
    numbers,
    read_csv_text,
    require_columns,
    row_problems,
    short_reason,
    sorted_result,
)

PathLike = str | os.PathLike[str]

GAIA_W_PER_CPU = 10.0
DEFAULT_START = "2022-01-01T00:00:00Z"
REQUIRED = ("arrival_time", "length", "cpus")
#: rows beyond these are a broken number, not a job: left out and reported
MAX_ARRIVAL_H = 100 * 365 * 24.0
MAX_CPUS = 1_000_000


def read_gaia(path: PathLike, *, start: object = DEFAULT_START, name: str | None = None,
              w_per_cpu: float = GAIA_W_PER_CPU) -> TraceReadResult:
    """Read one GAIA trace; ``start`` is the UTC time of hour 0 (the traces have no dates)."""
    if not w_per_cpu > 0:
        raise InputError(f"w_per_cpu {w_per_cpu} must be > 0 watts per CPU, e.g. 10")
    path_s = os.fspath(path)
    t0 = int(to_datetime64(start).astype(np.int64))
    trace = name or re.sub(r"-\d+k$", "", os.path.splitext(os.path.basename(path_s))[0])
    df = read_csv_text(path, as_text=False)
    require_columns(df, REQUIRED, path, "gaia")
    n = len(df)
    arrival_h = numbers(df["arrival_time"])
    length_h = numbers(df["length"])
    cpus = numbers(df["cpus"])
    rows, cells, width = csv_layout(path, n)
    raw = {c: df[c].to_numpy(dtype=object) for c in REQUIRED}

    def bad(col: str, what: str) -> Callable[[np.ndarray], list[str]]:
        return lambda idx: [f"{col} {raw[col][i]!r} is not {what}" for i in idx]

    with np.errstate(invalid="ignore"):
        reasons = first_reason(n, [
            short_reason(cells, width),
            (~(np.isfinite(arrival_h) & (arrival_h >= 0) & (arrival_h <= MAX_ARRIVAL_H)),
             bad("arrival_time", f"a number of hours from 0 to {MAX_ARRIVAL_H:,.0f} (100 years)")),
            (~(np.isfinite(length_h) & (length_h > 0)), bad("length", "a number of hours > 0")),
            (length_h > ABSURD_DURATION_S / 3600.0,
             bad("length", f"a plausible number of hours (at most {ABSURD_DURATION_S // 3600:,}, 2 years)")),
            (~(np.isfinite(cpus) & (cpus > 0) & (cpus <= MAX_CPUS)), bad("cpus", f"a number of CPUs > 0 and at "
                                                                         f"most {MAX_CPUS:,}")),
        ])
    ok = reasons == ""
    keep = np.flatnonzero(ok)
    problems = row_problems(path_s, rows[~ok], reasons[~ok])
    submitted = t0 + np.rint(arrival_h[keep] * 3600.0).astype(np.int64)
    notes = [
        f"GAIA trace {trace}: {keep.size:,} jobs; hour 0 placed at {iso(np.datetime64(t0, 's'))} (a choice: the "
        f"trace has no dates); power = {w_per_cpu:g} W per CPU",
    ]
    if problems:
        notes.append(f"{len(problems):,} row(s) of {os.path.basename(path_s)} left out: see problems")
    columns = dict(
        submitted_s=submitted, duration_s=length_h[keep] * 3600.0,
        repo=np.full(keep.size, trace, dtype=object), workflow=np.full(keep.size, "batch", dtype=object),
        ids=np.char.add(f"{trace}:", (rows[keep] - 2).astype(str)).astype(object),
        event=np.full(keep.size, "batch", dtype=object), power_kw=cpus[keep] * w_per_cpu / 1000.0,
        source=f"gaia:{os.path.basename(path_s)}", notes=tuple(notes),
    )
    return sorted_result(columns, conclusion=np.full(keep.size, "", dtype=object), problems=problems,
                          formats={path_s: "gaia"})


__all__ = ["DEFAULT_START", "GAIA_W_PER_CPU", "read_gaia"]
