"""Ceilometer and Gnocchi power/energy payloads written here: scopes, units, times, nulls, refusals, live reads.

Every expected number is worked out by hand from the payload (W x s / 3.6e6 = kWh).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import typer
from loopback import loopback_server
from typer.testing import CliRunner

from greenci.cli.energy import register
from greenci.energy.ceilometer import read_ceilometer, samples_to_energy
from greenci.energy.gnocchi import (
    GnocchiClient,
    aggregates_to_energy,
    measures_to_energy,
    parse_archive_policy,
    parse_metric,
    read_gnocchi,
)
from greenci.energy.telemetry_units import component_from_name
from greenci.errors import DataFormatError, InputError

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
NODE = "node7"


def _t(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S")


def _old(name: str, unit: str, volume: Any, minutes: float, rid: str = NODE, kind: str = "gauge",
         **extra: Any) -> dict[str, Any]:
    """A /v2/meters/<name> sample."""
    return {"counter_name": name, "counter_type": kind, "counter_unit": unit, "counter_volume": volume,
            "resource_id": rid, "timestamp": _t(minutes), "recorded_at": _t(minutes + 0.1), "project_id": None,
            "user_id": None, "message_id": f"{name}-{minutes}", "source": "hardware", "resource_metadata": {},
            **extra}


def _new(name: str, unit: str, volume: Any, minutes: float, rid: str = NODE, kind: str = "gauge") -> dict[str, Any]:
    """A /v2/samples sample."""
    return {"id": f"{name}-{minutes}", "meter": name, "type": kind, "unit": unit, "volume": volume,
            "resource_id": rid, "timestamp": _t(minutes), "recorded_at": _t(minutes), "source": "openstack",
            "user_id": None, "project_id": None, "metadata": {}}


# ====================================================================== ceilometer
def test_ceilometer_scopes_units_and_skipped_meters() -> None:
    body = [
        _old("hardware.ipmi.node.power", "W", 350, 0),
        _new("compute.node.power", "kW", 0.4, 0, rid="node8"),
        _old("cpu0.power", "mW", 95_000, 0),
        _old("memory.usage", "MB", 2048, 0),               # not power: skipped
        _old("power.state", "state", 1, 0),                # a VM's power state, not watts: skipped
        _old("hardware.ipmi.current", "A", 3.2, 0),        # current: skipped
        _old("hardware.ipmi.node.power", "W", None, 5),    # a disabled reading: skipped
        _old("hardware.ipmi.current", "W", 180, 0, rid=f"{NODE}-ps1_input_power_(0x70)",
             resource_metadata={"node": NODE, "Sensor ID": "PS1 Input Power (0x70)"}),
        _old("hardware.ipmi.current", "W", 340, 0, rid=f"{NODE}-pwr_consumption_(0x76)",
             resource_metadata={"node": NODE}),
    ]
    recs = samples_to_energy(body)
    got = {(r.resource_id, r.component, r.power_w) for r in recs}
    assert got == {(NODE, "total", 350.0), ("node8", "total", 400.0), (NODE, "cpu", 95.0),
                   (f"{NODE}/ps1_input_power_(0x70)", "psu", 180.0),
                   (f"{NODE}/pwr_consumption_(0x76)", "total", 340.0)}
    assert all(r.start == r.end == T0 for r in recs)  # readings at the sample's instant, naive = UTC


def test_ceilometer_cumulative_energy_with_a_reset_and_delta_joules() -> None:
    kwh = [100.0, 100.5, 101.5, 0.25, 0.75]  # a BMC reboot between the third and fourth sample
    body = [_old("energy", "kWh", v, 10 * i, kind="cumulative") for i, v in enumerate(kwh)]
    body += [_new("hardware.cpu.energy", "J", j, 10 * i, rid="node9", kind="delta")
             for i, j in enumerate([999.0, 360_000.0, 720_000.0])]
    recs = samples_to_energy(body)
    node = [r for r in recs if r.resource_id == NODE]
    assert [(r.start, r.end) for r in node] == [(T0, T0 + timedelta(minutes=10)),
                                                (T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)),
                                                (T0 + timedelta(minutes=30), T0 + timedelta(minutes=40))]
    assert [r.energy_kwh for r in node] == pytest.approx([0.5, 1.0, 0.5])
    assert node[0].power_w == pytest.approx(0.5 * 3.6e6 / 600)
    cpu = [r for r in recs if r.resource_id == "node9"]
    assert [r.component for r in cpu] == ["cpu", "cpu"]  # the first delta has no start: left out
    assert [r.energy_kwh for r in cpu] == pytest.approx([0.1, 0.2])


def test_ceilometer_time_falls_back_to_recorded_at_and_refuses_none() -> None:
    sample = _old("power", "W", 200, 0)
    del sample["timestamp"]
    rec, = samples_to_energy([sample])
    assert rec.start == T0 + timedelta(minutes=0.1) and "recorded_at" in rec.method
    del sample["recorded_at"]
    with pytest.raises(DataFormatError, match="item 0: has no timestamp and no recorded_at"):
        samples_to_energy([sample])


def test_ceilometer_refusals_name_what_the_body_holds() -> None:
    with pytest.raises(DataFormatError) as info:
        samples_to_energy([_old("cpu", "ns", 1e12, 0), _old("cpu", "ns", 2e12, 5), _old("memory.usage", "MB", 1, 0),
                           _old("power", "W", None, 0)])
    text = str(info.value)
    assert "cpu [ns] x2" in text and "memory.usage [MB] x1" in text and "1 power or energy samples have a null" in text
    with pytest.raises(DataFormatError, match="an energy counter needs two samples"):
        samples_to_energy([_old("energy", "kWh", 5.0, 0, kind="cumulative")])
    with pytest.raises(InputError, match="'mw' is ambiguous"):
        samples_to_energy([_old("power", "mw", 5.0, 0)])
    with pytest.raises(DataFormatError, match="not a power reading"):
        samples_to_energy([_old("power", "MW", 5.0, 0)])  # 5 MW from one node is beyond the bound


def test_ceilometer_saved_file_and_cli(tmp_path: Path) -> None:
    path = tmp_path / "samples.json"
    path.write_text(json.dumps([_new("power", "W", 300, 0), _new("power", "W", 500, 10)]))
    assert [r.power_w for r in read_ceilometer(path)] == [300.0, 500.0]
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["telemetry", "ceilometer", "--file", str(path), "--intervals", "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and float(lines[1].split(",")[4]) == pytest.approx(400 * 600 / 3.6e6)  # trapezoid
    (tmp_path / "bad.json").write_text(json.dumps({"not": "samples"}))
    bad = CliRunner().invoke(app, ["telemetry", "ceilometer", "--file", str(tmp_path / "bad.json")])
    assert bad.exit_code == 2 and "expected a JSON list of samples" in bad.output and "Traceback" not in bad.output


# ====================================================================== gnocchi
def _pts(gran: float, values: list[Any], start_min: float = 0) -> list[list[Any]]:
    return [[(T0 + timedelta(minutes=start_min, seconds=gran * i)).isoformat(), gran, v]
            for i, v in enumerate(values)]


MIXED = _pts(3600.0, [300.0]) + _pts(60.0, [240.0, None, 360.0]) + _pts(1.0, [200.0, 210.0])


def test_gnocchi_measures_take_one_granularity_never_mixed() -> None:
    finest = measures_to_energy(MIXED, resource_id=NODE, metric="hardware.ipmi.node.power", unit="W")
    assert [r.duration_s for r in finest] == [1.0, 1.0] and {r.component for r in finest} == {"total"}
    minute = measures_to_energy(MIXED, resource_id=NODE, metric="power", unit="W", granularity=60)
    assert [r.power_w for r in minute] == [240.0, 360.0]  # the null minute is skipped, not bridged
    assert [r.energy_kwh for r in minute] == pytest.approx([240 * 60 / 3.6e6, 360 * 60 / 3.6e6])
    kw = measures_to_energy(_pts(60.0, [0.25]), resource_id=NODE, metric="power", unit="kW")
    assert kw[0].power_w == pytest.approx(250.0)
    with pytest.raises(DataFormatError, match="no measures at granularity 300 s; the body has 1, 60, 3600 s"):
        measures_to_energy(MIXED, resource_id=NODE, metric="power", unit="W", granularity=300)
    with pytest.raises(DataFormatError, match="aggregation 'max' of power is not a mean"):
        measures_to_energy(MIXED, resource_id=NODE, metric="power", unit="W", aggregation="max")
    with pytest.raises(DataFormatError, match="unit 'ns' of cpu is neither power"):
        measures_to_energy(MIXED, resource_id=NODE, metric="cpu", unit="ns")


def test_gnocchi_energy_counters_rate_sum_and_last_with_a_reset() -> None:
    per_granule = measures_to_energy(_pts(300.0, [3600.0, -5.0, 7200.0]), resource_id=NODE, metric="dram.energy",
                                     unit="Wh", aggregation="rate:sum")
    assert [r.energy_kwh for r in per_granule] == pytest.approx([3.6, 7.2]) and per_granule[0].component == "ram"
    counter = measures_to_energy(_pts(300.0, [1.0e6, 4.6e6, 1.0e5, 3.7e6]), resource_id=NODE, metric="energy",
                                 unit="J", aggregation="last")
    assert [(r.start, r.end) for r in counter] == [(T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)),
                                                   (T0 + timedelta(minutes=15), T0 + timedelta(minutes=20))]
    assert [r.energy_kwh for r in counter] == pytest.approx([1.0, 1.0])


def test_archive_policy_and_metric_documents() -> None:
    policy = parse_archive_policy({"name": "high", "back_window": 0, "aggregation_methods": ["mean", "max"],
                                   "definition": [{"granularity": "1:00:00", "points": 8760,
                                                   "timespan": "365 days, 0:00:00"},
                                                  {"granularity": "0:00:01", "points": 3600, "timespan": "1:00:00"},
                                                  {"granularity": "0:01:00", "points": 10080,
                                                   "timespan": "7 days, 0:00:00"}]})
    assert policy.granularities_s == (1.0, 60.0, 3600.0) and policy.finest_s == 1.0
    assert policy.describe() == "high: every 1 s for 1 h, every 1 min for 1 w, every 1 h for 365 d"
    metric = parse_metric({"id": "m-1", "name": "hardware.ipmi.node.power", "unit": "W", "resource_id": NODE,
                           "archive_policy": {"name": "low", "definition": [{"granularity": 300.0, "points": 8640,
                                                                             "timespan": 2592000.0}]}})
    assert metric.unit == "W" and metric.archive_policy is not None and metric.archive_policy.finest_s == 300.0
    with pytest.raises(DataFormatError, match="is not a span"):
        parse_archive_policy({"name": "x", "definition": [{"granularity": "soon"}]})


def test_aggregates_units_from_references_and_groupby() -> None:
    body = {"references": [{"id": "m-psu1", "name": "psu1.power", "unit": "W", "resource_id": NODE},
                           {"id": "m-cpu", "name": "cpu", "unit": "ns", "resource_id": NODE}],
            "measures": {"m-psu1": {"mean": _pts(60.0, [180.0]), "max": _pts(60.0, [250.0])},
                         "m-cpu": {"rate:mean": _pts(60.0, [3e10])}}}
    rec, = aggregates_to_energy(body)
    assert (rec.resource_id, rec.component, rec.power_w) == (NODE, "psu", 180.0)
    grouped = [{"group": {"rack": "r1"},
                "measures": {"references": [], "measures": {"aggregated": _pts(60.0, [900.0])}}}]
    rec, = aggregates_to_energy(grouped, unit="W")
    assert rec.resource_id == "rack=r1" and rec.energy_kwh == pytest.approx(900 * 60 / 3.6e6)
    with pytest.raises(DataFormatError, match=r"skipped: cpu rate:mean \[ns\]|skipped: cpu \[ns\]"):
        aggregates_to_energy({"references": body["references"], "measures": {"m-cpu": body["measures"]["m-cpu"]}})


def test_read_gnocchi_files_with_their_metric_and_the_cli(tmp_path: Path) -> None:
    (tmp_path / "measures.json").write_text(json.dumps(_pts(300.0, [250.0, None, 350.0]) + _pts(3600.0, [300.0])))
    (tmp_path / "metric.json").write_text(json.dumps({
        "id": "m-1", "name": "hardware.ipmi.node.power", "unit": "W", "resource_id": NODE,
        "archive_policy": {"name": "low", "definition": [{"granularity": "0:05:00", "points": 8640,
                                                          "timespan": "30 days, 0:00:00"},
                                                         {"granularity": "1:00:00", "points": 720,
                                                          "timespan": "30 days, 0:00:00"}]}}))
    recs, policies = read_gnocchi([tmp_path / "measures.json", tmp_path / "metric.json"])
    assert [r.power_w for r in recs] == [250.0, 350.0] and {r.resource_id for r in recs} == {NODE}
    assert policies[0].describe() == "low: every 5 min for 30 d, every 1 h for 30 d"
    with pytest.raises(InputError, match="granularity 60 s is not kept by archive policy low"):
        read_gnocchi([tmp_path / "measures.json", tmp_path / "metric.json"], granularity=60)
    with pytest.raises(DataFormatError, match="carries no unit"):
        read_gnocchi([tmp_path / "measures.json"])
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["telemetry", "gnocchi", "--file", str(tmp_path / "measures.json"), "--unit",
                                      "W", "--granularity", "3600", "--format", "csv"])
    assert result.exit_code == 0, result.output
    row = result.output.strip().splitlines()[1].split(",")
    assert float(row[4]) == pytest.approx(0.3) and row[1] == "measures"  # 300 W for an hour; the file stem names it


# ====================================================================== gnocchi live
class _Gnocchi(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        parts = urlsplit(self.path)
        q = parse_qs(parts.query)
        if parts.path == "/v1/metric/m-gpu":
            doc: Any = {"id": "m-gpu", "name": "gpu0.power", "unit": "W", "resource_id": NODE,
                        "archive_policy": {"name": "medium", "definition": [
                            {"granularity": "0:01:00", "points": 10080, "timespan": "7 days, 0:00:00"},
                            {"granularity": "1:00:00", "points": 8760, "timespan": "365 days, 0:00:00"}]}}
        elif parts.path == "/v1/metric/m-gpu/measures":
            gran = float(q.get("granularity", ["0"])[0])
            doc = _pts(gran, [120.0, 180.0]) if gran in (60.0, 3600.0) else MIXED
        else:
            self.send_error(404)
            return
        data = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def gnocchi_url() -> Iterator[str]:
    with loopback_server(_Gnocchi) as url:
        yield url


def test_live_power_asks_the_policys_finest_granularity(gnocchi_url: str) -> None:
    with GnocchiClient(gnocchi_url, retries=0) as client:
        recs = client.power("m-gpu")
        with pytest.raises(InputError, match="granularity 300 s is not kept by archive policy medium"):
            client.power("m-gpu", granularity=300)
    assert [(r.component, r.resource_id, r.duration_s, r.power_w) for r in recs] == [
        ("gpu", NODE, 60.0, 120.0), ("gpu", NODE, 60.0, 180.0)]


def test_component_words_from_names() -> None:
    assert component_from_name("hardware.ipmi.node.power") == "total"
    assert component_from_name("ps2_input_power") == "psu"
    assert component_from_name("pdu.outlet3.power") == "outlet"
    assert component_from_name("dram_energy") == "ram"
