"""Fuzz every carbon-intensity reader: each file format of the registry, the saved Carbon Aware SDK JSON,
and each API client's payload parsing (served from a loopback server, so the client parses real HTTP).

Good inputs are small literal samples modelled on the real files' headers (``../shared/data``). Every
mutant must give a result or a :class:`~greenci.errors.GreenciError` naming the file (or the API); a
mutant that must be refused (a value out of bounds, a row cut short) must never give a result. Besides
the shared mutations of ``corrupt.py``, this file adds the ones the readers promise most: a value above
the plausibility bound or negative, a last line cut mid-way that loses cells, and (for the APIs) an
intensity field set to an extreme or non-finite number.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from corrupt import EXAMPLES, Mutant, byte_mutants, check, csv_mutants, json_mutants
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loopback import loopback_server

from greenci.grid import IntensityGrid
from greenci.sources import read_intensity, registered
from greenci.sources.carbon_aware_sdk import CarbonAwareSDKClient, read_carbon_aware_json
from greenci.sources.clients import CLIENT_NAMES
from greenci.sources.electricitymaps_api import ElectricityMapsClient
from greenci.sources.ukgrid_api import UKGridClient
from greenci.sources.watttime_api import WattTimeClient

FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
#: values a reader must refuse in an intensity cell, in g/kWh or lbs/MWh alike (beyond corrupt.BAD_NUMBERS)
OUT_OF_BOUNDS = ("9999", "99999", "1e308", "-0.5", "-1e308", "1e400")


# ====================================================================== file samples
@dataclass(frozen=True)
class FileSample:
    name: str  # the file name (some formats take the region from it)
    data: bytes
    required: tuple[str, ...]  # columns whose loss must be refused
    values: tuple[str, ...]  # the intensity columns read
    refused: bool = False  # a recognised table that holds no intensity: every variant is refused


EM_HEADER = ("Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
             "Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage,Renewable Percentage,Data Source,"
             "Data Estimated,Data Estimation Method")
EM_DIRECT = "Carbon Intensity gCO₂eq/kWh (direct)"


def _lines(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


FILES: dict[str, FileSample] = {
    "reader electricitymaps yearly csv": FileSample(
        "DE-LU_2022_hourly.csv",
        _lines(EM_HEADER,
               "2022-01-01 00:00:00,Germany,Germany,DE,163.46,213.79,81.25,73.73,entsoe.eu,false,",
               "2022-01-01 01:00:00,Germany,Germany,DE,166.66,218.0,80.81,72.84,entsoe.eu,false,",
               "2022-01-01 02:00:00,Germany,Germany,DE,171.31,223.82,80.2,72.11,entsoe.eu,true,TIME_SLICER_AVERAGE",
               "2022-01-01 03:00:00,Germany,Germany,DE,175.09,228.57,79.73,71.59,entsoe.eu,false,",
               "2022-01-01 04:00:00,Germany,Germany,DE,180.27,235.06,79.07,70.85,entsoe.eu,false,"),
        required=("Datetime (UTC)", EM_DIRECT), values=(EM_DIRECT,)),
    "reader electricitymaps history csv": FileSample(
        "us-cal-ciso_2020_hourly_sample.csv",
        _lines("datetime,created_at,updated_at,timestamp,zone_name,carbon_intensity_avg,"
               "carbon_intensity_production_avg,total_production_avg,power_production_solar_avg",
               "2020-01-01T00:00:00+00:00,2020-03-01,2020-03-02,1577836800,US-CAL-CISO,332.39,301.2,21000,0",
               "2020-01-01T01:00:00+00:00,2020-03-01,2020-03-02,1577840400,US-CAL-CISO,363.37,330.5,20500,0",
               "2020-01-01T02:00:00+00:00,2020-03-01,2020-03-02,1577844000,US-CAL-CISO,355.37,321.0,20100,0",
               "2020-01-01T03:00:00+00:00,2020-03-01,2020-03-02,1577847600,US-CAL-CISO,346.76,318.4,19800,0"),
        required=("datetime", "carbon_intensity_avg"), values=("carbon_intensity_avg",)),
    "reader entsoe csv": FileSample(
        "fr_ci.csv",
        _lines("Time,Carbon Intensity", "2019-12-20 00:00:00,42.34123797146737",
               "2019-12-20 00:30:00,42.10165579940456", "2019-12-20 01:00:00,41.9", "2019-12-20 01:30:00,43.25"),
        required=("Time", "Carbon Intensity"), values=("Carbon Intensity",)),
    "reader entsoe production csv": FileSample(
        "fr_production.csv",
        _lines(",Biomass,Fossil Gas,Fossil Hard coal,Nuclear,Solar,Wind Onshore",
               "2019-12-20 00:00:00,350.0,2801.0,38.0,42176.0,0.0,10354.0",
               "2019-12-20 00:30:00,351.0,2790.0,38.0,42100.0,0.0,10400.0",
               "2019-12-20 01:00:00,349.0,2750.0,37.0,42050.0,0.0,10420.0"),
        required=(), values=("Biomass",), refused=True),
    "reader watttime wide csv": FileSample(
        "watttime_caiso_north_2023-06.csv",
        _lines("oootime,Caiso_North", "2023-06-08 00:00:00,425.01605069", "2023-06-08 00:05:00,432.27352861",
               "2023-06-08 00:10:00,430.1", "2023-06-08 00:15:00,428.9"),
        required=("oootime",), values=("Caiso_North",)),
    "reader watttime long csv": FileSample(
        "moer.csv",
        _lines("point_time,value,frequency,market,ba,datatype",
               "2023-06-08T00:00:00Z,1000,300,RTM,CAISO_NORTH,MOER",
               "2023-06-08T00:05:00Z,950.5,300,RTM,CAISO_NORTH,MOER",
               "2023-06-08T00:10:00Z,990,300,RTM,CAISO_NORTH,MOER",
               "2023-06-08T00:15:00Z,1010,300,RTM,CAISO_NORTH,MOER"),
        required=("point_time", "value", "ba"), values=("value",)),
}
FORMAT_OF = {
    "reader electricitymaps yearly csv": "electricitymaps_csv",
    "reader electricitymaps history csv": "electricitymaps_history",
    "reader entsoe csv": "entsoe_csv",
    "reader entsoe production csv": "entsoe_production",
    "reader watttime wide csv": "watttime_csv",
    "reader watttime long csv": "watttime_csv",
}


def test_every_registered_format_has_a_sample(tmp_path: Path) -> None:
    assert {f.name for f in registered()} == set(FORMAT_OF.values())
    from greenci.sources import detect_format

    for name, sample in FILES.items():  # and each good sample is of the format it stands for
        path = tmp_path / sample.name
        path.write_bytes(sample.data)
        assert detect_format(path) == FORMAT_OF[name], name
        if not sample.refused:
            assert read_intensity([path])


def _read_file(path: Path) -> Callable[[], Any]:
    """Read as the commands do: the file through the registry, then onto a grid (gaps padded)."""
    return lambda: IntensityGrid.from_series(read_intensity([path]), span="union")


def _run_file(name: str, tmp_path: Path, mutant: Mutant) -> None:
    sample = FILES[name]
    path = tmp_path / sample.name
    path.write_bytes(mutant.data)
    if sample.refused:
        mutant = Mutant(mutant.label, mutant.data, True)
    check(name, _read_file(path), mutant, names=(str(path),))


@st.composite
def bound_mutants(draw: st.DrawFn, good: bytes, values: tuple[str, ...]) -> Mutant:
    """An intensity cell out of bounds, or the last line cut so that it loses cells: both must be refused."""
    text = good.decode("utf-8")
    lines = text.rstrip("\n").split("\n")
    header = lines[0].split(",")
    if draw(st.booleans()):
        row = draw(st.integers(1, len(lines) - 1))
        col = header.index(draw(st.sampled_from(values)))
        value = draw(st.sampled_from(OUT_OF_BOUNDS))
        cells = lines[row].split(",")
        cells[col] = value
        lines[row] = ",".join(cells)
        return Mutant(f"row {row + 1} {header[col]!r} = {value}", ("\n".join(lines) + "\n").encode(), True)
    last = lines[-1]
    commas = [i for i, c in enumerate(last) if c == ","]
    cut = draw(st.integers(1, commas[-1]))  # at or before the last comma: at least one cell is lost
    return Mutant(f"last line cut after {cut} characters", "\n".join([*lines[:-1], last[:cut]]).encode(), True)


@pytest.mark.parametrize("name", list(FILES))
@FUZZ
@given(data=st.data())
def test_file_readers_on_broken_bytes(name: str, tmp_path: Path, data: st.DataObject) -> None:
    _run_file(name, tmp_path, data.draw(byte_mutants(FILES[name].data)))


@pytest.mark.parametrize("name", list(FILES))
@FUZZ
@given(data=st.data())
def test_file_readers_on_broken_tables(name: str, tmp_path: Path, data: st.DataObject) -> None:
    sample = FILES[name]
    mutant = data.draw(csv_mutants(sample.data, required=sample.required, value_columns=sample.values))
    _run_file(name, tmp_path, mutant)


@pytest.mark.parametrize("name", list(FILES))
@FUZZ
@given(data=st.data())
def test_file_readers_on_values_out_of_bounds_and_cut_lines(name: str, tmp_path: Path, data: st.DataObject) -> None:
    sample = FILES[name]
    _run_file(name, tmp_path, data.draw(bound_mutants(sample.data, sample.values)))


# ====================================================================== saved Carbon Aware SDK JSON
@st.composite
def value_mutants(draw: st.DrawFn, good: bytes, fields: Callable[[Any], list[tuple[dict, str]]]) -> Mutant:
    """One intensity field of the payload set to an extreme or non-finite number: must be refused.

    ``fields(doc)`` lists ``(object, key)`` of every intensity field of the parsed payload.
    """
    doc = json.loads(good)
    spots = fields(doc)
    k = draw(st.integers(0, len(spots) - 1))
    obj, key = spots[k]
    value = draw(st.sampled_from([1e308, -1e308, -1, 10**20, 9999.5, float("inf"), float("-inf"), float("nan")]))
    obj[key] = value
    return Mutant(f"{key} of item {k} = {value!r}", json.dumps(doc).encode(), True)  # NaN, Infinity as JS writes


CAS_FILE = json.dumps([
    {"location": "eastus", "time": "2022-05-17T20:00:00Z", "rating": 70.5, "duration": "00:05:00"},
    {"location": "eastus", "time": "2022-05-17T20:05:00Z", "rating": 71.5, "duration": "00:05:00"},
    {"location": "eastus", "time": "2022-05-17T20:10:00Z", "rating": 72.5, "duration": "00:05:00"},
]).encode()


@FUZZ
@given(data=st.data())
def test_carbon_aware_json_file_reader(tmp_path: Path, data: st.DataObject) -> None:
    mutant = data.draw(st.one_of(json_mutants(CAS_FILE), byte_mutants(CAS_FILE),
                                 value_mutants(CAS_FILE, lambda d: [(item, "rating") for item in d])))
    path = tmp_path / "emissions.json"
    path.write_bytes(mutant.data)
    check("reader carbon-aware-sdk json file", lambda: read_carbon_aware_json(path), mutant, names=(str(path),))


# ====================================================================== API payloads over loopback HTTP
@dataclass
class Served:
    body: bytes = b""


class _Api:
    """One loopback server for the module: /login gives a token, every other path the current payload."""

    def __init__(self) -> None:
        self.served = Served()
        self.lock = threading.Lock()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                body = b'{"token": "fuzz-token"}' if self.path.startswith("/login") else api.served.body
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[_Api, str]]:
    server = _Api()
    with loopback_server(server.handler()) as url:
        yield server, url


def _em_items(n: int = 3) -> list[dict[str, Any]]:
    return [{"zone": "DE", "carbonIntensity": 300 + i, "datetime": f"2024-03-01T0{i}:00:00.000Z",
             "updatedAt": "2024-03-01T00:00:00.000Z", "isEstimated": i == 2, "estimationMethod": None}
            for i in range(n)]


@dataclass(frozen=True)
class ApiSample:
    good: bytes
    fields: Callable[[Any], list[tuple[dict, str]]]  # where the intensity values are
    call: Callable[[str], Any]  # base URL -> what a command does with the client
    names: tuple[str, ...]


def _wt_client(url: str) -> WattTimeClient:
    return WattTimeClient("fuzz", "secret", base_url=url, retries=0, timeout_s=5)


WT_META = {"region": "CAISO_NORTH", "signal_type": "co2_moer", "units": "lbs_co2_per_mwh"}
APIS: dict[str, ApiSample] = {
    "api electricitymaps payload": ApiSample(
        json.dumps({"zone": "DE", "history": _em_items()}).encode(),
        lambda d: [(item, "carbonIntensity") for item in d["history"]],
        lambda url: ElectricityMapsClient("tok", base_url=url, retries=0, timeout_s=5).history("DE"),
        ("electricitymaps-api",)),
    "api watttime payload": ApiSample(
        json.dumps({"data": [{"point_time": f"2024-03-01T00:{5 * i:02d}:00+00:00", "value": 900.0 + i}
                             for i in range(3)], "meta": WT_META}).encode(),
        lambda d: [(item, "value") for item in d["data"]],
        lambda url: _wt_client(url).forecast("CAISO_NORTH"),
        ("watttime-api",)),
    "api ukgrid payload": ApiSample(
        json.dumps({"data": [{"from": f"2024-03-01T0{i}:00Z", "to": f"2024-03-01T0{i}:30Z",
                              "intensity": {"forecast": 150 + i, "actual": 140 + i, "index": "moderate"}}
                             for i in range(3)]}).encode(),
        lambda d: [(slot["intensity"], "actual") for slot in d["data"]],
        lambda url: UKGridClient(base_url=url, retries=0, timeout_s=5).history("GB", "2024-03-01T00:00Z",
                                                                                "2024-03-01T06:00Z"),
        ("ukgrid-api",)),
    "api carbon-aware-sdk payload": ApiSample(
        CAS_FILE,
        lambda d: [(item, "rating") for item in d],
        lambda url: CarbonAwareSDKClient(url, retries=0, timeout_s=5).history("eastus", "2022-05-17T20:00Z",
                                                                              "2022-05-17T21:00Z"),
        ("carbon-aware-sdk",)),
}
CLIENT_OF = {"api electricitymaps payload": "electricitymaps", "api watttime payload": "watttime",
             "api ukgrid payload": "ukgrid", "api carbon-aware-sdk payload": "carbon-aware-sdk"}


def test_every_client_has_a_payload_sample(api: tuple[_Api, str]) -> None:
    assert set(CLIENT_OF.values()) == set(CLIENT_NAMES)
    server, url = api
    for sample in APIS.values():  # the good payloads read
        with server.lock:
            server.served.body = sample.good
            assert sample.call(url).values_g_per_kwh.size == 3


@pytest.mark.parametrize("name", list(APIS))
@FUZZ
@given(data=st.data())
def test_api_payload_parsing(name: str, api: tuple[_Api, str], data: st.DataObject) -> None:
    sample = APIS[name]
    mutant = data.draw(st.one_of(json_mutants(sample.good), byte_mutants(sample.good),
                                 value_mutants(sample.good, sample.fields)))
    server, url = api
    with server.lock:
        server.served.body = mutant.data
        check(name, lambda: sample.call(url), mutant, names=sample.names)
