"""Attribution of a node's power to the CI jobs on it: three overlapping jobs, idle rule, gaps, files.

The oracle is a plain-Python walk over the slots and the seconds of each job (synthetic series).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from greenci.energy.attribution import IDLE, PARTIAL, UNUSED, attribute, job_cpu, read_attribution, write_attribution
from greenci.energy.pue import ConstantPue, facility_kwh
from greenci.energy.records import EnergyRecord, UsageRecord
from greenci.errors import InputError

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
STEP = 60
NODE_W = [150.0, 220.0, 300.0, 320.0, 310.0, 260.0, 240.0, 180.0, 100.0, 100.0]  # 10 minutes
# job -> (first second, last second, CPU seconds per second)
JOBS = {"job-a": (30, 330, 1.0), "job-b": (90, 450, 2.0), "job-c": (240, 480, 0.5)}


def _at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def _node(powers: list[float | None] = NODE_W, component: str = "total", resource: str = "node7") -> list[EnergyRecord]:
    return [EnergyRecord("synthetic-ipmi", resource, _at(i * STEP), _at((i + 1) * STEP), energy_kwh=w * STEP / 3.6e6,
                         power_w=w, component=component) for i, w in enumerate(powers) if w is not None]


def _usage() -> list[UsageRecord]:
    """job-a: a cumulative ns counter every 10 s; job-b: CPU s per 30-s interval; job-c: a us counter."""
    out: list[UsageRecord] = []
    a0, a1, ra = JOBS["job-a"]
    out += [UsageRecord("synthetic-cgroup", "job-a", "cpu", _at(t), _at(t), (t - a0) * ra * 1e9, unit="ns",
                        aggregation="cumulative") for t in range(a0, a1 + 1, 10)]
    b0, b1, rb = JOBS["job-b"]
    out += [UsageRecord("synthetic-cgroup", "job-b", "cpu", _at(t), _at(t + 30), 30 * rb, unit="s",
                        aggregation="delta") for t in range(b0, b1, 30)]
    c0, c1, rc = JOBS["job-c"]
    out += [UsageRecord("synthetic-cgroup", "job-c", "cpu", _at(t), _at(t), (t - c0) * rc * 1e6, unit="us")
            for t in range(c0, c1 + 1, 20)]
    out.append(UsageRecord("synthetic-cgroup", "job-a", "memory.usage", _at(a0), _at(a1), 512, unit="MB"))
    return out


def _oracle(idle_w: float) -> tuple[dict[str, float], float, float]:
    """Per job kWh by the documented rule, walked second by second and slot by slot; unattributed idle, dynamic."""
    jobs = {j: 0.0 for j in JOBS}
    u_idle = u_dyn = 0.0
    for k, w in enumerate(NODE_W):
        e = w * STEP / 3.6e6
        idle = min(idle_w * STEP / 3.6e6, e)
        dyn = e - idle
        wall = {j: 0.0 for j in JOBS}
        cpu = {j: 0.0 for j in JOBS}
        for second in range(k * STEP, (k + 1) * STEP):
            for j, (a, b, rate) in JOBS.items():
                if a <= second < b:
                    wall[j] += 1
                    cpu[j] += rate
        if sum(wall.values()) == 0:
            u_idle += idle
        if sum(cpu.values()) == 0:
            u_dyn += dyn
        for j in JOBS:
            if sum(wall.values()):
                jobs[j] += idle * wall[j] / sum(wall.values())
            if sum(cpu.values()):
                jobs[j] += dyn * cpu[j] / sum(cpu.values())
    return jobs, u_idle, u_dyn


def test_three_overlapping_jobs_parts_sum_to_node_energy() -> None:
    result = attribute(_node(), _usage(), idle_w=120.0)
    node_kwh = sum(w * STEP / 3.6e6 for w in NODE_W)
    total = sum(r.energy_kwh for r in result.records)
    assert total == pytest.approx(node_kwh, rel=1e-9, abs=0)
    assert result.node_kwh == pytest.approx(node_kwh, rel=1e-12)
    expected, u_idle, u_dyn = _oracle(120.0)
    got = result.job_kwh()
    assert set(got) == set(JOBS)
    for j in JOBS:
        assert got[j] == pytest.approx(expected[j], rel=1e-9), j
    un = result.unattributed_kwh()
    assert un.get(IDLE, 0.0) == pytest.approx(u_idle, rel=1e-9)
    assert un.get(UNUSED, 0.0) == pytest.approx(u_dyn, rel=1e-9)
    for r in result.records:
        if r.job_id != PARTIAL:
            assert r.idle_kwh + r.dynamic_kwh == pytest.approx(r.energy_kwh, rel=1e-12)
    assert "idle: 120.0 W (given)" in result.idle_rule and result.flags == ()
    assert result.node_method.startswith("node total")


def test_twice_the_cpu_time_gets_twice_the_dynamic_share() -> None:
    result = attribute(_node(), _usage(), idle_w=120.0)
    # minute 2 (120 .. 180 s): job-a and job-b are on the node the whole minute, job-c not yet
    at = _at(120)
    share = {r.job_id: r for r in result.records if r.start == at}
    assert set(share) == {"job-a", "job-b"}
    assert share["job-b"].cpu_s == pytest.approx(2 * share["job-a"].cpu_s)
    assert share["job-b"].dynamic_kwh == pytest.approx(2 * share["job-a"].dynamic_kwh, rel=1e-12)
    assert share["job-b"].idle_kwh == pytest.approx(share["job-a"].idle_kwh, rel=1e-12)  # same wall time


def test_idle_only_intervals_stay_unattributed_idle() -> None:
    result = attribute(_node(), _usage(), idle_w=120.0)
    last = [r for r in result.records if r.start >= _at(480)]
    assert {r.job_id for r in last} == {IDLE}  # minutes 8 and 9: no job; 100 W < 120 W idle: all idle
    assert sum(r.energy_kwh for r in last) == pytest.approx(2 * 100.0 * STEP / 3.6e6)


def test_idle_estimated_as_a_low_percentile() -> None:
    result = attribute(_node(), _usage(), idle_percentile=0.0)
    assert result.idle_w == pytest.approx(100.0)
    assert "0th percentile of the node's power, estimated" in result.idle_rule
    assert sum(r.energy_kwh for r in result.records) == pytest.approx(result.node_kwh, rel=1e-9)


def test_job_outside_the_series_is_flagged_and_gaps_keep_their_energy() -> None:
    usage = _usage() + [UsageRecord("synthetic-cgroup", "job-late", "cpu", _at(900), _at(960), 30.0, unit="s")]
    powers: list[float | None] = list(NODE_W)
    powers[3] = None  # minute 3 missing
    result = attribute(_node(powers), usage, idle_w=120.0)
    assert any("job-late" in f and "outside the node's power series" in f for f in result.flags)
    assert any(f.startswith("job job-b:") and "not covered in full" in f for f in result.flags)
    assert "job-late" not in result.job_kwh()
    node_kwh = sum(w * STEP / 3.6e6 for w in powers if w is not None)
    assert sum(r.energy_kwh for r in result.records) == pytest.approx(node_kwh, rel=1e-9)
    assert not any(r.start == _at(180) and not r.job_id.startswith("unattributed") for r in result.records)


def test_psu_readings_summed_only_without_a_total_and_cpu_refused() -> None:
    half = [w / 2 for w in NODE_W]
    psus = _node(half, "psu", "node7/PSU1") + _node(half, "psu", "node7/PSU2")  # type: ignore[arg-type]
    result = attribute(psus, _usage(), idle_w=120.0)
    assert "sum of 2 PSU input(s) (the payload has no total)" in result.node_method and result.node == "node7"
    expected, _, _ = _oracle(120.0)
    assert result.job_kwh()["job-a"] == pytest.approx(expected["job-a"], rel=1e-9)
    with_total = attribute(psus + _node(), _usage(), idle_w=120.0)
    assert with_total.node_kwh == pytest.approx(result.node_kwh) and "psu records left out" in with_total.node_method
    with pytest.raises(InputError, match="'cpu'"):
        attribute(_node(component="cpu"), _usage())
    with pytest.raises(InputError, match="2 total series"):
        attribute(_node() + _node(resource="node7-bmc"), _usage())


def test_bad_usage_refused_with_the_fix() -> None:
    with pytest.raises(InputError, match="metrics present: memory.usage"):
        attribute(_node(), [u for u in _usage() if u.metric != "cpu"])
    with pytest.raises(InputError, match="not a CPU time"):
        job_cpu([UsageRecord("x", "j", "cpu", _at(0), _at(60), 50.0, unit="%")])
    with pytest.raises(InputError, match="counted twice"):
        job_cpu([UsageRecord("x", "j", "cpu", _at(0), _at(60), 5.0, unit="s"),
                 UsageRecord("x", "j", "cpu", _at(30), _at(90), 5.0, unit="s")])
    with pytest.raises(InputError, match="idle_w"):
        attribute(_node(), _usage(), idle_w=-1.0)


def test_counter_reset_left_out_and_noted() -> None:
    usage = [UsageRecord("x", "j", "cpu", _at(t), _at(t), v, unit="s") for t, v in ((0, 0.0), (60, 30.0), (120, 5.0),
                                                                                  (180, 35.0))]
    cpu = job_cpu(usage)
    assert cpu.cpu_s.tolist() == [30.0, 30.0] and "1 counter reset(s)" in cpu.notes[0]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_records_round_trip_and_pue(tmp_path: Path, suffix: str) -> None:
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    result = attribute(_node(), _usage(), idle_w=120.0)
    path = write_attribution(result.records, tmp_path / f"attribution{suffix}")
    back = read_attribution(path)
    assert len(back) == len(result.records)
    assert sum(r.energy_kwh for r in back) == pytest.approx(result.node_kwh, rel=1e-9)
    write_attribution(result.records, path)  # appends
    assert len(read_attribution(path)) == 2 * len(result.records)
    jobs = [r for r in back if r.job_id == "job-a"]
    out = facility_kwh(ConstantPue(1.25), [r.start for r in jobs], [r.end for r in jobs], [r.energy_kwh for r in jobs])
    assert out.facility_kwh.sum() == pytest.approx(1.25 * result.job_kwh()["job-a"], rel=1e-9)


def test_cli_attribute_and_pue(tmp_path: Path) -> None:
    """``greenci telemetry attribute`` and ``pue`` on records files: totals, labels, files written."""
    import json

    import typer
    from typer.testing import CliRunner

    from greenci.cli.energy import register
    from greenci.energy.records import open_sink

    app = typer.Typer()
    register(app)
    node, usage = tmp_path / "node.csv", tmp_path / "usage.csv"
    open_sink(node).write(_node())
    open_sink(usage).write(_usage())
    runner = CliRunner()
    res = runner.invoke(app, ["telemetry", "attribute", "--node", str(node), "--usage", str(usage), "--idle-w", "120",
                              "--pue", "1.3", "--format", "json", "-o", str(tmp_path / "attr.csv")])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    expected, _, _ = _oracle(120.0)
    assert doc["measured_kwh"]["job-b"] == pytest.approx(expected["job-b"], rel=1e-9)
    assert doc["facility_kwh"]["job-b"] == pytest.approx(1.3 * expected["job-b"], rel=1e-9)
    assert doc["pue"] == "pue: constant 1.3 (assumed)"
    assert len(read_attribution(tmp_path / "attr.csv")) > 0
    table = runner.invoke(app, ["telemetry", "attribute", "--node", str(node), "--usage", str(usage)])
    assert table.exit_code == 0 and "job-c" in table.stdout and "percentile" in table.stdout
    bad = runner.invoke(app, ["telemetry", "attribute", "--node", str(usage), "--usage", str(usage)])
    assert bad.exit_code == 2 and "usage records, not energy" in bad.output
    fac, it = tmp_path / "fac.csv", tmp_path / "it.csv"
    open_sink(fac).write([EnergyRecord("synthetic", "site", _at(0), _at(300), energy_kwh=0.03, component="facility")])
    open_sink(it).write(_node(component="it")[:5])
    pue = runner.invoke(app, ["telemetry", "pue", "--facility", str(fac), "--it", str(it), "--format", "json"])
    assert pue.exit_code == 0, pue.output
    pdoc = json.loads(pue.stdout)
    it_kwh = sum(NODE_W[:5]) * STEP / 3.6e6
    assert pdoc["label"] == "pue: metered per interval"
    assert pdoc["intervals"][0]["pue"] == pytest.approx(0.03 / it_kwh)
    shown = runner.invoke(app, ["telemetry", "pue", "--facility", str(fac), "--it", str(it)])
    assert shown.exit_code == 0 and "metered per interval" in shown.stdout


def test_ci_sampler_usage_feeds_the_attribution(tmp_path: Path) -> None:
    """What ``greenci ci start`` samples (samples.jsonl, written here by hand) becomes usage of the job."""
    import json

    from greenci.usecases.ci_energy import usage_records

    lines = [json.dumps({"started_epoch": T0.timestamp(), "pid": 1})]
    lines += [json.dumps({"t_s": float(t), "busy_s": 1.5 * t, "machine_busy_s": 1000 + 1.5 * t, "mem_bytes": 0,
                          "rapl_uj": None}) for t in range(0, 601, 5)]
    (tmp_path / "samples.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    usage = usage_records(tmp_path, "run-42/job-7")
    assert usage[0].unit == "s" and usage[0].aggregation == "cumulative" and usage[-1].value == pytest.approx(900.0)
    result = attribute(_node(), usage, idle_w=120.0)
    assert result.job_kwh()["run-42/job-7"] == pytest.approx(result.node_kwh, rel=1e-9)  # alone on the node
    with pytest.raises(InputError, match="job_id"):
        usage_records(tmp_path, "")
