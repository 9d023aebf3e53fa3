"""Replays with runner pools: pool energy per strategy, the request's capacity, and the CLI end to end.

Every input here is SYNTHETIC: the study generator's runs and the synthetic intensity model (the outputs
say so), and pools written by the tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from greenci.cli import app
from greenci.cli.service import service_capacity
from greenci.errors import InputError
from greenci.scheduling.pool_energy import pool_energy
from greenci.scheduling.pools import PoolSet, RunnerPool
from greenci.scheduling.strategies import make_strategy
from greenci.simulation import simulate
from greenci.simulation_report import pool_table, simulation_json
from greenci.synthetic import synthetic_grid
from greenci.tracegen import generate_study_trace
from greenci.usecases.replay import ReplayRequest

REGIONS = ("DE-LU", "GB")
POOLS_YAML = ("pools:\n  DE-LU: {runners: 60, idle_w: 9.2, busy_w: 20.3, start_s: 90, start_kwh: 0.0005}\n"
              "  GB:    {runners: 60, idle_w: 9.2, busy_w: 20.3}\n")


def _pools(n: int = 60) -> PoolSet:
    return PoolSet(tuple(RunnerPool(r, n, 9.2, 20.3) for r in REGIONS), "synthetic")


def _small():
    jobs = generate_study_trace(start="2022-10-12T00:00Z", days=0.25, runs=120, seed=5)
    grid = synthetic_grid(list(REGIONS), start="2022-09-20T00:00Z", hours=24 * 26, seed=5)
    return jobs, grid


def test_replay_accounts_every_strategy_on_one_span() -> None:
    jobs, grid = _small()
    pools = _pools()
    names = ("round-robin", "location", "lts-3")
    result = simulate(jobs, grid, [make_strategy(n) for n in names], forecast="perfect", pools=pools,
                      keep_placements=True)
    assert result.pools is pools and set(result.pool_energy) == set(names)
    spans = {(pe.first_slot, pe.busy_node_s.shape[1]) for pe in result.pool_energy.values()}
    assert len(spans) == 1, "every strategy is accounted over the same slots"
    first, n_slots = spans.pop()
    job_h = float(jobs.duration_s.sum() / 3600.0)
    for name in names:
        pe = result.pool_energy[name]
        p = result.placements[name]
        # the same numbers as the pure function on that span, and every run's hours busy exactly once
        alone = pool_energy(p.region, p.start_s, jobs.duration_s, pools, grid,
                            span_s=(grid.start_s + first * grid.step_s, grid.start_s + (first + n_slots) * grid.step_s))
        np.testing.assert_allclose(pe.energy_kwh, alone.energy_kwh)
        assert pe.busy_node_h == pytest.approx(job_h)
        if not any(pe.overbooked.values()):  # the fleet is on all the time: busy + idle = runners x span
            assert pe.busy_node_h + pe.idle_node_h == pytest.approx(2 * 60 * n_slots * grid.step_s / 3600)
        assert pe.total_g == pytest.approx(float(np.sum(pe.energy_kwh * grid.values[:, first:first + n_slots])))
    doc = simulation_json(result)
    assert doc["pools"]["source"] == "synthetic" and doc["pools"]["synthetic"] is True
    row = next(s for s in doc["strategies"] if s["name"] == "location")
    assert set(row["pool"]) >= {"busy_node_h", "idle_node_h", "energy_kwh", "emissions_g", "wait_p50_s", "wait_p95_s",
                                "overbooked", "by_region"}
    assert row["pool"]["by_region"]["GB"]["runners"] == 60
    json.dumps(doc, allow_nan=False)
    assert "SYNTHETIC" in pool_table(result).title


def test_no_pools_means_no_pool_section() -> None:
    jobs, grid = _small()
    result = simulate(jobs, grid, [make_strategy("round-robin")], forecast="perfect")
    assert result.pools is None and not result.pool_energy
    doc = simulation_json(result)
    assert "pools" not in doc and "pool" not in doc["strategies"][0]


def test_request_passes_pool_sizes_as_capacity_and_labels_it() -> None:
    uniform = ReplayRequest(study=True, regions=REGIONS, pools=_pools(3))
    assert uniform.strategy_capacity() == 3  # one size in every region: the number every make_strategy takes
    mixed = PoolSet((RunnerPool("DE-LU", 2, 1.0, 2.0), RunnerPool("GB", 5, 1.0, 2.0)), "synthetic")
    assert ReplayRequest(study=True, regions=REGIONS, pools=mixed).strategy_capacity() == {"DE-LU": 2, "GB": 5}
    partial = PoolSet((RunnerPool("GB", 5, 1.0, 2.0),), "synthetic")
    assert ReplayRequest(study=True, regions=REGIONS, pools=partial).strategy_capacity() == {"GB": 5}
    assert "GB=5" in ReplayRequest(study=True, regions=REGIONS, pools=partial).capacity_note()
    assert "unlimited" in ReplayRequest(study=True, regions=REGIONS).capacity_note()
    assert ReplayRequest(study=True, regions=REGIONS, capacity=4).strategy_capacity() == 4
    with pytest.raises(InputError, match="capacity and pools both") as info:
        ReplayRequest(study=True, regions=REGIONS, capacity=4, pools=_pools())
    assert info.value.fields == ("capacity", "pools")


def _cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GREENCI_SHARED", str(tmp_path / "absent"))
    monkeypatch.chdir(tmp_path)  # no ../shared from here: the synthetic intensity model is used and labelled
    path = tmp_path / "pools.yaml"
    path.write_text(POOLS_YAML, encoding="utf-8")
    return path


def test_cli_simulate_with_pools_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pools = _cli_env(tmp_path, monkeypatch)
    args = ["simulate", "--study", "--days", "0.25", "--regions", ",".join(REGIONS), "--strategies",
            "round-robin,location,greenci", "--forecast", "persistence", "--pools", str(pools)]
    r = CliRunner().invoke(app, [*args, "--format", "json", "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["synthetic_intensity"] is True and doc["synthetic_jobs"] is True
    assert doc["pools"]["source"] == str(pools) and doc["pools"]["regions"]["DE-LU"]["start_kwh"] == 0.0005
    assert any("runner pools DE-LU=60, GB=60" in n for n in doc["notes"])
    busy = {s["name"]: s["pool"]["busy_node_h"] for s in doc["strategies"]}
    assert len({round(v, 6) for v in busy.values()}) == 1, "every strategy runs the same job-hours"
    for s in doc["strategies"]:
        pool = s["pool"]
        assert pool["energy_kwh"] > 0 and pool["emissions_g"] > 0 and pool["idle_node_h"] > 0
        assert pool["wait_p95_s"] == s["wait_p95_s"]
        assert sum(v["emissions_g"] for v in pool["by_region"].values()) == pytest.approx(pool["emissions_g"])
    csv = (tmp_path / "out" / "pools.csv").read_text(encoding="utf-8").splitlines()
    assert csv[0].startswith("strategy,region,runners,busy_node_h") and len(csv) == 1 + 3 * 2
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "Runner pools" in table.output and "SYNTHETIC" in table.output and "node-h idle" in table.output


def test_cli_refuses_capacity_with_pools_and_bad_pool_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pools = _cli_env(tmp_path, monkeypatch)
    r = CliRunner().invoke(app, ["simulate", "--study", "--pools", str(pools), "--capacity", "3"])
    assert r.exit_code == 2 and "--capacity and --pools" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("pools:\n  GB: {runners: 0, idle_w: 1, busy_w: 2}\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["simulate", "--study", "--pools", str(bad)])
    assert r.exit_code == 2 and "pools.GB.runners: 0 must be at least 1" in r.output
    assert "Traceback" not in r.output


def test_serve_capacity_from_pools_file_or_options(tmp_path: Path) -> None:
    path = tmp_path / "pools.json"
    path.write_text(json.dumps({"pools": {"GB": {"runners": 8, "idle_w": 60, "busy_w": 180},
                                          "DE-LU": {"runners": 4, "idle_w": 60, "busy_w": 180}}}), encoding="utf-8")
    assert service_capacity(None, path) == {"GB": 8, "DE-LU": 4}
    assert service_capacity(["GB=2"], None) == {"GB": 2}
    with pytest.raises(InputError, match="--capacity and --pools"):
        service_capacity(["GB=2"], path)
    r = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "d"), "--pools", str(path), "--capacity",
                                 "GB=2"])
    assert r.exit_code == 2 and "--capacity and --pools" in r.output
