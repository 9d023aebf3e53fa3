"""The power model, the TDP table, tree CPU accounting and the energy integral on recorded samples.

Oracles are hand computations: each test states the watts per interval it expects.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from greenci.energy.cpu_tdp import DEFAULT_W_PER_THREAD, cpu_model_name, cpu_power, lookup_tdp
from greenci.energy.meter import MeasureOptions, MethodChoice, build_result
from greenci.energy.power_model import (
    PowerModel,
    cpu_energy_from_usage,
    profile_from_samples,
    ram_energy_from_usage,
)
from greenci.energy.rapl import RaplDomain
from greenci.energy.records import UsageRecord
from greenci.energy.sampling import GpuReading, ProcTimes, Sample, TreeCpuCounter, cpu_delta_s, snapshot_tree
from greenci.errors import InputError
from greenci.synthetic import synthetic_grid

MODEL = PowerModel(cpu_tdp_w=100.0, logical_cpus=2)


# ====================================================================== TDP table
@pytest.mark.parametrize(("name", "key", "tdp"), [
    ("Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz", "xeon platinum 8380", 270),
    ("AMD EPYC 7763 64-Core Processor", "epyc 7763", 280),
    ("12th Gen Intel(R) Core(TM) i7-12700K", "core i7-12700k", 125),
    ("12th Gen Intel(R) Core(TM) i7-12700", "core i7-12700", 65),
    ("AMD Ryzen 7 5800U with Radeon Graphics", "ryzen 7 5800u", 15),
    ("Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz", "xeon e5-2686 v4", 145),
])
def test_tdp_table_matches_the_longest_key_at_word_boundaries(name: str, key: str, tdp: float) -> None:
    entry = lookup_tdp(name)
    assert entry is not None and entry.key == key and entry.tdp_w == tdp


def test_unknown_cpu_gets_the_documented_default_and_a_vm_gets_its_share() -> None:
    assert lookup_tdp("AMD EPYC") is None
    default = cpu_power("AMD EPYC", 2)
    assert default.tdp_w == 2 * DEFAULT_W_PER_THREAD and "default" in default.source
    vm = cpu_power("Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz", 8)
    assert vm.tdp_w == pytest.approx(270 * 8 / 80)
    two_sockets = cpu_power("AMD EPYC 7763 64-Core Processor", 256)
    assert two_sockets.tdp_w == pytest.approx(560)
    given = cpu_power("anything", 4, override_tdp_w=65)
    assert given.tdp_w == 65 and "--cpu-tdp-w" in given.source
    with pytest.raises(InputError, match="positive"):
        cpu_power("x", 2, override_tdp_w=0)


def test_cpu_model_name_reads_cpuinfo(tmp_path) -> None:  # noqa: ANN001
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6248 CPU\n")
    assert cpu_model_name(info) == "Intel(R) Xeon(R) Gold 6248 CPU"


# ====================================================================== the model
def test_linear_curve_from_idle_to_tdp() -> None:
    assert MODEL.cpu_power_w(0.0) == pytest.approx(12.0)
    assert MODEL.cpu_power_w(1.0) == pytest.approx(100.0)
    assert MODEL.cpu_power_w(0.5) == pytest.approx(56.0)
    assert MODEL.cpu_power_w(3.0) == pytest.approx(100.0)  # clipped
    assert MODEL.ram_power_w(8e9) == pytest.approx(3.0)  # 0.375 W/GB x 8 GB
    with pytest.raises(InputError, match="idle_fraction"):
        PowerModel(cpu_tdp_w=100, logical_cpus=2, idle_fraction=1.5)


def _samples(cpu: list[float], rss: list[float], **extra: list) -> list[Sample]:
    out = []
    for i, (c, r) in enumerate(zip(cpu, rss, strict=True)):
        fields = {k: v[i] for k, v in extra.items()}
        out.append(Sample(t_s=float(fields.pop("t_s", i)), tree_cpu_s=c, rss_bytes=int(r), **fields))
    return out


def test_model_integral_on_recorded_samples() -> None:
    # 2 logical CPUs, 1 s intervals, CPU seconds used 1, 0.5, 2 -> u = 0.5, 0.25, 1.0
    samples = _samples([0, 1, 1.5, 3.5], [0, 2e9, 2e9, 4e9])
    profile = profile_from_samples(samples, MODEL)
    assert profile.cpu_w == pytest.approx([56.0, 34.0, 100.0])
    assert profile.ram_w == pytest.approx([0.375, 0.75, 1.125])  # mean GB 1, 2, 3
    assert profile.energy_kwh("cpu") == pytest.approx(190 / 3.6e6)
    assert profile.energy_kwh("ram") == pytest.approx(2.25 / 3.6e6)
    assert profile.energy_kwh() == pytest.approx(192.25 / 3.6e6)


def test_uneven_intervals_and_zero_length_ones() -> None:
    samples = _samples([0, 0.5, 0.5, 2.5], [0, 0, 0, 0], t_s=[0.0, 0.5, 0.5, 2.5])
    profile = profile_from_samples(samples, MODEL)
    assert profile.dt_s == pytest.approx([0.5, 2.0])  # the repeated instant is dropped
    assert profile.share == pytest.approx([0.5, 0.5])
    assert profile.energy_kwh("cpu") == pytest.approx(56.0 * 2.5 / 3.6e6)


def test_rapl_attribution_with_wraparound_on_recorded_samples() -> None:
    max_uj = 10_000_000
    # package energy per interval: 8 J, 3 J (the counter wraps), 1 J
    counters = [1_000_000, 9_000_000, 9_000_000 + 3_000_000 - max_uj, 3_000_000]
    busy = [100.0, 102.0, 103.0, 103.0]  # machine busy seconds: +2, +1, +0
    tree = [0.0, 1.0, 3.0, 3.0]  # tree CPU seconds: +1, +2, +0
    samples = [Sample(float(i), tree[i], 0, busy[i], (counters[i],)) for i in range(4)]
    profile = profile_from_samples(samples, MODEL, method="rapl", rapl_ranges_uj=[max_uj])
    # shares: 1/2, min(2/1, 1) = 1, no busy and no tree time -> 0
    assert profile.share == pytest.approx([0.5, 1.0, 0.0])
    assert profile.cpu_w == pytest.approx([4.0, 3.0, 0.0])
    with pytest.raises(InputError, match="RAPL attribution needs"):
        profile_from_samples([Sample(0, 0, 0), Sample(1, 1, 0)], MODEL, method="rapl", rapl_ranges_uj=[max_uj])


def test_gpu_power_from_energy_counters_only_while_the_tree_uses_it() -> None:
    def gpus(energy_j: float | None, used: bool) -> tuple[GpuReading, ...]:
        # GPU 0 draws 250 W (counter) or reads 300 W now; GPU 1 is never the tree's
        return (GpuReading(0, "H100", 300.0, energy_j, used), GpuReading(1, "H100", 50.0, 10.0, False))

    samples = [Sample(0.0, 0, 0, gpus=gpus(0.0, False)), Sample(1.0, 0, 0, gpus=gpus(250.0, True)),
               Sample(2.0, 0, 0, gpus=gpus(500.0, False)), Sample(3.0, 0, 0, gpus=gpus(None, False)),
               Sample(4.0, 0, 0, gpus=gpus(None, True))]
    profile = profile_from_samples(samples, MODEL)
    # used at the end of interval 0 and the start of interval 1: counter 250 J/s; interval 2 unused;
    # interval 3 used, no counter: mean of the power readings
    assert profile.gpu_w == pytest.approx([250.0, 250.0, 0.0, 300.0])


# ====================================================================== tree CPU accounting
def P(own: float, reaped: float, ppid: int, rss: int = 0) -> ProcTimes:  # noqa: N802 - short fixture maker
    return ProcTimes(own, reaped, ppid, rss)


def test_cpu_delta_counts_growth_new_processes_and_reaped_children_once() -> None:
    prev = {(10, 1): P(1.0, 0.0, 1), (11, 5): P(0.5, 0.0, 10)}
    # child 11 exited and was reaped by 10 with 0.8 s in total; new child 12 used 0.2 s; 10 itself grew 0.1 s
    curr = {(10, 1): P(1.1, 0.8, 1), (12, 9): P(0.2, 0.0, 10)}
    assert cpu_delta_s(prev, curr) == pytest.approx(0.1 + 0.8 - 0.5 + 0.2)


def test_cpu_delta_keeps_an_orphan_and_follows_a_chain_of_exits() -> None:
    prev = {(10, 1): P(1.0, 0.0, 1), (11, 5): P(0.5, 0.0, 10), (12, 6): P(0.3, 0.0, 11)}
    # 12 was reaped by 11, then 11 by 10: 10's reaped time holds both (0.6 + 0.4 final)
    curr = {(10, 1): P(1.0, 1.0, 1)}
    assert cpu_delta_s(prev, curr) == pytest.approx(1.0 - 0.5 - 0.3)
    # an orphan re-parented away: its counted time stays, nothing is taken back
    assert cpu_delta_s({(10, 1): P(1, 0, 1), (13, 7): P(0.4, 0, 10)}, {(10, 1): P(1, 0, 1)}) == 0.0


def test_a_reused_pid_is_another_process() -> None:
    prev = {(10, 1): P(5.0, 0.0, 1)}
    curr = {(10, 2): P(0.2, 0.0, 1)}
    assert cpu_delta_s(prev, curr) == pytest.approx(0.2)


def test_tree_counter_is_cumulative_from_the_first_snapshot() -> None:
    counter = TreeCpuCounter({(10, 1): P(3.0, 1.0, 1)})
    assert counter.update({(10, 1): P(3.5, 1.0, 1)}) == pytest.approx(0.5)
    assert counter.update({(10, 1): P(4.0, 1.5, 1)}) == pytest.approx(1.5)


def test_proc_and_psutil_snapshots_agree_on_this_process() -> None:
    pytest.importorskip("psutil")
    import os
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("the /proc backend is Linux only")
    a = snapshot_tree(os.getpid(), "proc")
    b = snapshot_tree(os.getpid(), "psutil")
    mine_a = next(v for k, v in a.items() if k[0] == os.getpid())
    mine_b = next(v for k, v in b.items() if k[0] == os.getpid())
    assert mine_a.ppid == mine_b.ppid == os.getppid()
    assert mine_a.own_s == pytest.approx(mine_b.own_s, abs=0.1)
    assert mine_a.rss_bytes == pytest.approx(mine_b.rss_bytes, rel=0.2)


# ====================================================================== energy and emissions of samples
def _result(samples: list[Sample], started: float, **opts: object):  # noqa: ANN202
    cpu = cpu_power("test CPU", 2, override_tdp_w=100.0)
    return build_result(samples, model=MODEL, cpu=cpu, choice=MethodChoice("model", "test"),
                        options=MeasureOptions(**opts), started_epoch=started, command=("make", "test"),
                        exit_code=0)  # type: ignore[arg-type]


def test_fixed_intensity_and_pue() -> None:
    samples = _samples([0, 1, 1.5, 3.5], [0, 2e9, 2e9, 4e9])
    r = _result(samples, 1.7e9, pue=1.5, intensity_g_per_kwh=400.0)
    assert r.energy_kwh == pytest.approx(192.25 / 3.6e6)
    assert r.facility_energy_kwh == pytest.approx(1.5 * 192.25 / 3.6e6)
    assert r.emissions_g == pytest.approx(400 * 1.5 * 192.25 / 3.6e6)
    assert r.footprint is not None and r.footprint.emissions_g == pytest.approx(r.emissions_g)
    assert {rec.component for rec in r.records()} == {"cpu", "ram"}
    assert sum(rec.energy_kwh or 0 for rec in r.records()) == pytest.approx(r.energy_kwh)


def test_synthetic_emissions_split_exactly_at_an_hour_boundary() -> None:
    """Constant 100 W for 4 s starting 1.5 s before a full hour: 1.5 s at one hour's value, 2.5 s at the next."""
    boundary = 1_700_002_800  # a whole hour (UTC)
    started = boundary - 1.5
    samples = [Sample(float(i), 2.0 * i, 0) for i in range(5)]  # u = 1 on both CPUs -> 100 W
    r = _result(samples, started, region="DE-LU")
    grid = synthetic_grid(["DE-LU"], start=np.datetime64(int(np.floor(started)) - 3600, "s"), hours=(4 + 7200) / 3600)
    i = int((np.datetime64(boundary, "s") - grid.start).astype(int) // grid.step_s)
    before, after = grid.values[0, i - 1], grid.values[0, i]
    expected = 100 * (1.5 * before + 2.5 * after) / 3.6e6
    assert r.synthetic and "synthetic" in (r.intensity_source or "")
    assert r.emissions_g == pytest.approx(expected, rel=1e-12)
    assert r.intensity_g_per_kwh == pytest.approx((1.5 * before + 2.5 * after) / 4)


def test_no_intensity_means_no_emissions_and_a_bad_region_fails_before_the_work() -> None:
    r = _result(_samples([0, 1], [0, 0]), 1.7e9)
    assert r.emissions_g is None and r.footprint is None
    with pytest.raises(InputError, match="no synthetic profile for region 'XX'"):
        _result(_samples([0, 1], [0, 0]), 1.7e9, region="XX")
    with pytest.raises(InputError, match="not both"):
        MeasureOptions(region="GB", intensity_g_per_kwh=100)


def test_rapl_choice_without_counters_in_the_samples_falls_back() -> None:
    cpu = cpu_power("test CPU", 2, override_tdp_w=100.0)
    domain = RaplDomain(path=__import__("pathlib").Path("/x"), name="package-0", max_energy_range_uj=10)
    r = build_result(_samples([0, 1], [0, 0]), model=MODEL, cpu=cpu, choice=MethodChoice("rapl", "rapl", (domain,)),
                     options=MeasureOptions(), started_epoch=1.7e9)
    assert r.method == "model" and "stopped answering" in r.method_note


# ====================================================================== usage records -> energy
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _usage(i: int, value: float, *, unit: str = "ns", agg: str = "rate:mean", span: int = 300) -> UsageRecord:
    t = T0 + timedelta(seconds=span * i)
    return UsageRecord(source="gnocchi", resource_id="vm-1", metric="cpu", start=t, end=t + timedelta(seconds=span),
                       value=value, unit=unit, aggregation=agg)


def test_cpu_energy_from_gnocchi_rates_and_cumulative_counters() -> None:
    # 2 vCPUs, 300 s: 300e9 ns = one vCPU busy = 50 % -> 8 W x (0.12 + 0.88 x 0.5)
    rate = cpu_energy_from_usage([_usage(0, 300e9)], vcpus=2, tdp_w=8.0)
    assert rate[0].power_w == pytest.approx(8 * (0.12 + 0.44))
    assert rate[0].energy_kwh == pytest.approx(8 * 0.56 * 300 / 3.6e6)
    # cumulative counter: +600e9 ns in 300 s = 100 %, then a reset (left out), then +0
    points = [UsageRecord(source="ceilometer", resource_id="vm-1", metric="cpu", start=T0 + timedelta(seconds=300 * i),
                          end=T0 + timedelta(seconds=300 * i), value=v, unit="ns", aggregation="cumulative")
              for i, v in enumerate([1e12, 1.6e12, 5e9, 5e9])]
    cum = cpu_energy_from_usage(points, vcpus=2, tdp_w=8.0)
    assert [round(r.power_w or 0, 6) for r in cum] == [8.0, 0.96]
    pct = cpu_energy_from_usage([_usage(0, 25.0, unit="%", agg="mean")], vcpus=4, tdp_w=16.0)
    assert pct[0].power_w == pytest.approx(16 * (0.12 + 0.88 * 0.25))
    with pytest.raises(InputError, match="not a CPU usage"):
        cpu_energy_from_usage([_usage(0, 1.0, unit="MB")], vcpus=1, tdp_w=4)


def test_ram_energy_from_memory_usage() -> None:
    rec = UsageRecord(source="gnocchi", resource_id="vm-1", metric="memory.usage", start=T0,
                      end=T0 + timedelta(hours=1), value=4096.0, unit="MB", aggregation="mean")
    out = ram_energy_from_usage([rec])
    assert out[0].power_w == pytest.approx(0.375 * 4.096)
    assert out[0].energy_kwh == pytest.approx(0.375 * 4.096 / 1000)
