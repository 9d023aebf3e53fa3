"""Measure a command: what ``greenci measure`` calls. Intensity files are read here, at the edge, so the
meter takes a grid in and never reads a file (DESIGN.md: measurement takes intensity in)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

from greenci.energy.meter import MeasureOptions, MeasureResult, run_measured
from greenci.energy.records import RecordSink
from greenci.errors import InputError
from greenci.grid import IntensityGrid


def intensity_for(files: Sequence[str | os.PathLike[str]], region: str | None) -> IntensityGrid:
    """The grid of one region from intensity files (the only region they hold when ``region`` is None)."""
    from greenci.sources import read_intensity

    series = read_intensity(list(files))
    regions = sorted({s.region for s in series})
    if region is None:
        if len(regions) != 1:
            raise InputError(f"the intensity files hold regions {', '.join(regions)}: choose one with region",
                             field="region")
        region = regions[0]
    chosen = [s for s in series if s.region == region]
    if not chosen:
        raise InputError(f"region {region!r} is not in the intensity files: they hold {', '.join(regions)}",
                         field="region")
    return IntensityGrid.from_series(chosen)


def measure_command(command: Sequence[str], options: MeasureOptions | None = None, *,
                    intensity_files: Sequence[str | os.PathLike[str]] = (),
                    sink: RecordSink | None = None) -> MeasureResult:
    """Run and measure ``command``; with ``intensity_files`` its emissions use their intensity over the run."""
    opts = options or MeasureOptions()
    if intensity_files:
        if opts.intensity_g_per_kwh is not None:
            raise InputError("give either intensity_g_per_kwh or intensity files, not both",
                             field=("intensity_g_per_kwh", "intensity"))
        opts = replace(opts, intensity=intensity_for(intensity_files, opts.region))
    return run_measured(command, opts, sink=sink)
