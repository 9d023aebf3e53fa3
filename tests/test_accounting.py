"""Hand-computed cases for :mod:`greenci.accounting` (kWh, PUE, gCO2eq, exact profile integrals)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenci.accounting import (
    Footprint,
    check_pue,
    check_signal,
    emissions_g,
    energy_kwh,
    facility_energy_kwh,
    footprint,
    profile_emissions_g,
    pue,
    same_signal,
)
from greenci.errors import GapError, InputError, SignalMismatchError

T0 = np.datetime64("2024-03-01T00:00:00", "s")


def _t(*seconds: float) -> np.ndarray:
    return np.array(seconds, dtype=float)


# ------------------------------------------------------------------ energy (trapezoid)
def test_constant_100_w_for_one_hour_is_0_1_kwh() -> None:
    assert energy_kwh(_t(0, 3600), _t(100, 100)) == pytest.approx(0.1)
    # more samples on the same line give the same answer
    assert energy_kwh(_t(0, 600, 1800, 3600), _t(100, 100, 100, 100)) == pytest.approx(0.1)


def test_ramp_0_to_200_w_over_one_hour_is_0_1_kwh() -> None:
    assert energy_kwh(_t(0, 3600), _t(0, 200)) == pytest.approx(0.1)


def test_trapezoid_piecewise_by_hand() -> None:
    # 0..30 min at 60 W -> 120 W (ramp): 0.5 * (60 + 120) * 1800 J = 162000 J
    # 30..60 min flat 120 W: 120 * 1800 = 216000 J; total 378000 J = 0.105 kWh
    assert energy_kwh(_t(0, 1800, 3600), _t(60, 120, 120)) == pytest.approx(0.105)


def test_energy_with_datetime64_times() -> None:
    times = T0 + np.array([0, 1800, 3600]) * np.timedelta64(1, "s")
    assert energy_kwh(times, _t(100, 100, 100)) == pytest.approx(0.1)
    ms = times.astype("datetime64[ms]")
    assert energy_kwh(ms, _t(0, 100, 200)) == pytest.approx(0.1)


def test_energy_of_fewer_than_two_samples_is_zero() -> None:
    assert energy_kwh(_t(5), _t(100)) == 0.0
    assert energy_kwh(_t(), _t()) == 0.0


@pytest.mark.parametrize(
    ("times", "power", "match"),
    [
        (_t(0, 10), _t(1, 2, 3), "same length"),
        (_t(0, 10), _t(1, -2), "negative"),
        (_t(0, 10), _t(1, math.nan), "finite"),
        (_t(0, 10, 10), _t(1, 2, 3), "strictly increase"),
        (_t(10, 0), _t(1, 2), "strictly increase"),
    ],
)
def test_energy_refuses_bad_profiles(times: np.ndarray, power: np.ndarray, match: str) -> None:
    with pytest.raises(InputError, match=match):
        energy_kwh(times, power)


# ------------------------------------------------------------------ PUE, facility energy, emissions
def test_pue_is_facility_over_it() -> None:
    assert pue(150.0, 100.0) == pytest.approx(1.5)
    assert pue(100.0, 100.0) == 1.0


def test_pue_below_one_raises_and_names_the_floor() -> None:
    with pytest.raises(InputError, match=r"1\.0"):
        pue(90.0, 100.0)
    with pytest.raises(InputError, match=r"1\.0"):
        check_pue(0.95)
    with pytest.raises(InputError):
        check_pue(math.nan)
    with pytest.raises(InputError):
        check_pue(math.inf)
    with pytest.raises(InputError, match="it_power_w"):
        pue(100.0, 0.0)


def test_facility_energy() -> None:
    assert facility_energy_kwh(2.0, 1.5) == pytest.approx(3.0)
    assert facility_energy_kwh(2.0) == 2.0
    with pytest.raises(InputError, match=r"1\.0"):
        facility_energy_kwh(2.0, 0.8)
    with pytest.raises(InputError, match="it_energy_kwh"):
        facility_energy_kwh(-1.0, 1.2)


def test_emissions() -> None:
    assert emissions_g(0.5, 400.0) == pytest.approx(200.0)
    assert emissions_g(0.0, 400.0) == 0.0
    with pytest.raises(InputError, match="energy_kwh"):
        emissions_g(-0.1, 400.0)
    with pytest.raises(InputError, match="intensity_g_per_kwh"):
        emissions_g(0.1, math.nan)


def test_signals() -> None:
    assert check_signal("marginal") == "marginal"
    with pytest.raises(InputError, match="average"):
        check_signal("mean")
    assert same_signal("average", "average") == "average"
    with pytest.raises(SignalMismatchError):
        same_signal("average", "marginal")


# ------------------------------------------------------------------ Footprint
def test_footprint_applies_pue() -> None:
    f = footprint(2.0, 300.0, pue_value=1.25)
    # facility 2.0 * 1.25 = 2.5 kWh; 2.5 kWh * 300 g/kWh = 750 g
    assert (f.energy_kwh, f.facility_energy_kwh, f.emissions_g, f.pue, f.signal) == \
        (2.0, 2.5, pytest.approx(750.0), 1.25, "average")
    with pytest.raises(InputError):
        footprint(1.0, 100.0, signal="median")  # type: ignore[arg-type]


def test_footprint_addition() -> None:
    a = footprint(1.0, 100.0)  # 1 kWh facility, 100 g
    b = footprint(1.0, 300.0, pue_value=1.5)  # 1.5 kWh facility, 450 g
    s = a + b
    assert s.energy_kwh == pytest.approx(2.0)
    assert s.facility_energy_kwh == pytest.approx(2.5)
    assert s.emissions_g == pytest.approx(550.0)
    assert s.pue == pytest.approx(1.25)  # energy-weighted: 2.5 / 2.0
    assert s.signal == "average"


def test_footprint_addition_refuses_mixed_signals() -> None:
    a = footprint(1.0, 100.0, signal="average")
    b = footprint(1.0, 100.0, signal="marginal")
    with pytest.raises(SignalMismatchError):
        _ = a + b


def test_adding_zero_energy_footprints_keeps_a_valid_pue() -> None:
    """0 kWh + 0 kWh must not produce PUE 0.0 (below the 1.0 floor)."""
    z = footprint(0.0, 100.0, pue_value=1.2)
    s = z + z
    assert s.energy_kwh == 0.0 and s.emissions_g == 0.0
    assert s.pue == pytest.approx(1.2)
    assert (Footprint(0.0, 0.0, 0.0, "average") + Footprint(0.0, 0.0, 0.0, "average")).pue >= 1.0


# ------------------------------------------------------------------ profile over a piecewise-constant series
def test_profile_ramp_crossing_a_slot_boundary() -> None:
    # Slots: [0, 3600) at 200 g/kWh, [3600, 7200) at 400 g/kWh.
    # Power ramps linearly 0 W at t=1800 -> 1000 W at t=5400, i.e. p(t) = (t - 1800) / 3.6 W.
    # At the boundary t=3600 the power is 500 W.
    # Piece [1800, 3600]: 0.5 * (0 + 500) W * 1800 s = 450 000 J = 0.125 kWh; x 200 = 25 g.
    # Piece [3600, 5400]: 0.5 * (500 + 1000) W * 1800 s = 1 350 000 J = 0.375 kWh; x 400 = 150 g.
    # Exact total: 175 g. (The whole-run energy 0.5 kWh at the start slot's 200 would give 100 g, and at
    # the time-average 300 g/kWh 150 g: both wrong, because the power is higher in the dirtier slot.)
    got = profile_emissions_g(_t(1800, 5400), _t(0, 1000), _t(0, 3600), 3600, _t(200, 400))
    assert got == pytest.approx(175.0, rel=1e-12)


def test_profile_with_datetime64_and_several_samples() -> None:
    # Slots of 15 min at 100, 300, 200 g/kWh from T0. Power samples at 0, 10, 40 min: 600, 1200, 0 W.
    # [0, 10 min]: 0.5 * (600 + 1200) * 600 s = 540 000 J in slot 0 -> 0.15 kWh * 100 = 15 g
    # [10, 15 min]: p(15 min) = 1200 - 1200 * 5/30 = 1000 W; 0.5 * (1200 + 1000) * 300 = 330 000 J
    #               -> 0.091666.. kWh * 100 = 9.1666.. g
    # [15, 30 min]: p(30 min) = 400 W; 0.5 * (1000 + 400) * 900 = 630 000 J -> 0.175 kWh * 300 = 52.5 g
    # [30, 40 min]: 0.5 * (400 + 0) * 600 = 120 000 J -> 0.0333.. kWh * 200 = 6.666.. g
    # total = 15 + 9.1666.. + 52.5 + 6.666.. = 83.3333.. g
    minute = np.timedelta64(60, "s")
    times = T0 + np.array([0, 10, 40]) * minute
    slots = T0 + np.array([0, 15, 30]) * minute
    got = profile_emissions_g(times, _t(600, 1200, 0), slots, 900, _t(100, 300, 200))
    assert got == pytest.approx(15 + 330_000 / 3.6e6 * 100 + 52.5 + 120_000 / 3.6e6 * 200, rel=1e-12)
    assert got == pytest.approx(83.0 + 1 / 3, rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.floats(0, 1000), min_size=1, max_size=6),
    power=st.lists(st.floats(0, 5000), min_size=2, max_size=6),
    data=st.data(),
)
def test_profile_matches_fine_midpoint_integration(values: list[float], power: list[float],
                                                   data: st.DataObject) -> None:
    """Against a dense numerical integral (power linear, intensity constant per slot)."""
    step = 600.0
    span = step * len(values)
    cuts = sorted(data.draw(st.lists(st.integers(0, int(span)), min_size=len(power), max_size=len(power),
                                     unique=True)))
    t = np.array(cuts, dtype=float)
    p = np.array(power)
    got = profile_emissions_g(t, p, np.arange(len(values)) * step, step, np.array(values))
    # midpoint rule on 1-second cells is exact here: every breakpoint is a whole second, and on each
    # cell power is linear and intensity constant
    mids = np.arange(t[0], t[-1]) + 0.5
    want = float(np.sum(np.interp(mids, t, p) * np.array(values)[(mids // step).astype(int)]) / 3.6e6)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_profile_on_one_slot_equals_energy_times_intensity() -> None:
    t, p = _t(100, 200, 900), _t(50, 250, 80)
    assert profile_emissions_g(t, p, _t(0), 3600, _t(321.0)) == pytest.approx(energy_kwh(t, p) * 321.0)


def test_profile_of_one_sample_is_zero() -> None:
    assert profile_emissions_g(_t(10), _t(100), _t(0), 3600, _t(200)) == 0.0


@pytest.mark.parametrize(
    "times",
    [_t(-10, 1800), _t(1800, 7201), _t(7200, 7300), _t(-500, -100)],
    ids=["starts-before", "ends-after", "entirely-after", "entirely-before"],
)
def test_profile_outside_the_series_raises(times: np.ndarray) -> None:
    with pytest.raises(InputError, match="outside the intensity series"):
        profile_emissions_g(times, _t(100, 100), _t(0, 3600), 3600, _t(200, 400))


def test_profile_ending_exactly_at_the_series_end_is_inside() -> None:
    assert profile_emissions_g(_t(0, 7200), _t(1000, 1000), _t(0, 3600), 3600, _t(200, 400)) == \
        pytest.approx(600.0)


def test_profile_in_a_gap_raises_gap_error() -> None:
    with pytest.raises(GapError, match="no value at 1970-01-01T01:00:00Z, inside the run: choose a start time"):
        profile_emissions_g(_t(1800, 5400), _t(100, 100), _t(0, 3600), 3600, _t(200, math.nan))
    # a gap the profile does not reach is fine
    assert profile_emissions_g(_t(0, 1800), _t(1000, 1000), _t(0, 3600), 3600, _t(200, math.nan)) == \
        pytest.approx(100.0)


def test_profile_in_a_hole_between_non_contiguous_slots_is_outside() -> None:
    """Slots at 0 h, 1 h and 3 h (step 1 h): nothing covers [2 h, 3 h), so a run there has no intensity."""
    with pytest.raises((InputError, GapError)):
        profile_emissions_g(_t(7300, 7400), _t(1000, 1000), _t(0, 3600, 10800), 3600, _t(1, 2, 3))
