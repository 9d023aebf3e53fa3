"""A documented synthetic carbon-intensity model: greenci's built-in default when no data is given.

It is **synthetic**: every grid it makes has ``synthetic=True`` and every output made from it says so.
It exists so that greenci runs on a fresh machine with no files and no network, with the shapes that
matter for scheduling: regions differ in level, solar power lowers intensity around local noon, and
wind spells lower it for hours to days at random.

For region r and slot start t (UTC), with local solar hour ``h = t + utc_offset_h``::

    solar(t)  = max(0, sin(pi * (h - 6) / 12))             # 0 at night, 1 at local noon
    wind(t)   = sum over spells of a smooth bump (0..1) of random start, length 6..48 h, depth 0.4..1
    noise(t)  = exponentially smoothed Gaussian noise (time constant 3 h), unit variance
    value(t)  = mean * (1 - solar_depth * solar(t)) * (1 - wind_depth * min(wind(t), 1))
                * (1 + spread * noise(t)), clipped at 5 % of the mean

The regional parameters below are round numbers of the order of published annual averages for each
grid zone; they are illustrative, not measurements of any grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from greenci.errors import InputError
from greenci.grid import IntensityGrid
from greenci.timeutil import iso, to_datetime64

MODEL_NAME = "greenci-synthetic-v1"
DEFAULT_START = "2022-10-12T00:00:00Z"


@dataclass(frozen=True)
class RegionProfile:
    """Parameters of one synthetic region."""

    mean_g_per_kwh: float
    spread: float
    solar_depth: float
    wind_depth: float
    utc_offset_h: float


PROFILES: dict[str, RegionProfile] = {
    "AU-NSW": RegionProfile(620, 0.06, 0.30, 0.15, 10),
    "AU-VIC": RegionProfile(750, 0.06, 0.20, 0.25, 10),
    "BR-SP": RegionProfile(60, 0.15, 0.10, 0.10, -3),
    "CA-ON": RegionProfile(40, 0.25, 0.05, 0.15, -5),
    "CL-SIC": RegionProfile(280, 0.08, 0.45, 0.10, -4),
    "DE-LU": RegionProfile(380, 0.08, 0.25, 0.40, 1),
    "GB": RegionProfile(200, 0.10, 0.15, 0.45, 0),
    "IN-WE": RegionProfile(650, 0.04, 0.15, 0.10, 5.5),
    "JP-TK": RegionProfile(470, 0.05, 0.15, 0.05, 9),
    "KR": RegionProfile(430, 0.05, 0.08, 0.05, 9),
    "SG": RegionProfile(470, 0.02, 0.03, 0.0, 8),
    "US-CAL-CISO": RegionProfile(230, 0.08, 0.50, 0.15, -8),
    "US-MIDA-PJM": RegionProfile(380, 0.05, 0.05, 0.15, -5),
    "US-NY-NYIS": RegionProfile(250, 0.06, 0.05, 0.10, -5),
    "US-TEX-ERCO": RegionProfile(380, 0.08, 0.25, 0.40, -6),
    "ZA": RegionProfile(700, 0.04, 0.08, 0.08, 2),
}


def synthetic_grid(regions: list[str] | tuple[str, ...] | None = None, *, start: object = DEFAULT_START,
                   hours: float = 72, step_s: int = 3600, seed: int = 0) -> IntensityGrid:
    """A labelled synthetic grid for ``regions`` (default: all 16 profiles) over ``hours`` from ``start``."""
    names = tuple(regions) if regions else tuple(PROFILES)
    unknown = [r for r in names if r not in PROFILES]
    if unknown:
        raise InputError(
            f"no synthetic profile for region(s) {', '.join(unknown)}: choose from {', '.join(PROFILES)} "
            "or give real intensity data (files or an API source)"
        )
    if step_s <= 0 or hours <= 0:
        raise InputError(f"hours {hours} and step_s {step_s} must be positive")
    t0 = to_datetime64(start)
    t0 = np.datetime64(int(t0.astype(np.int64) // step_s * step_s), "s")
    n = int(np.ceil(hours * 3600 / step_s))
    t_h = (t0.astype(np.int64) + np.arange(n) * step_s) / 3600.0
    rng = np.random.default_rng(seed)
    values = np.vstack([_region_values(PROFILES[r], t_h, step_s, rng) for r in names])
    return IntensityGrid(
        regions=names, start=t0, step_s=step_s, values=values, signal="average", synthetic=True,
        sources=(f"synthetic:{MODEL_NAME} seed={seed} from {iso(t0)}",),
    )


def _region_values(p: RegionProfile, t_h: np.ndarray, step_s: int, rng: np.random.Generator) -> np.ndarray:
    local = (t_h + p.utc_offset_h) % 24.0
    solar = np.clip(np.sin(np.pi * (local - 6.0) / 12.0), 0.0, None)
    wind = _wind_spells(t_h, rng)
    noise = _smooth_noise(t_h.size, step_s, rng)
    v = p.mean_g_per_kwh * (1 - p.solar_depth * solar) * (1 - p.wind_depth * wind) * (1 + p.spread * noise)
    return np.maximum(v, 0.05 * p.mean_g_per_kwh)


def _wind_spells(t_h: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sum of smooth bumps: spells arrive about every 3 days, last 6..48 h, reach depth 0.4..1."""
    span = t_h[-1] - t_h[0] + 48.0
    count = rng.poisson(span / 72.0) + 1
    starts = t_h[0] - 24.0 + rng.uniform(0, span, count)
    lengths = rng.uniform(6.0, 48.0, count)
    depths = rng.uniform(0.4, 1.0, count)
    phase = (t_h[None, :] - starts[:, None]) / lengths[:, None]
    bumps = np.where((phase > 0) & (phase < 1), np.sin(np.pi * np.clip(phase, 0, 1)) ** 2, 0.0)
    return np.minimum((bumps * depths[:, None]).sum(axis=0), 1.0)


def _smooth_noise(n: int, step_s: int, rng: np.random.Generator, tau_h: float = 3.0) -> np.ndarray:
    """Unit-variance noise with an exponential memory of ``tau_h`` hours (AR(1) by convolution)."""
    a = float(np.exp(-step_s / 3600.0 / tau_h))
    white = rng.standard_normal(n + 64)
    kernel = a ** np.arange(min(n + 64, int(np.ceil(10 * tau_h * 3600 / step_s)) + 1))
    smooth = np.convolve(white, kernel)[: n + 64][64:]
    return smooth * np.sqrt(1 - a * a)


class SyntheticIntensity:
    """The synthetic model as an intensity source: any region it has a profile for, over any span."""

    name = "the synthetic model (SYNTHETIC)"

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)

    def intensity_over(self, region: str, start_s: int, end_s: int) -> IntensityGrid:
        """An hour either side of ``[start_s, end_s)``, labelled synthetic."""
        return synthetic_grid([region], start=np.datetime64(int(start_s) - 3600, "s"),
                              hours=(int(end_s) - int(start_s)) / 3600 + 2, seed=self.seed)
