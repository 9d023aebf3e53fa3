"""The sweep: every combination once, reductions per (region set, seed), Dask equal to the serial path."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import astuple

import pytest

from greenci.errors import ConfigError, InputError
from greenci.grid import IntensityGrid
from greenci.scheduling.strategies import LocationTimeShifting, Oracle, RoundRobin
from greenci.simulation import simulate
from greenci.sweep import STRATEGIES, StudyTrace, SweepRow, sweep, sweep_local
from greenci.synthetic import synthetic_grid

REGIONS = ["DE-LU", "GB", "CA-ON", "US-CAL-CISO"]
REGION_SETS = {"europe": ["DE-LU", "GB"], "mixed": ["GB", "CA-ON", "US-CAL-CISO"]}
TRACE = StudyTrace(runs=250, days=1)  # synthetic study runs, 2022-10-12, regenerated per seed
SETTINGS = dict(strategies=list(STRATEGIES), buffers_h=[1, 6], region_sets=REGION_SETS, seeds=[3, 4],
                forecast="persistence")


@pytest.fixture(scope="module")
def grid() -> IntensityGrid:
    return synthetic_grid(REGIONS, start="2022-10-11T00:00:00Z", hours=96, seed=7)


@pytest.fixture(scope="module")
def serial_rows(grid: IntensityGrid) -> list[SweepRow]:
    return sweep_local(None, grid, trace_factory=TRACE, **SETTINGS)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def cluster_address() -> Iterator[str]:
    """One local Dask cluster for the module (it takes seconds to start)."""
    distributed = pytest.importorskip(
        "dask.distributed", reason="dask.distributed is not installed: pip install 'greenci[sweep]' to test the "
                                   "Dask path")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c.scheduler_address


def _same(a: list[SweepRow], b: list[SweepRow]) -> bool:
    """Rows equal field by field (NaN equal to NaN)."""
    def norm(row: SweepRow) -> tuple:
        return tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in astuple(row))
    return [norm(r) for r in a] == [norm(r) for r in b]


def test_rows_cover_every_combination_once_in_order(serial_rows: list[SweepRow]) -> None:
    want = [(label, seed, name, float(b))
            for label in REGION_SETS for seed in (3, 4) for name in STRATEGIES
            for b in ((1, 6) if name in ("lts", "oracle", "greenci") else (0,))]
    assert [(r.region_set, r.seed, r.strategy, r.buffer_h) for r in serial_rows] == want
    assert all(r.emissions_g > 0 and r.deadline_misses == 0 for r in serial_rows)


def test_reductions_are_against_round_robin_of_the_same_region_set_and_seed(serial_rows: list[SweepRow]) -> None:
    base = {(r.region_set, r.seed): r.emissions_g for r in serial_rows if r.strategy == "round-robin"}
    assert len(set(base.values())) == len(base)  # each set and seed is its own baseline
    for r in serial_rows:
        assert r.reduction_vs_round_robin == pytest.approx(1 - r.emissions_g / base[(r.region_set, r.seed)],
                                                           abs=1e-12)
    oracle6 = {(r.region_set, r.seed): r.reduction_vs_round_robin for r in serial_rows
               if r.strategy == "oracle" and r.buffer_h == 6}
    assert all(v > 0 for v in oracle6.values())


def test_a_row_equals_a_direct_replay_of_that_seed_and_region_set(grid: IntensityGrid,
                                                                  serial_rows: list[SweepRow]) -> None:
    jobs = TRACE(4)
    direct = simulate(jobs, grid.select(REGION_SETS["mixed"]),
                      [RoundRobin(), LocationTimeShifting(6 * 3600.0), Oracle(3600.0)], forecast="persistence")
    got = {(r.strategy, r.buffer_h): r for r in serial_rows if r.region_set == "mixed" and r.seed == 4}
    for key, name in (((("round-robin", 0.0)), "round-robin"), (("lts", 6.0), "lts-6"), (("oracle", 1.0), "oracle-1")):
        want = direct.by_name(name)
        assert got[key].emissions_g == want.emissions_g
        assert got[key].reduction_vs_round_robin == want.reduction_vs_round_robin
        assert got[key].wait_p95_s == want.wait_p95_s


def test_baseline_is_run_even_when_round_robin_is_not_asked_for(grid: IntensityGrid,
                                                                serial_rows: list[SweepRow]) -> None:
    rows = sweep_local(None, grid, strategies=["lts"], buffers_h=[6], region_sets={"europe": REGION_SETS["europe"]},
                       seeds=[3], forecast="persistence", trace_factory=TRACE)
    [row] = rows
    [full] = [r for r in serial_rows if (r.region_set, r.seed, r.strategy, r.buffer_h) == ("europe", 3, "lts", 6.0)]
    assert row == full and row.reduction_vs_round_robin > 0


def test_a_given_trace_makes_seeds_label_repeats(grid: IntensityGrid) -> None:
    jobs = TRACE(11)
    progress: list[tuple[int, int]] = []
    rows = sweep_local(jobs, grid, strategies=["round-robin", "greenci"], buffers_h=[3], seeds=[0, 1, 2],
                       region_sets={"all": REGIONS}, forecast="perfect",
                       progress=lambda done, total: progress.append((done, total)))
    by_seed = {s: [astuple(r)[2:] for r in rows if r.seed == s] for s in (0, 1, 2)}
    assert by_seed[0] == by_seed[1] == by_seed[2] and len(by_seed[0]) == 2
    assert progress == [(1, 3), (2, 3), (3, 3)]


def test_scheduler_serial_is_sweep_local(grid: IntensityGrid) -> None:
    kw = dict(strategies=["location", "oracle"], buffers_h=[0, 2], region_sets={"eu": ["DE-LU", "GB"]}, seeds=[5],
              forecast="perfect", trace_factory=TRACE)
    assert _same(sweep(None, grid, scheduler="serial", **kw), sweep_local(None, grid, **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["lts-6", "round_robin", "cats"])
def test_unknown_strategy_names_the_valid_ones(grid: IntensityGrid, bad: str) -> None:
    for run in (sweep_local, sweep):  # the Dask path validates before it starts any cluster
        with pytest.raises(InputError, match="round-robin, location, lts, oracle, greenci") as info:
            run(None, grid, strategies=["location", bad], buffers_h=[6], region_sets={"all": REGIONS}, seeds=[0],
                forecast="perfect")
        assert repr(bad) in str(info.value)


@pytest.mark.parametrize(("change", "message"), [
    ({"buffers_h": []}, "need at least one buffer"),
    ({"buffers_h": [6, 6.0]}, "repeats"),
    ({"buffers_h": [-1]}, "must be finite and >= 0"),
    ({"strategies": []}, "no strategy"),
    ({"region_sets": {"x": ["DE-LU", "XX-NOPE"]}}, "XX-NOPE are not in the grid"),
    ({"region_sets": {"x": []}}, "is empty"),
    ({"seeds": []}, "no seed"),
    ({"forecast": "crystal-ball"}, "choose from perfect, persistence"),
])
def test_bad_settings_are_refused_before_any_work(grid: IntensityGrid, change: dict, message: str) -> None:
    kw = {**SETTINGS, **change}
    with pytest.raises(InputError, match=message):
        sweep_local(None, grid, trace_factory=TRACE, **kw)  # type: ignore[arg-type]


def test_jobs_and_trace_factory_together_are_refused(grid: IntensityGrid) -> None:
    with pytest.raises(InputError, match="not both"):
        sweep_local(TRACE(0), grid, trace_factory=TRACE, **SETTINGS)  # type: ignore[arg-type]


def test_missing_dask_says_how_to_install_it(grid: IntensityGrid, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(ConfigError, match=r"pip install 'greenci\[sweep\]'"):
        sweep(None, grid, trace_factory=TRACE, **SETTINGS)  # type: ignore[arg-type]


def test_importing_the_sweep_module_does_not_import_dask() -> None:
    code = ("import sys, greenci.sweep; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_dask_cluster_gives_the_serial_rows(grid: IntensityGrid, serial_rows: list[SweepRow],
                                            cluster_address: str) -> None:
    progress: list[tuple[int, int]] = []
    rows = sweep(None, grid, scheduler=cluster_address, trace_factory=TRACE,
                 progress=lambda done, total: progress.append((done, total)), **SETTINGS)  # type: ignore[arg-type]
    assert _same(rows, serial_rows)
    assert progress == [(k, 4) for k in range(1, 5)]


def test_dask_with_a_given_trace_scatters_it(grid: IntensityGrid, cluster_address: str) -> None:
    jobs = TRACE(21)
    kw = dict(strategies=["round-robin", "lts", "greenci"], buffers_h=[3], region_sets=REGION_SETS, seeds=[0, 1],
              forecast="persistence")
    assert _same(sweep(jobs, grid, scheduler=cluster_address, **kw), sweep_local(jobs, grid, **kw))  # type: ignore[arg-type]


def test_default_scheduler_starts_its_own_local_cluster(grid: IntensityGrid) -> None:
    pytest.importorskip("dask.distributed", reason="dask.distributed is not installed: pip install 'greenci[sweep]'")
    kw = dict(strategies=["round-robin", "location"], buffers_h=[], region_sets={"eu": ["DE-LU", "GB"]}, seeds=[1],
              forecast="perfect", trace_factory=StudyTrace(runs=60, days=1))
    assert _same(sweep(None, grid, **kw), sweep_local(None, grid, **kw))  # type: ignore[arg-type]


def test_unreachable_scheduler_is_a_config_error(grid: IntensityGrid) -> None:
    dask = pytest.importorskip("dask", reason="dask is not installed: pip install 'greenci[sweep]'")
    pytest.importorskip("dask.distributed", reason="dask.distributed is not installed")
    said: list[str] = []
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), \
            pytest.raises(ConfigError, match="cannot reach Dask at 'tcp://127.0.0.1:1' within 1 s"):
        sweep(None, grid, scheduler="tcp://127.0.0.1:1", trace_factory=TRACE, connect_timeout_s=1.0,  # type: ignore[arg-type]
              waiting=said.append, **SETTINGS)
    assert said == ["the Dask scheduler at tcp://127.0.0.1:1 (up to 1 s)"]  # a log says what greenci waits for
