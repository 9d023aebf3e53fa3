"""Fuzz the energy readers and commands: broken copies of good inputs, each answered by a result or a clear error.

Good inputs are small literals below (ipmitool and FreeIPMI DCMI readings, Redfish Power and an expanded
PowerSubsystem, PDU exports in watts and in kWh, Gnocchi measures and aggregates, Ceilometer samples, a
records file). Their mutants (:mod:`corrupt`, plus DCMI and Redfish mutations of this file) go through
each reader function and through ``greenci telemetry ipmi|redfish|pdu`` (with and without ``-o``);
``greenci measure`` gets output paths it must refuse before the command runs.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from corrupt import EXAMPLES, Mutant, byte_mutants, check, check_cli, csv_mutants, json_mutants
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loopback import loopback_server

from greenci.energy.ceilometer import parse_samples
from greenci.energy.gnocchi import parse_aggregates, parse_measures
from greenci.energy.ipmi import parse_dcmi_power_reading, read_ipmi
from greenci.energy.pdu import read_pdu_csv
from greenci.energy.records import read_records, to_intervals
from greenci.energy.redfish import parse_redfish, read_redfish

SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
AT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

# ====================================================================== good inputs
IPMITOOL = b"""
    Instantaneous power reading:                   220 Watts
    Minimum during sampling period:                 48 Watts
    Maximum during sampling period:                361 Watts
    Average power reading over sample period:      157 Watts
    IPMI timestamp:                           Thu Feb 15 08:36:01 2024
    Sampling period:                          00000600 Seconds.
    Power reading state is:                   activated

    Instantaneous power reading:                   230 Watts
    Minimum during sampling period:                 48 Watts
    Maximum during sampling period:                361 Watts
    Average power reading over sample period:      165 Watts
    IPMI timestamp:                           Thu Feb 15 08:46:01 2024
    Sampling period:                          00000600 Seconds.
    Power reading state is:                   activated

