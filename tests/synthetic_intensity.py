"""SYNTHETIC Electricity Maps yearly exports for tests: a daily sine per zone, written where a test needs it.

One generator for every test that needs intensity files without ../shared (the service, the CLI fuzz,
the bad-input regressions); every file it writes says ``synthetic`` in its data-source column.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

DIRECT = "Carbon Intensity gCO₂eq/kWh (direct)"
HEADER = ("Datetime (UTC),Country,Zone Name,Zone Id," + DIRECT + ",Carbon Intensity gCO₂eq/kWh (LCA),"
          "Low Carbon Percentage,Renewable Percentage,Data Source,Data Estimated,Data Estimation Method")


def em_yearly_csv(zone: str, *, start: str = "2022-08-01T00:00", days: int = 80, amplitude: float = 150.0,
                  phase: float = 0.0, wobble: float = 0.0, decimals: int = 1) -> str:
    """Hourly rows from ``start`` for ``days``: 300 + amplitude x sin(day fraction + phase), plus an
    optional slow ``wobble`` (a 53-hour sine) so that days differ."""
    t = np.arange(np.datetime64(start), np.datetime64(start) + np.timedelta64(days * 24, "h"), np.timedelta64(1, "h"))
    hours = np.arange(t.size)
    values = 300 + amplitude * np.sin(2 * math.pi * (hours / 24 + phase)) + wobble * np.sin(hours / 53.0)
    rows = [f"{str(ts).replace('T', ' ')}:00,S,S,{zone},{v:.{decimals}f},{v:.{decimals}f},50,40,synthetic,false,"
            for ts, v in zip(t, values, strict=True)]
    return HEADER + "\n" + "\n".join(rows) + "\n"


def write_em_folder(root: Path, zones: tuple[tuple[str, float], ...] = (("DE-LU", 0.0), ("GB", 0.4))) -> Path:
    """``root/ZONE/ZONE_2022_hourly.csv`` for each (zone, phase): the folder most tests pass to --intensity."""
    for zone, phase in zones:
        (root / zone).mkdir(parents=True, exist_ok=True)
        (root / zone / f"{zone}_2022_hourly.csv").write_text(em_yearly_csv(zone, phase=phase), encoding="utf-8")
    return root
