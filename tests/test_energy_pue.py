"""PUE from meters: synthetic facility and IT series with known answers (mixed steps, gaps, IT = 0, PUE < 1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from greenci.energy.pue import METERED_LABEL, ConstantPue, facility_kwh, metered_pue
from greenci.energy.records import EnergyRecord
from greenci.errors import GapError, InputError

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _intervals(resource: str, component: str, step_s: float, powers_w: list[float | None],
               start: datetime = T0, source: str = "synthetic") -> list[EnergyRecord]:
    """Interval records of ``step_s`` at the given mean powers (None: a missing interval)."""
    out = []
    for i, w in enumerate(powers_w):
        if w is None:
            continue
        a = start + timedelta(seconds=i * step_s)
        out.append(EnergyRecord(source, resource, a, a + timedelta(seconds=step_s), energy_kwh=w * step_s / 3.6e6,
                                power_w=w, component=component))
    return out


def test_pue_per_interval_known_answer_with_mixed_steps() -> None:
    """Facility every 15 min, IT every 5 min: the grid is 15 min and each PUE is facility / IT of that slot."""
    pues = [1.2, 1.35, 1.5, 1.1]
    it_w = [100_000.0 + 1000 * k for k in range(12)]  # 5-min steps, varying
    it = _intervals("room1", "it", 300, it_w)
    fac_w = [pues[s] * float(np.mean(it_w[3 * s: 3 * s + 3])) for s in range(4)]
    fac = _intervals("site", "facility", 900, fac_w)
    series = metered_pue(fac, it)
    assert series.grid.step_s == 900 and series.grid.n == 4
    assert series.status.tolist() == ["ok"] * 4
    np.testing.assert_allclose(series.pue, pues, rtol=1e-12)
    np.testing.assert_allclose(series.it_kwh, [sum(it_w[3 * s: 3 * s + 3]) * 300 / 3.6e6 for s in range(4)])
    assert series.label == METERED_LABEL
    assert all(row["label"] == METERED_LABEL for row in series.rows())


def test_pue_straddling_steps_split_pro_rata() -> None:
    """IT intervals of 7 min at constant power straddle the 15-min slots: split pro rata, exact for a flat load."""
    it = _intervals("rack", "total", 420, [60_000.0] * 20)  # 140 min
    fac = _intervals("site", "mains", 900, [78_000.0] * 9)  # 135 min
    series = metered_pue(fac, it)
    # the IT series reaches 5 min into a 10th slot that the facility does not cover: a gap, not filled
    assert series.grid.n == 10 and series.status.tolist() == ["ok"] * 9 + ["gap"]
    np.testing.assert_allclose(series.it_kwh[:9], 15.0, rtol=1e-12)
    np.testing.assert_allclose(series.pue[:9], 1.3, rtol=1e-12)
    assert np.isnan(series.pue[9])


def test_gaps_are_explicit_never_filled() -> None:
    it_w: list[float | None] = [100.0] * 12
    it_w[4] = None  # one missing 5-min IT interval: slot 1 is a gap
    fac_w: list[float | None] = [130.0, 130.0, None, 130.0]
    series = metered_pue(_intervals("site", "facility", 900, fac_w), _intervals("room", "it", 300, it_w))
    assert series.status.tolist() == ["ok", "gap-it", "gap-facility", "ok"]
    assert np.isnan(series.pue[1]) and np.isnan(series.pue[2])
    assert series.overall_pue == pytest.approx(1.3)


def test_it_zero_refused_and_pue_below_one_flagged_not_clamped() -> None:
    it = _intervals("room", "it", 900, [0.0, 100.0, 100.0, 100.0])
    fac = _intervals("site", "facility", 900, [50.0, 90.0, 99.0, 600.0])
    series = metered_pue(fac, it, noise=0.02)
    assert series.status.tolist() == ["no-it-energy", "below-1", "ok", "above-max"]
    assert np.isnan(series.pue[0])
    assert series.pue[1] == pytest.approx(0.9)  # kept as measured
    assert series.pue[2] == pytest.approx(0.99)  # within the meters' noise
    assert series.counts() == {"above-max": 1, "below-1": 1, "no-it-energy": 1, "ok": 1}


def test_several_meters_per_side_are_summed_and_each_must_cover() -> None:
    it = _intervals("rackA", "outlet", 300, [40.0] * 6) + _intervals("rackB", "outlet", 300, [60.0] * 3)
    fac = _intervals("feed1", "mains", 900, [70.0, 70.0]) + _intervals("feed2", "mains", 900, [60.0, 60.0])
    series = metered_pue(fac, it)
    assert series.status.tolist() == ["ok", "gap-it"]  # rackB stops after 15 min
    assert series.pue[0] == pytest.approx(130.0 / 100.0)


def test_per_component_readings_refused() -> None:
    with pytest.raises(InputError, match="'cpu'"):
        metered_pue(_intervals("site", "facility", 900, [1.0]), _intervals("n1", "cpu", 900, [1.0]))
    with pytest.raises(InputError, match="do not overlap"):
        metered_pue(_intervals("site", "facility", 900, [1.0]),
                    _intervals("n1", "it", 900, [1.0], start=T0 + timedelta(days=1)))


def test_power_readings_become_intervals_first() -> None:
    """Instantaneous readings (an IPMI log) are turned into trapezoid intervals before the grid."""
    readings = [EnergyRecord("ipmi", "node", T0 + timedelta(seconds=60 * i), T0 + timedelta(seconds=60 * i),
                             power_w=200.0, component="total") for i in range(31)]
    fac = _intervals("site", "facility", 900, [300.0, 300.0])
    series = metered_pue(fac, readings)
    np.testing.assert_allclose(series.pue, 1.5)


def test_facility_kwh_metered_and_constant_are_labelled() -> None:
    series = metered_pue(_intervals("site", "facility", 900, [120.0, 150.0, 130.0]),
                         _intervals("room", "it", 900, [100.0, 100.0, None]))
    # a job of 1 kWh spread over the last half of slot 0 and the first half of slot 1
    s = np.array([(T0 + timedelta(seconds=450)).timestamp()])
    e = np.array([(T0 + timedelta(seconds=1350)).timestamp()])
    out = facility_kwh(series, s, e, [1.0])
    assert out.facility_kwh[0] == pytest.approx(0.5 * 1.2 + 0.5 * 1.5)
    assert out.label == "pue: metered per interval"
    const = facility_kwh(ConstantPue(1.3), s, e, [1.0])
    assert const.facility_kwh[0] == pytest.approx(1.3) and const.label == "pue: constant 1.3 (assumed)"
    # slot 2 is a gap: refused, unless a constant fallback is given (and said)
    late = np.array([(T0 + timedelta(seconds=1900)).timestamp()])
    with pytest.raises(GapError, match="gap-it"):
        facility_kwh(series, late, late + 60, [1.0])
    fb = facility_kwh(series, late, late + 60, [1.0], fallback=ConstantPue(1.4))
    assert fb.facility_kwh[0] == pytest.approx(1.4)
    assert "constant 1.4 (assumed) in 1 interval" in fb.label
    with pytest.raises(GapError, match="outside"):
        facility_kwh(series, late + 3600, late + 3660, [1.0])


def test_given_step_and_bad_noise() -> None:
    it = _intervals("room", "it", 300, [100.0] * 12)
    fac = _intervals("site", "facility", 300, [125.0] * 12)
    series = metered_pue(fac, it, step_s=1800)
    assert series.grid.n == 2 and series.pue.tolist() == pytest.approx([1.25, 1.25])
    with pytest.raises(InputError, match="noise"):
        metered_pue(fac, it, noise=2.0)