"""

FREEIPMI = b"""Current Power                        : 332 Watts
Minimum Power over sampling duration : 68 watts
Maximum Power over sampling duration : 504 watts
Average Power over sampling duration : 348 watts
Time Stamp                           : 11/03/2023 - 08:36:29
Statistics reporting time period     : 60000 milliseconds
Power Measurement                    : Active
"""

REDFISH_POWER = json.dumps({
    "@odata.id": "/redfish/v1/Chassis/1U/Power", "@odata.type": "#Power.v1_7_1.Power", "Id": "Power",
    "PowerControl": [{"MemberId": "0", "PowerConsumedWatts": 344,
                      "PowerMetrics": {"IntervalInMin": 30, "MinConsumedWatts": 271, "AverageConsumedWatts": 319}}],
    "PowerSupplies": [{"MemberId": "0", "Name": "PSU 1", "PowerInputWatts": 370}],
}).encode()

REDFISH_SUBSYSTEM = json.dumps({
    "@odata.type": "#PowerSubsystem.v1_1_0.PowerSubsystem", "Id": "PowerSubsystem", "CapacityWatts": 2000,
    "@odata.id": "/redfish/v1/Chassis/1U/PowerSubsystem",
    "PowerSupplies": {"@odata.id": "/redfish/v1/Chassis/1U/PowerSubsystem/PowerSupplies",
                      "Members": [{"Id": "Bay1", "Metrics": {
                          "@odata.type": "#PowerSupplyMetrics.v1_1_2.PowerSupplyMetrics", "Id": "Metrics",
                          "InputPowerWatts": {"Reading": 937.4}, "EnergykWh": {"Reading": 325675}}}]},
}).encode()

PDU_WATTS = (b"Timestamp,Outlet,Active Power (W)\n2024-03-01T12:00:00Z,A1,100\n2024-03-01T12:00:00Z,A2,50\n"
             b"2024-03-01T12:01:00Z,A1,200\n2024-03-01T12:01:00Z,A2,60\n2024-03-01T12:02:00Z,A1,150\n")
PDU_KWH = b"time,kW,kWh\n1709294400,1.2,100.0\n1709295300,1.4,100.3\n1709296200,1.0,100.55\n"

GNOCCHI_MEASURES = json.dumps([["2024-03-01T12:00:00+00:00", 300.0, 1.5e9],
                               ["2024-03-01T12:05:00+00:00", 300.0, 2.5e9],
                               ["2024-03-01T12:10:00+00:00", 300.0, None]]).encode()
GNOCCHI_AGGREGATES = json.dumps({"measures": {"vm-1": {"cpu": {"rate:mean": [
    ["2024-03-01T12:00:00+00:00", 300.0, 1.5e9], ["2024-03-01T12:05:00+00:00", 300.0, 2.0e9]]}}}}).encode()
CEILOMETER = json.dumps([
    {"counter_name": "cpu", "counter_type": "cumulative", "counter_unit": "ns", "counter_volume": 1.2e12,
     "resource_id": "vm-1", "timestamp": "2024-03-01T12:00:00", "project_id": "p", "user_id": "u",
     "message_id": "m1", "recorded_at": "2024-03-01T12:00:01", "source": "openstack", "resource_metadata": {}},
    {"counter_name": "cpu", "counter_type": "cumulative", "counter_unit": "ns", "counter_volume": 1.3e12,
     "resource_id": "vm-1", "timestamp": "2024-03-01T12:10:00", "project_id": "p", "user_id": "u",
     "message_id": "m2", "recorded_at": "2024-03-01T12:10:01", "source": "openstack", "resource_metadata": {}},
]).encode()
RECORDS = (b"source,resource_id,start,end,energy_kwh,power_w,meter_kwh,component,method\r\n"
           b"greenci-measure,make test,2024-03-01T12:00:00Z,2024-03-01T12:00:30Z,0.001,120.0,,cpu,model\r\n"
           b"pdu-csv,A1,2024-03-01T12:00:00Z,2024-03-01T12:00:00Z,,100.0,,outlet,PDU export\r\n")


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    """A fresh folder per example (the fixture's folder is shared by all examples of a test)."""
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / name
    path.write_bytes(data)
    return path


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


# ====================================================================== DCMI and Redfish mutations
BAD_WATTS = ("-5", "65535", "1e308", "250000", "abc", "nan", "")


@st.composite
def dcmi_mutants(draw: st.DrawFn, good: bytes) -> Mutant:
    """What goes wrong in a DCMI reading: bad watts, power measurement off, a time or period that is not one,
    fields run together on one line (as ipmitool 1.8.19 prints them), a line lost."""
    text = good.decode()
    lines = text.split("\n")
    kind = draw(st.sampled_from(["bad-watts", "deactivated", "bad-time", "bad-period", "one-line", "drop-line"]))
    if kind == "bad-watts":
        value = draw(st.sampled_from(BAD_WATTS))
        label = draw(st.sampled_from(["Instantaneous power reading:", "Average power reading over sample period:",
                                      "Current Power", "Average Power over sampling duration"]))
        i = next((k for k, line in enumerate(lines) if line.strip().startswith(label)), None)
        if i is None:
            return Mutant("unchanged", good, False)
        head, _sep, rest = lines[i].partition(":")
        unit = "Watts" if value else ""
        changed = lines[:i] + [f"{head}: {value} {unit}"] + lines[i + 1:]
        return Mutant(f"{label} {value!r}", "\n".join(changed).encode(), True)
    if kind == "deactivated":
        state = draw(st.sampled_from(["deactivated", "Not Available", "not active"]))
        changed = [(line.split(":")[0] + ": " + state) if line.strip().lower().startswith(("power reading state",
                                                                                         "power measurement"))
                   else line for line in lines]
        return Mutant(f"power measurement {state}", "\n".join(changed).encode(), True)
    if kind == "bad-time":
        value = draw(st.sampled_from(["garbage", "S+ 00:00:12", "Unspecified", "13/45/2024 99:99:99",
                                      "02/15/24 08:36:01 XYZ", "Thu Jan  1 00:00:00 1970"]))
        changed = [(line.split(":")[0] + ": " + value) if line.strip().lower().startswith(("ipmi timestamp",
                                                                                         "time stamp"))
                   else line for line in lines]
        return Mutant(f"timestamp {value!r}", "\n".join(changed).encode(), True)
    if kind == "bad-period":
        value = draw(st.sampled_from(["99999999999 Seconds.", "-5 Seconds.", "soon", "1" * 400 + " ms"]))
        changed = [(line.split(":")[0] + ": " + value) if line.strip().lower().startswith(("sampling period",
                                                                                         "statistics reporting"))
                   else line for line in lines]
        return Mutant(f"period {value!r}", "\n".join(changed).encode(), True)
    if kind == "one-line":
        joined = text.replace(" 2024\n", " 2024    ").replace("08:36:29\n", "08:36:29    ")
        return Mutant("timestamp and period on one line", joined.encode(), False)
    i = draw(st.integers(0, len(lines) - 1))
    return Mutant(f"line {i + 1} dropped", "\n".join(lines[:i] + lines[i + 1:]).encode(), False)


@st.composite
def redfish_value_mutants(draw: st.DrawFn, good: bytes) -> Mutant:
    """A reading the readers take made negative, huge, not finite-able or of the wrong type: must be refused."""
    doc = json.loads(good)
    value = draw(st.sampled_from([-1, 1e308, 10**400, "344", [], {"Reading": 1}, True]))
    if "PowerControl" in doc:
        where = draw(st.sampled_from([("PowerControl", 0, "PowerConsumedWatts"),
                                      ("PowerControl", 0, "PowerMetrics", "AverageConsumedWatts"),
                                      ("PowerSupplies", 0, "PowerInputWatts")]))
    else:
        where = draw(st.sampled_from([("PowerSupplies", "Members", 0, "Metrics", "InputPowerWatts", "Reading"),
                                      ("PowerSupplies", "Members", 0, "Metrics", "EnergykWh", "Reading")]))
    node = doc
    for k in where[:-1]:
        node = node[k]
    node[where[-1]] = value
    text = json.dumps(doc) if value != 10**400 else json.dumps(doc).replace(str(10**400), "1" + "0" * 400)
    return Mutant(f"{'/'.join(map(str, where))} = {str(value)[:20]}", text.encode(), True)


# ====================================================================== readers
@SETTINGS
@given(mutant=st.one_of(byte_mutants(IPMITOOL), dcmi_mutants(IPMITOOL)))
def test_fuzz_reader_ipmi_file(tmp_path: Path, mutant: Mutant) -> None:
    path = _file(tmp_path, "node7.txt", mutant.data)
    check("reader ipmi", lambda: to_intervals(read_ipmi(path)), mutant, names=(str(path),))


@SETTINGS
@given(mutant=st.one_of(byte_mutants(FREEIPMI), dcmi_mutants(FREEIPMI)))
def test_fuzz_reader_freeipmi_text(mutant: Mutant) -> None:
    check("reader ipmi text (FreeIPMI)", lambda: parse_dcmi_power_reading(_text(mutant.data), path="freeipmi.txt"),
          mutant, names=("freeipmi.txt",))


@SETTINGS
@given(mutant=st.one_of(byte_mutants(REDFISH_POWER), json_mutants(REDFISH_POWER), redfish_value_mutants(REDFISH_POWER)))
def test_fuzz_reader_redfish_power_file(tmp_path: Path, mutant: Mutant) -> None:
    path = _file(tmp_path, "power.json", mutant.data)
    check("reader redfish", lambda: to_intervals(read_redfish(path)), mutant, names=(str(path),))


@SETTINGS
@given(mutant=st.one_of(json_mutants(REDFISH_SUBSYSTEM), redfish_value_mutants(REDFISH_SUBSYSTEM)))
def test_fuzz_reader_redfish_power_subsystem_document(mutant: Mutant) -> None:
    def read() -> object:
        return parse_redfish(json.loads(mutant.data), chassis="1U", at=AT, where="subsystem.json")

    try:
        json.loads(mutant.data)
    except ValueError:
        return  # the document parser is fed documents; bytes that are not JSON are read_redfish's (above)
    check("reader redfish document (PowerSubsystem)", read, mutant, names=("subsystem.json",))


@SETTINGS
@given(mutant=st.one_of(byte_mutants(PDU_WATTS),
                        csv_mutants(PDU_WATTS, required=("Timestamp", "Active Power (W)"),
                                    value_columns=("Active Power (W)",))))
def test_fuzz_reader_pdu_watts(tmp_path: Path, mutant: Mutant) -> None:
    path = _file(tmp_path, "rack12.csv", mutant.data)
    check("reader pdu", lambda: to_intervals(read_pdu_csv(path)), mutant, names=(str(path),))


@SETTINGS
@given(mutant=st.one_of(byte_mutants(PDU_KWH), csv_mutants(PDU_KWH, required=("time",), value_columns=("kW", "kWh"))))
def test_fuzz_reader_pdu_kwh(tmp_path: Path, mutant: Mutant) -> None:
    path = _file(tmp_path, "pdu.csv", mutant.data)
    check("reader pdu (kW, kWh)", lambda: to_intervals(read_pdu_csv(path)), mutant, names=(str(path),))


def _json_or_none(data: bytes) -> object:
    try:
        return json.loads(data)
    except ValueError:
        return None


@SETTINGS
@given(mutant=json_mutants(GNOCCHI_MEASURES))
def test_fuzz_reader_gnocchi_measures(mutant: Mutant) -> None:
    doc = _json_or_none(mutant.data)  # the payload of a response; a body that is not JSON is the HTTP layer's
    check("reader gnocchi measures", lambda: parse_measures(doc, resource_id="vm-1", metric="cpu", unit="ns",
                                                            where="gnocchi measures"),
          mutant, names=("gnocchi measures",))


@SETTINGS
@given(mutant=json_mutants(GNOCCHI_AGGREGATES))
def test_fuzz_reader_gnocchi_aggregates(mutant: Mutant) -> None:
    doc = _json_or_none(mutant.data)
    check("reader gnocchi aggregates", lambda: parse_aggregates(doc), mutant, names=("gnocchi aggregates",))


@SETTINGS
@given(mutant=json_mutants(CEILOMETER))
def test_fuzz_reader_ceilometer_samples(mutant: Mutant) -> None:
    doc = _json_or_none(mutant.data)
    check("reader ceilometer samples", lambda: parse_samples(doc, where="ceilometer samples"), mutant,
          names=("ceilometer samples",))


@SETTINGS
@given(mutant=st.one_of(byte_mutants(RECORDS), csv_mutants(RECORDS, required=("source", "resource_id", "start", "end"),
                                                           value_columns=("energy_kwh", "power_w"))))
def test_fuzz_reader_records_file(tmp_path: Path, mutant: Mutant) -> None:
    path = _file(tmp_path, "records.csv", mutant.data)
    check("reader records csv", lambda: read_records(path), mutant, names=(str(path),))


# ====================================================================== commands
TELEMETRY = {
    "ipmi": (IPMITOOL, "node7.txt", lambda: st.one_of(byte_mutants(IPMITOOL), dcmi_mutants(IPMITOOL))),
    "redfish": (REDFISH_POWER, "power.json", lambda: st.one_of(byte_mutants(REDFISH_POWER), json_mutants(REDFISH_POWER),
                                                             redfish_value_mutants(REDFISH_POWER))),
    "pdu": (PDU_WATTS, "rack12.csv", lambda: st.one_of(byte_mutants(PDU_WATTS), csv_mutants(
        PDU_WATTS, required=("Timestamp", "Active Power (W)"), value_columns=("Active Power (W)",)))),
}


def _telemetry(tmp_path: Path, command: str, mutant: Mutant, to_file: bool, extra: list[str]) -> None:
    _good, name, _strategy = TELEMETRY[command]
    path = _file(tmp_path, name, mutant.data)
    args = ["telemetry", command, str(path), *extra]
    outputs: tuple[Path, ...] = ()
    if to_file:
        out = path.parent / "records.csv"
        out.write_bytes(RECORDS.replace(b"make test", b"earlier run"))  # earlier records must survive a refusal
        args += ["-o", str(out)]
        outputs = (out,)
    check_cli(f"cli telemetry {command}" + (" -o" if to_file else ""), args, mutant, names=(str(path),),
              outputs=outputs)
    if to_file:
        assert outputs[0].read_bytes().startswith(RECORDS.replace(b"make test", b"earlier run"))


@SETTINGS
@given(mutant=TELEMETRY["ipmi"][2](), to_file=st.booleans())
def test_fuzz_cli_telemetry_ipmi(tmp_path: Path, mutant: Mutant, to_file: bool) -> None:
    _telemetry(tmp_path, "ipmi", mutant, to_file, ["--intervals", "--format", "json"])


@SETTINGS
@given(mutant=TELEMETRY["redfish"][2](), to_file=st.booleans())
def test_fuzz_cli_telemetry_redfish(tmp_path: Path, mutant: Mutant, to_file: bool) -> None:
    _telemetry(tmp_path, "redfish", mutant, to_file, ["--intervals", "--at", "2024-03-01T12:00:00Z"])


@SETTINGS
@given(mutant=TELEMETRY["pdu"][2](), to_file=st.booleans())
def test_fuzz_cli_telemetry_pdu(tmp_path: Path, mutant: Mutant, to_file: bool) -> None:
    _telemetry(tmp_path, "pdu", mutant, to_file, ["--format", "csv"])


@st.composite
def bad_output_paths(draw: st.DrawFn, root: Path, options: tuple[str, ...] = ("-o", "--records")
                     ) -> tuple[Mutant, list[str], Path]:
    """An ``-o`` or ``--records`` path a command must refuse before it starts its work."""
    option = draw(st.sampled_from(options))
    suffix = ".json" if option == "-o" else ".csv"
    kind = draw(st.sampled_from(["folder", "folder/", "parent-is-a-file", "wrong-suffix", "no-suffix",
                                 "foreign-columns"] + (["unwritable-parent"] if os.geteuid() != 0 else [])))
    folder = Path(tempfile.mkdtemp(dir=root))
    (folder / "a-file").write_text("x")
    if kind == "folder":
        path = folder
    elif kind == "folder/":
        path = Path(str(folder) + "/")
    elif kind == "parent-is-a-file":
        path = folder / "a-file" / f"out{suffix}"
    elif kind == "wrong-suffix":
        path = folder / draw(st.sampled_from(["out.txt", "out.xlsx", "out.json.bak"]))
    elif kind == "no-suffix":
        path = folder / "out"
    elif kind == "foreign-columns":
        path = folder / "other.csv"
        path.write_text("a,b\n1,2\n")
    else:
        locked = folder / "locked"
        locked.mkdir(mode=0o500)
        path = locked / f"out{suffix}"
    return Mutant(f"{option} {kind}", b"", True), [option, str(path)], path


@SETTINGS
@given(data=st.data())
def test_fuzz_cli_measure_refuses_bad_outputs_before_running(tmp_path: Path, data: st.DataObject) -> None:
    mutant, args, path = data.draw(bad_output_paths(tmp_path))
    marker = tmp_path / "the-command-ran"
    command = ["--", sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]
    check_cli("cli measure (bad -o / --records)", ["measure", "--no-gpu", "--report", "none", *args, *command],
              mutant, names=(str(path).rstrip("/"),), outputs=(path,) if path.suffix else ())
    assert not marker.exists(), f"{mutant.label}: the command ran"


# ====================================================================== OpenStack commands, over a loopback server
class _Served:
    """What the loopback Gnocchi / Ceilometer answers: a fixed resource list, and the payload under test."""

    body = b"[]"


class _OpenStack(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        if self.path.startswith("/v1/resource/instance"):
            data = json.dumps([{"id": "vm-1", "type": "instance", "metrics": {"cpu": "m-cpu"}}]).encode()
        else:
            data = _Served.body
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the http.server signature
        return


@pytest.fixture(scope="module")
def openstack() -> Iterator[str]:
    with loopback_server(_OpenStack) as url:
        yield url


@pytest.fixture
def no_keystone(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_PROJECT_ID", "GREENCI_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GREENCI_HTTP_RETRIES", "0")


def _openstack_cli(tmp_path: Path, name: str, args: list[str], mutant: Mutant, to_file: bool,
                   label: str) -> None:
    _Served.body = mutant.data
    outputs: tuple[Path, ...] = ()
    if to_file:
        out = Path(tempfile.mkdtemp(dir=tmp_path)) / "usage.csv"
        args = [*args, "-o", str(out)]
        outputs = (out,)
    check_cli(name, args, mutant, names=(label,), outputs=outputs)


@SETTINGS
@given(mutant=st.one_of(json_mutants(GNOCCHI_MEASURES), byte_mutants(GNOCCHI_MEASURES)), to_file=st.booleans(),
       to_energy=st.booleans())
def test_fuzz_cli_telemetry_gnocchi(tmp_path: Path, openstack: str, no_keystone: None, mutant: Mutant,
                                    to_file: bool, to_energy: bool) -> None:
    args = ["telemetry", "gnocchi", "--url", openstack, "--metric", "cpu", "--format", "json"]
    _openstack_cli(tmp_path, "cli telemetry gnocchi", args + (["--to-energy"] if to_energy else []), mutant, to_file,
                   "gnocchi")


@SETTINGS
@given(mutant=st.one_of(json_mutants(CEILOMETER), byte_mutants(CEILOMETER)), to_file=st.booleans())
def test_fuzz_cli_telemetry_ceilometer(tmp_path: Path, openstack: str, no_keystone: None, mutant: Mutant,
                                       to_file: bool) -> None:
    args = ["telemetry", "ceilometer", "--url", openstack, "--meter", "cpu", "--format", "csv"]
    _openstack_cli(tmp_path, "cli telemetry ceilometer", args, mutant, to_file, "ceilometer")


@SETTINGS
@given(data=st.data(), command=st.sampled_from(["gnocchi", "ceilometer"]))
def test_fuzz_cli_telemetry_openstack_refuses_bad_outputs_before_fetching(tmp_path: Path, no_keystone: None,
                                                                         data: st.DataObject, command: str) -> None:
    mutant, args, path = data.draw(bad_output_paths(tmp_path, ("-o",)))
    # nothing listens on port 9 of the loopback: a fetch before the -o check would be a network error (exit 4)
    base = ["telemetry", command, "--url", "http://127.0.0.1:9"] + (["--meter", "cpu"] if command == "ceilometer"
                                                                    else [])
    check_cli(f"cli telemetry {command} (bad -o)", [*base, *args], mutant, names=("--output",),
              outputs=(path,) if path.suffix else ())
