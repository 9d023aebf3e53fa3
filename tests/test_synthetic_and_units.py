"""The synthetic default grid and duration parsing."""

from __future__ import annotations

import numpy as np
import pytest

from greenci.errors import InputError
from greenci.synthetic import PROFILES, synthetic_grid
from greenci.units import parse_duration_s


def test_synthetic_grid_is_labelled_deterministic_and_regional() -> None:
    a = synthetic_grid(hours=24 * 14, seed=3)
    b = synthetic_grid(hours=24 * 14, seed=3)
    assert a.synthetic and all("synthetic" in s for s in a.sources)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.isnan(a.values).any() and (a.values > 0).all()
    means = dict(zip(a.regions, a.values.mean(axis=1), strict=True))
    assert means["CA-ON"] < means["GB"] < means["DE-LU"] < means["ZA"]


def test_synthetic_solar_dip_is_around_local_noon() -> None:
    grid = synthetic_grid(["US-CAL-CISO"], hours=24 * 60, seed=1)
    hours_utc = (grid.times.astype(np.int64) // 3600) % 24
    by_hour = np.array([grid.values[0][hours_utc == h].mean() for h in range(24)])
    local_noon_utc = (12 - PROFILES["US-CAL-CISO"].utc_offset_h) % 24
    assert abs(int(np.argmin(by_hour)) - local_noon_utc) <= 2


def test_synthetic_unknown_region_names_the_choices() -> None:
    with pytest.raises(InputError, match="DE-LU"):
        synthetic_grid(["Atlantis"])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5400", 5400), (90, 90), ("90m", 5400), ("1h30m", 5400), ("2h", 7200), ("1d", 86400),
     ("PT1H30M", 5400), ("45s", 45), ("1.5h", 5400), ("10min", 600)],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-5", "0", "1h-", "h", "inf"])
def test_parse_duration_refuses_nonsense(text: str) -> None:
    with pytest.raises(InputError, match="duration"):
        parse_duration_s(text)
