"""The API clients against a real local HTTP server that speaks each API's documented shapes.

The server (stdlib ThreadingHTTPServer on 127.0.0.1, port 0) checks credentials the way each API
does and can be told to answer 401, 429, 500, malformed JSON, or to sleep past the client timeout.
Nothing here leaves the loopback interface.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from loopback import loopback_server

from greenci.config import (
    DEFAULT_MAX_INTENSITY_G_PER_KWH,
    Secret,
    Settings,
    default_config_path,
    load_settings,
    max_intensity_g_per_kwh,
)
from greenci.errors import AuthenticationError, ConfigError, DataFormatError, InputError, SourceError
from greenci.grid import IntensitySeries
from greenci.http import HttpSession
from greenci.sources.carbon_aware_sdk import CarbonAwareSDKClient, parse_duration_s, read_carbon_aware_json
from greenci.sources.clients import CLIENT_NAMES, IntensityClient, make_client
from greenci.sources.electricitymaps_api import ElectricityMapsClient
from greenci.sources.points import ImplausibleValueError
from greenci.sources.ukgrid_api import UKGridClient
from greenci.sources.watttime_api import LBS_PER_MWH_TO_G_PER_KWH, WattTimeClient

EM_TOKEN = "em-token-SECRET-5f2a9c"
WT_USER = "ci-bot"
WT_PASSWORD = "wt-pass-SECRET-77e1"
T0 = datetime(2024, 3, 1, tzinfo=UTC)


# ====================================================================== the fake APIs
@dataclass
class Reply:
    """A scripted answer: status, JSON (or raw text) body, headers, and an optional delay."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    sleep_s: float = 0.0
    raw: str | None = None


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


class FakeApis:
    """State and routes of the four fake APIs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[Seen] = []
        self.scripts: dict[str, list[Reply]] = {}
        self.wt_logins = 0
        self.wt_valid: set[str] = set()
        self.casdk_duration = "timespan"

    # -------------------------------------------------------------- scripting
    def script(self, prefix: str, *replies: Reply) -> None:
        """Answer the next requests whose path starts with ``prefix`` with ``replies``, in order."""
        with self.lock:
            self.scripts.setdefault(prefix, []).extend(replies)

    def paths(self, prefix: str = "") -> list[str]:
        return [s.path for s in self.seen if s.path.startswith(prefix)]

    def answer(self, seen: Seen) -> Reply:
        with self.lock:
            self.seen.append(seen)
            for prefix, queue in self.scripts.items():
                if seen.path.startswith(prefix) and queue:
                    return queue.pop(0)
        return self.route(seen)

    # -------------------------------------------------------------- routes
    def route(self, s: Seen) -> Reply:
        q = {k: v[0] for k, v in s.query.items()}
        if s.path.startswith("/v3/carbon-intensity/"):
            if s.headers.get("auth-token") != EM_TOKEN:
                return Reply(401, {"status": "error", "message": "Invalid or missing auth-token"})
            return self.electricitymaps(s.path.rsplit("/", 1)[1], q)
        if s.path == "/login":
            expected = "Basic " + base64.b64encode(f"{WT_USER}:{WT_PASSWORD}".encode()).decode()
            if s.headers.get("authorization") != expected:
                return Reply(401, {"error": "Unauthorized"})
            self.wt_logins += 1
            token = f"wt-jwt-SECRET-{self.wt_logins}"
            self.wt_valid.add(token)
            return Reply(200, {"token": token})
        if s.path.startswith("/v3/"):
            auth = s.headers.get("authorization", "")
            if not auth.startswith("Bearer ") or auth[7:] not in self.wt_valid:
                return Reply(401, {"error": "Unauthorized: token expired"})
            return self.watttime(s.path, q)
        if s.path.startswith(("/intensity/", "/regional/intensity/")):
            return self.ukgrid(s.path)
        if s.path.startswith("/emissions/"):
            return self.carbon_aware(s.path, q)
        return Reply(404, {"error": f"no route {s.path}"})

    def electricitymaps(self, endpoint: str, q: dict[str, str]) -> Reply:
        zone = q.get("zone")
        if not zone:
            return Reply(400, {"error": "zone is required"})

        def item(t: datetime, value: float, estimated: bool = False) -> dict:
            return {"zone": zone, "carbonIntensity": value, "datetime": _iso(t), "updatedAt": _iso(T0),
                    "createdAt": _iso(T0), "emissionFactorType": "lifecycle", "isEstimated": estimated,
                    "estimationMethod": "TIME_SLICER_AVERAGE" if estimated else None}

        if endpoint == "history":
            return Reply(200, {"zone": zone, "history": [item(T0 + timedelta(hours=i), 300 + i, i >= 22)
                                                         for i in range(24)]})
        if endpoint == "past-range":
            start, end = _parse(q["start"]), _parse(q["end"])
            points, t = [], start
            while t <= end:  # the real API's end is inclusive
                points.append(item(t, 200 + (int(t.timestamp()) // 3600) % 50))
                t += timedelta(hours=1)
            return Reply(200, {"zone": zone, "data": points})
        if endpoint == "forecast":
            return Reply(200, {"zone": zone, "updatedAt": _iso(T0),
                               "forecast": [{"carbonIntensity": 250 + i, "datetime": _iso(T0 + timedelta(hours=i))}
                                            for i in range(72)]})
        return Reply(404, {"error": "unknown endpoint"})

    def watttime(self, path: str, q: dict[str, str]) -> Reply:
        meta = {"region": q.get("region"), "signal_type": q.get("signal_type"), "units": "lbs_co2_per_mwh",
                "data_point_period_seconds": 300, "model": {"date": "2023-03-01"}, "warnings": []}
        if path == "/v3/historical":
            start, end = _parse(q["start"]), _parse(q["end"])
            data, t = [], start
            while t <= end:
                data.append({"point_time": t.isoformat(), "value": 1000.0 + (int(t.timestamp()) // 300) % 7})
                t += timedelta(minutes=5)
            return Reply(200, {"data": data, "meta": meta})
        if path == "/v3/forecast":
            meta["generated_at"] = T0.isoformat()
            data = [{"point_time": (T0 + timedelta(minutes=5 * i)).isoformat(), "value": 900.0 + i}
                    for i in range(288)]
            return Reply(200, {"data": data, "meta": meta})
        return Reply(404, {"error": "unknown endpoint"})

    def ukgrid(self, path: str) -> Reply:
        m = re.match(r"^(/regional)?/intensity/([^/]+)/([^/]+)(?:/regionid/(\d+))?$", path)
        if not m:
            return Reply(400, {"error": {"code": "400 Bad Request", "message": "Please enter valid path"}})
        regional, frm, to, rid = m.groups()
        start = _parse(frm)
        start = start.replace(minute=start.minute // 30 * 30, second=0)
        if to == "fw48h":
            end, forecast_only = start + timedelta(hours=48), True
        else:
            end, forecast_only = _parse(to), False
        slots, t = [], start
        while t <= end:
            i = len(slots)
            intensity: dict[str, Any] = {"forecast": 150 + i % 40, "index": "moderate"}
            if not regional:
                intensity["actual"] = None if forecast_only or i % 10 == 9 else 140 + i % 40
            slot = {"from": t.strftime("%Y-%m-%dT%H:%MZ"),
                    "to": (t + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%MZ"), "intensity": intensity}
            if regional:
                slot["generationmix"] = [{"fuel": "gas", "perc": 41.2}, {"fuel": "wind", "perc": 30.1}]
            slots.append(slot)
            t += timedelta(minutes=30)
        if regional:
            return Reply(200, {"data": {"regionid": int(rid), "dnoregion": "UKPN London", "shortname": "London",
                                        "data": slots}})
        return Reply(200, {"data": slots})

    def carbon_aware(self, path: str, q: dict[str, str]) -> Reply:
        location = q.get("location")
        if not location:
            return Reply(400, {"title": "One or more validation errors occurred.", "status": 400})
        if path == "/emissions/bylocation":
            start, end = _parse(q["time"]), _parse(q["toTime"])
            duration = "00:05:00" if self.casdk_duration == "timespan" else "PT5M"
            out, t = [], start
            while t < end:
                out.append({"location": location, "time": t.isoformat(), "rating": 70.5 + len(out) % 3,
                            "duration": duration})
                t += timedelta(minutes=5)
            return Reply(200, out)
        if path == "/emissions/forecasts/current":
            points = [{"location": "IE", "timestamp": (T0 + timedelta(minutes=5 * i)).isoformat(), "duration": 5,
                       "value": 500.0 - i} for i in range(12)]
            return Reply(200, [{"requestedAt": T0.isoformat(), "generatedAt": T0.isoformat(), "location": location,
                                "dataStartAt": points[0]["timestamp"], "dataEndAt": points[-1]["timestamp"],
                                "windowSize": 5, "optimalDataPoints": [points[-1]], "forecastData": points}])
        return Reply(404, {"error": "unknown endpoint"})


def _handler(apis: FakeApis) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            seen = Seen(self.command, parts.path, parse_qs(parts.query),
                        {k.lower(): v for k, v in self.headers.items()})
            reply = apis.answer(seen)
            if reply.sleep_s:
                time.sleep(reply.sleep_s)
            body = (reply.raw if reply.raw is not None else json.dumps(reply.body)).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                pass

        do_GET = _serve
        do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            return

    return Handler


@dataclass
class Server:
    apis: FakeApis
    url: str


@pytest.fixture
def server() -> Iterator[Server]:
    apis = FakeApis()
    with loopback_server(_handler(apis)) as url:
        yield Server(apis, url)




def _settings(server: Server, **changes: Any) -> Settings:
    base = Settings(electricitymaps_token=Secret(EM_TOKEN), electricitymaps_url=server.url,
                    watttime_username=WT_USER, watttime_password=Secret(WT_PASSWORD), watttime_url=server.url,
                    ukgrid_url=server.url, carbon_aware_sdk_url=server.url, timeout_s=2.0, retries=0,
                    backoff_s=0.0)
    return base.with_overrides(**changes)


def _check_series(s: IntensitySeries, region: str, signal: str, source: str) -> None:
    assert s.region == region
    assert s.signal == signal
    assert s.source == source
    assert s.times.dtype == np.dtype("datetime64[s]")
    assert s.values_g_per_kwh.dtype == np.float64
    assert np.all(np.diff(s.times.astype(np.int64)) > 0)


# ====================================================================== config
def test_secret_never_shows_its_value() -> None:
    s = Secret("hunter2-token")
    assert str(s) == repr(s) == f"{s}" == f"{s!r}" == "***"
    assert s.reveal() == "hunter2-token"
    assert s == Secret("hunter2-token") and s != Secret("other")
    assert "hunter2" not in repr(Settings(electricitymaps_token=s))
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(s)


def test_env_wins_over_config_file_and_file_fills_the_rest(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[sources.electricitymaps]\ntoken = "from-file"\nurl = "https://em.example.org/"\n'
        '[sources.watttime]\nusername = "file-user"\npassword = "file-pass"\n'
        '[sources.carbon-aware-sdk]\nurl = "http://127.0.0.1:9"\nsignal = "average"\n'
        "[http]\ntimeout_s = 3.5\nretries = 4\n"
    )
    env = {"GREENCI_CONFIG": str(cfg), "GREENCI_ELECTRICITYMAPS_TOKEN": "from-env",
           "GREENCI_WATTTIME_USERNAME": "", "GREENCI_HTTP_RETRIES": "1"}
    s = load_settings(env=env)
    assert s.electricitymaps_token.reveal() == "from-env"  # env wins
    assert s.electricitymaps_url == "https://em.example.org"  # file, trailing slash dropped
    assert s.watttime_username == "file-user"  # empty env var does not hide the file value
    assert s.watttime_password.reveal() == "file-pass"
    assert s.carbon_aware_sdk_url == "http://127.0.0.1:9" and s.carbon_aware_sdk_signal == "average"
    assert s.timeout_s == 3.5 and s.retries == 1
    assert s.config_path == cfg
    assert "from-env" not in repr(s) and "file-pass" not in repr(s)


def test_default_config_path_follows_greenci_config_then_xdg(tmp_path: Path) -> None:
    assert default_config_path({"GREENCI_CONFIG": "/x/y.toml"}) == Path("/x/y.toml")
    assert default_config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "greenci" / "config.toml"
    (tmp_path / "greenci").mkdir()
    (tmp_path / "greenci" / "config.toml").write_text('[sources.electricitymaps]\ntoken = "xdg"\n')
    assert load_settings(env={"XDG_CONFIG_HOME": str(tmp_path)}).electricitymaps_token.reveal() == "xdg"


@pytest.mark.parametrize(
    "text, message",
    [
        ('[sources.electricitymaps]\ntokn = "x"\n', "`tokn` under [sources.electricitymaps] is unknown"),
        ('[sources.elektricitymaps]\ntoken = "x"\n', "[sources.elektricitymaps] is unknown"),
        ("[sources.electricitymaps\n", "not valid TOML"),
        ("[http]\ntimeout_s = \"fast\"\n", "is not a number"),
        ('[sources.ukgrid]\nurl = "ftp://x"\n', "not an http(s) URL"),
        ('[sources.carbon-aware-sdk]\nsignal = "mean"\n', "GREENCI_CARBON_AWARE_SDK_SIGNAL"),
        ('[sources.carbon-aware-sdk]\nsignal = "mean"\n', "`signal` under [sources.carbon-aware-sdk]"),
        ("[http]\ntimeout_s = -1\n", "`timeout_s` under [http] in"),
        ("[http]\ntimeout_s = -1\n", "GREENCI_HTTP_TIMEOUT_S"),
        ('[sources.""]\ntoken = "x"\n', "a [sources.''] table with an empty name is unknown"),
        ("[htpp]\ntimeout_s = 3\n", "table [htpp] is unknown: greenci reads [sources.<name>], [http], [intensity]"),
        ("timeout_s = 3\n", "key `timeout_s` at the top is unknown"),
        ("[intensity]\nmax = 3\n", "key `max` under [intensity] is unknown: use `max_g_per_kwh`"),
        ("[intensity]\nmax_g_per_kwh = 0\n", "`max_g_per_kwh` under [intensity] in"),
        ("[intensity]\nmax_g_per_kwh = inf\n", "must be a number > 0"),
        ('[intensity]\nmax_g_per_kwh = "lots"\n', "is not a number"),
        ("intensity = 5\n", "`intensity` must be a table"),
    ],
)
def test_bad_config_file_says_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(env={"GREENCI_CONFIG": str(cfg)})


def test_the_intensity_bound_comes_from_the_environment_then_the_file(tmp_path: Path) -> None:
    assert load_settings(env={}).max_intensity_g_per_kwh == DEFAULT_MAX_INTENSITY_G_PER_KWH == 2500.0
    cfg = tmp_path / "config.toml"
    cfg.write_text("[intensity]\nmax_g_per_kwh = 4000\n")
    assert max_intensity_g_per_kwh({"GREENCI_CONFIG": str(cfg)}) == 4000.0
    assert max_intensity_g_per_kwh({"GREENCI_CONFIG": str(cfg), "GREENCI_MAX_INTENSITY_G_PER_KWH": "3000"}) == 3000.0
    for bad in ("0", "-5", "abc", "nan", "inf"):
        with pytest.raises(ConfigError, match="GREENCI_MAX_INTENSITY_G_PER_KWH"):
            max_intensity_g_per_kwh({"GREENCI_MAX_INTENSITY_G_PER_KWH": bad})


def test_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(env={"GREENCI_CONFIG": str(tmp_path / "missing.toml")})


@pytest.mark.parametrize(
    "name, env_var, key",
    [
        ("electricitymaps", "GREENCI_ELECTRICITYMAPS_TOKEN", "`token` under [sources.electricitymaps]"),
        ("watttime", "GREENCI_WATTTIME_PASSWORD", "`password` under [sources.watttime]"),
        ("carbon-aware-sdk", "GREENCI_CARBON_AWARE_SDK_URL", "`url` under [sources.carbon-aware-sdk]"),
    ],
)
def test_missing_credentials_name_the_variable_and_key(tmp_path: Path, name: str, env_var: str, key: str) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[sources.watttime]\nusername = "someone"\n')
    settings = load_settings(env={"GREENCI_CONFIG": str(cfg)})
    with pytest.raises(ConfigError) as info:
        make_client(name, settings)
    assert env_var in str(info.value) and key in str(info.value) and str(cfg) in str(info.value)


# ====================================================================== factory
def test_make_client_builds_each_named_client(server: Server) -> None:
    kinds = {"electricitymaps": ElectricityMapsClient, "watttime": WattTimeClient, "ukgrid": UKGridClient,
             "carbon-aware-sdk": CarbonAwareSDKClient}
    assert set(CLIENT_NAMES) == set(kinds)
    for name, cls in kinds.items():
        client = make_client(name, _settings(server))
        try:
            assert isinstance(client, cls) and isinstance(client, IntensityClient)
            assert client.name == name
            assert EM_TOKEN not in repr(client) and WT_PASSWORD not in repr(client)
        finally:
            client.close()  # type: ignore[attr-defined]


def test_unknown_client_name_lists_the_known_ones() -> None:
    with pytest.raises(InputError, match="electricitymaps, watttime, ukgrid, carbon-aware-sdk"):
        make_client("carbonara", Settings())


# ====================================================================== Electricity Maps
def test_electricitymaps_history_parses_documented_shape(server: Server) -> None:
    with make_client("electricitymaps", _settings(server)) as client:  # type: ignore[attr-defined]
        s = client.history("DE")
    _check_series(s, "DE", "average", "electricitymaps-api:DE")
    assert s.times.size == 24 and s.step_s() == 3600
    assert s.times[0] == np.datetime64("2024-03-01T00:00:00")
    np.testing.assert_allclose(s.values_g_per_kwh, 300 + np.arange(24))
    assert s.estimated is not None and s.estimated.tolist() == [False] * 22 + [True] * 2
    seen = server.apis.seen[-1]
    assert seen.path == "/v3/carbon-intensity/history" and seen.query["zone"] == ["DE"]
    assert seen.headers["auth-token"] == EM_TOKEN
    assert seen.headers["user-agent"].startswith("greenci/")


def test_electricitymaps_past_range_is_fetched_in_ten_day_pieces(server: Server) -> None:
    client = ElectricityMapsClient(EM_TOKEN, base_url=server.url, retries=0)
    s = client.history("FR", "2024-01-01T00:00Z", "2024-01-26T00:00Z")
    _check_series(s, "FR", "average", "electricitymaps-api:FR")
    assert s.times.size == 25 * 24  # [start, end): the inclusive end slot is dropped, overlaps merged
    assert s.times[-1] == np.datetime64("2024-01-25T23:00:00")
    ranges = [(x.query["start"][0], x.query["end"][0]) for x in server.apis.seen]
    assert ranges == [("2024-01-01T00:00:00Z", "2024-01-11T00:00:00Z"),
                      ("2024-01-11T00:00:00Z", "2024-01-21T00:00:00Z"),
                      ("2024-01-21T00:00:00Z", "2024-01-26T00:00:00Z")]


def test_electricitymaps_forecast(server: Server) -> None:
    s = ElectricityMapsClient(EM_TOKEN, base_url=server.url).forecast("DE")
    _check_series(s, "DE", "average", "electricitymaps-api:DE")
    assert s.times.size == 72 and s.values_g_per_kwh[0] == 250.0


def test_electricitymaps_sorts_dedupes_and_keeps_null_as_gap(server: Server) -> None:
    def item(hour: int, value: float | None) -> dict:
        return {"zone": "DE", "carbonIntensity": value, "datetime": f"2024-03-01T{hour:02d}:00:00.000Z",
                "isEstimated": False}

    server.apis.script("/v3/carbon-intensity/history",
                       Reply(200, {"zone": "DE", "history": [item(2, 120), item(0, 100), item(1, None), item(2, 120)]}))
    s = ElectricityMapsClient(EM_TOKEN, base_url=server.url).history("DE")
    assert s.times.tolist() == [np.datetime64(f"2024-03-01T0{h}:00:00") for h in range(3)]
    assert s.values_g_per_kwh[0] == 100 and np.isnan(s.values_g_per_kwh[1]) and s.values_g_per_kwh[2] == 120


def test_electricitymaps_wrong_token_is_an_authentication_error(server: Server) -> None:
    client = ElectricityMapsClient("not-the-token-XYZ", base_url=server.url)
    with pytest.raises(AuthenticationError) as info:
        client.forecast("DE")
    msg = str(info.value)
    assert "HTTP 401" in msg and "GREENCI_ELECTRICITYMAPS_TOKEN" in msg and "not-the-token-XYZ" not in msg


@pytest.mark.parametrize(
    "body, message",
    [
        ({"zone": "DE", "history": []}, "no data for DE"),
        ({"zone": "DE", "error": "zone unknown"}, "no field 'history'"),
        ({"zone": "DE", "history": [{"datetime": "2024-03-01T00:00:00Z"}]}, "no field 'carbonIntensity'"),
        ({"zone": "DE", "history": [{"datetime": "yesterday", "carbonIntensity": 1}]}, "not ISO 8601"),
        ({"zone": "DE", "history": [{"datetime": "2024-03-01T00:00Z", "carbonIntensity": "high"}]},
         "expected a number"),
        ({"zone": "DE", "history": {"0": 1}}, "expected a JSON array"),
    ],
)
def test_electricitymaps_wrong_shapes_name_the_field(server: Server, body: Any, message: str) -> None:
    server.apis.script("/v3/carbon-intensity/history", Reply(200, body))
    with pytest.raises(SourceError, match=re.escape(message)):
        ElectricityMapsClient(EM_TOKEN, base_url=server.url).history("DE")


@pytest.mark.parametrize(("raw", "message"), [
    ("1e308", "above the plausible maximum of 2500"),
    ("2501", "above the plausible maximum of 2500"),
    ("-1", "intensity -1 is negative"),
    ("-1e308", "is negative"),
    ("1e400", "inf is not a finite number"),
    ("NaN", "nan is not a finite number"),
    ("Infinity", "inf is not a finite number"),
])
def test_electricitymaps_implausible_values_name_the_item_and_field(server: Server, raw: str, message: str) -> None:
    items = [f'{{"datetime": "2024-03-01T0{h}:00:00Z", "carbonIntensity": {v}}}' for h, v in ((0, "100"), (1, raw))]
    body = '{"zone": "DE", "history": [' + ",".join(items) + "]}"
    server.apis.script("/v3/carbon-intensity/history", Reply(200, raw=body))
    with pytest.raises(ImplausibleValueError) as err:
        ElectricityMapsClient(EM_TOKEN, base_url=server.url).history("DE")
    msg = str(err.value)
    assert "electricitymaps-api history for zone DE item 1 field 'carbonIntensity'" in msg and message in msg
    assert isinstance(err.value, DataFormatError) and isinstance(err.value, SourceError)  # a fallback chain answers
    assert err.value.exit_code == 4


def test_the_api_bound_follows_the_setting(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    item = {"datetime": "2024-03-01T00:00:00Z", "carbonIntensity": 3000}
    server.apis.script("/v3/carbon-intensity/history", Reply(200, {"zone": "DE", "history": [item]}))
    monkeypatch.setenv("GREENCI_MAX_INTENSITY_G_PER_KWH", "5000")
    assert ElectricityMapsClient(EM_TOKEN, base_url=server.url).history("DE").values_g_per_kwh.tolist() == [3000.0]


# ====================================================================== WattTime
def test_watttime_bound_applies_to_the_converted_value(server: Server) -> None:
    meta = {"region": "CAISO_NORTH", "signal_type": "co2_moer", "units": "lbs_co2_per_mwh"}
    data = [{"point_time": "2024-03-01T00:00:00+00:00", "value": 5000.0},  # 2268 g/kWh: plausible
            {"point_time": "2024-03-01T00:05:00+00:00", "value": 6000.0}]  # 2722 g/kWh: not
    server.apis.script("/v3/forecast", Reply(200, {"data": data, "meta": meta}))
    with pytest.raises(ImplausibleValueError) as err:
        make_client("watttime", _settings(server)).forecast("CAISO_NORTH")
    msg = str(err.value)
    assert "watttime-api forecast for region CAISO_NORTH data item 1 field 'value'" in msg
    assert "written as 6000 lbs_co2_per_mwh" in msg


def test_watttime_logs_in_once_and_converts_lbs_per_mwh(server: Server) -> None:
    client = make_client("watttime", _settings(server))
    s = client.history("CAISO_NORTH", "2024-03-01T00:00Z", "2024-03-01T02:00Z")
    _check_series(s, "CAISO_NORTH", "marginal", "watttime-api:CAISO_NORTH")
    assert s.times.size == 24 and s.step_s() == 300  # end inclusive at the API, dropped here
    lbs = 1000.0 + (s.times.astype(np.int64) // 300) % 7
    np.testing.assert_allclose(s.values_g_per_kwh, lbs * LBS_PER_MWH_TO_G_PER_KWH)
    f = client.forecast("CAISO_NORTH")
    assert f.signal == "marginal" and f.times.size == 288
    assert f.values_g_per_kwh[0] == pytest.approx(900 * 0.453592, rel=1e-6)
    assert server.apis.wt_logins == 1
    data_calls = [x for x in server.apis.seen if x.path.startswith("/v3/")]
    assert all(x.headers["authorization"] == "Bearer wt-jwt-SECRET-1" for x in data_calls)
    assert data_calls[0].query["signal_type"] == ["co2_moer"]
    assert data_calls[0].query["start"] == ["2024-03-01T00:00:00Z"]


def test_watttime_logs_in_again_once_when_the_token_expires(server: Server) -> None:
    client = WattTimeClient(WT_USER, WT_PASSWORD, base_url=server.url, retries=0)
    client.forecast("CAISO_NORTH")
    server.apis.wt_valid.clear()  # the server forgets the token: the next call is a 401
    s = client.forecast("CAISO_NORTH")
    assert s.times.size == 288
    assert server.apis.wt_logins == 2
    assert server.apis.paths() == ["/login", "/v3/forecast", "/v3/forecast", "/login", "/v3/forecast"]


def test_watttime_gives_up_after_one_relogin(server: Server) -> None:
    client = WattTimeClient(WT_USER, WT_PASSWORD, base_url=server.url, retries=0)
    server.apis.script("/v3/forecast", Reply(401, {"error": "nope"}), Reply(401, {"error": "still nope"}))
    with pytest.raises(AuthenticationError, match="GREENCI_WATTTIME_USERNAME"):
        client.forecast("CAISO_NORTH")
    assert server.apis.wt_logins == 2


def test_watttime_wrong_password_never_shows_it(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = WattTimeClient(WT_USER, "wrong-pass-LEAK-0", base_url=server.url, retries=0)
    with pytest.raises(AuthenticationError) as info:
        client.history("CAISO_NORTH", "2024-03-01T00:00Z", "2024-03-01T01:00Z")
    assert "login" in str(info.value) and "HTTP 401" in str(info.value)
    assert "wrong-pass-LEAK-0" not in str(info.value) and "wrong-pass-LEAK-0" not in caplog.text
    assert server.apis.paths() == ["/login"]


def test_watttime_reads_nested_forecast_and_refuses_unknown_units(server: Server) -> None:
    meta = {"region": "CAISO_NORTH", "signal_type": "co2_moer", "units": "lbs_co2_per_mwh"}
    nested = {"data": [
        {"generated_at": "2024-03-01T00:00:00+00:00",
         "forecast": [{"point_time": "2024-03-01T00:05:00+00:00", "value": 1.0}]},
        {"generated_at": "2024-03-01T00:05:00+00:00",
         "forecast": [{"point_time": "2024-03-01T00:05:00+00:00", "value": 2.0},
                      {"point_time": "2024-03-01T00:10:00+00:00", "value": 3.0}]},
    ], "meta": meta}
    server.apis.script("/v3/forecast", Reply(200, nested),
                       Reply(200, {"data": [], "meta": dict(meta, units="percentile")}),
                       Reply(200, {"data": []}))
    client = WattTimeClient(WT_USER, WT_PASSWORD, base_url=server.url, retries=0)
    s = client.forecast("CAISO_NORTH")
    np.testing.assert_allclose(s.values_g_per_kwh, np.array([2.0, 3.0]) * LBS_PER_MWH_TO_G_PER_KWH)
    with pytest.raises(SourceError, match="meta.units 'percentile'"):
        client.forecast("CAISO_NORTH")
    with pytest.raises(SourceError, match="no field 'meta'"):
        client.forecast("CAISO_NORTH")


def test_watttime_long_history_is_split_into_30_day_requests(server: Server) -> None:
    client = WattTimeClient(WT_USER, WT_PASSWORD, base_url=server.url, retries=0)
    s = client.history("CAISO_NORTH", "2024-01-01T00:00Z", "2024-02-05T00:00Z")
    assert s.times.size == 35 * 288 and np.all(np.diff(s.times.astype(np.int64)) == 300)
    assert [x.query["end"][0] for x in server.apis.seen if x.path == "/v3/historical"] == [
        "2024-01-31T00:00:00Z", "2024-02-05T00:00:00Z"]


# ====================================================================== UK grid
def test_ukgrid_national_history_uses_actual_and_keeps_gaps(server: Server) -> None:
    client = make_client("ukgrid", _settings(server))
    s = client.history("GB", "2024-03-01T00:00Z", "2024-03-02T00:00Z")
    _check_series(s, "GB", "average", "ukgrid-api:GB")
    assert s.times.size == 48 and s.step_s() == 1800 and s.times[0] == np.datetime64("2024-03-01T00:00:00")
    i = np.arange(48)
    expected = np.where(i % 10 == 9, np.nan, 140 + i % 40)
    np.testing.assert_array_equal(s.values_g_per_kwh, expected)  # NaN where actual is null, never the forecast
    assert server.apis.paths() == ["/intensity/2024-03-01T00:01Z/2024-03-02T00:01Z"]


def test_ukgrid_regional_history_is_the_published_estimate(server: Server) -> None:
    s = UKGridClient(base_url=server.url).history("GB-13", "2024-03-01T00:00Z", "2024-03-01T06:00Z")
    _check_series(s, "GB-13", "average", "ukgrid-api:GB-13")
    np.testing.assert_array_equal(s.values_g_per_kwh, 150 + np.arange(12) % 40)
    assert s.estimated is not None and s.estimated.all()
    assert server.apis.paths() == ["/regional/intensity/2024-03-01T00:01Z/2024-03-01T06:01Z/regionid/13"]


def test_ukgrid_forecasts_national_and_regional(server: Server) -> None:
    client = UKGridClient(base_url=server.url)
    national, regional = client.forecast("GB"), client.forecast("gb-16")
    for s, region in ((national, "GB"), (regional, "GB-16")):
        _check_series(s, region, "average", f"ukgrid-api:{region}")
        assert s.times.size == 97 and s.step_s() == 1800 and s.values_g_per_kwh[0] == 150
    assert server.apis.paths()[0].endswith("/fw48h") and server.apis.paths()[1].endswith("/fw48h/regionid/16")


def test_ukgrid_long_span_is_chunked_and_merged(server: Server) -> None:
    s = UKGridClient(base_url=server.url).history("GB-1", "2024-01-01T00:00Z", "2024-01-20T00:00Z")
    assert s.times.size == 19 * 48 and np.all(np.diff(s.times.astype(np.int64)) == 1800)
    assert len(server.apis.paths("/regional/")) == 2


@pytest.mark.parametrize("region", ["UK", "GB-0", "GB-19", "GB-London", ""])
def test_ukgrid_rejects_unknown_regions(region: str) -> None:
    with pytest.raises(InputError, match="GB-1 .. GB-18"):
        UKGridClient(base_url="http://127.0.0.1:9").history(region, "2024-01-01", "2024-01-02")


def test_ukgrid_history_without_any_actual_is_an_error(server: Server) -> None:
    slot = {"from": "2024-03-01T00:00Z", "to": "2024-03-01T00:30Z",
            "intensity": {"forecast": 100, "actual": None, "index": "low"}}
    server.apis.script("/intensity/", Reply(200, {"data": [slot]}), Reply(200, {"data": []}))
    client = UKGridClient(base_url=server.url)
    with pytest.raises(SourceError, match="every point is null"):
        client.history("GB", "2024-03-01T00:00Z", "2024-03-01T00:30Z")
    with pytest.raises(SourceError, match="no data for GB"):
        client.history("GB", "2024-03-01T00:00Z", "2024-03-01T00:30Z")


def test_ukgrid_implausible_value_names_the_item_and_field(server: Server) -> None:
    slots = [{"from": f"2024-03-01T00:{m:02d}Z", "to": "x", "intensity": {"forecast": 100, "actual": a}}
             for m, a in ((0, 120), (30, 99999))]
    server.apis.script("/intensity/", Reply(200, {"data": slots}))
    with pytest.raises(ImplausibleValueError, match=r"ukgrid-api GB item 1 field 'intensity.actual': intensity 99999"):
        UKGridClient(base_url=server.url).history("GB", "2024-03-01T00:00Z", "2024-03-01T01:00Z")


# ====================================================================== Carbon Aware SDK
def test_carbon_aware_sdk_implausible_value_names_the_item_and_field(server: Server) -> None:
    out = [{"location": "eastus", "time": "2022-05-17T20:00:00Z", "rating": -3, "duration": "00:05:00"}]
    server.apis.script("/emissions/bylocation", Reply(200, out))
    client = make_client("carbon-aware-sdk", _settings(server))
    with pytest.raises(ImplausibleValueError, match=r"carbon-aware-sdk:eastus emissions item 0 field 'rating'"):
        client.history("eastus", "2022-05-17T20:00Z", "2022-05-17T21:00Z")


@pytest.mark.parametrize("style", ["timespan", "iso"])
def test_carbon_aware_sdk_history(server: Server, style: str) -> None:
    server.apis.casdk_duration = style
    client = make_client("carbon-aware-sdk", _settings(server))
    s = client.history("eastus", "2022-05-17T20:00Z", "2022-05-17T21:00Z")
    _check_series(s, "eastus", "marginal", "carbon-aware-sdk:eastus")
    assert s.times.size == 12 and s.step_s() == 300
    np.testing.assert_allclose(s.values_g_per_kwh, 70.5 + np.arange(12) % 3)
    q = server.apis.seen[-1].query
    assert q == {"location": ["eastus"], "time": ["2022-05-17T20:00:00Z"], "toTime": ["2022-05-17T21:00:00Z"]}


def test_carbon_aware_sdk_forecast_and_signal_setting(server: Server) -> None:
    client = make_client("carbon-aware-sdk", _settings(server, carbon_aware_sdk_signal="average"))
    s = client.forecast("northeurope")
    _check_series(s, "northeurope", "average", "carbon-aware-sdk:northeurope")
    np.testing.assert_allclose(s.values_g_per_kwh, 500.0 - np.arange(12))
    assert server.apis.seen[-1].path == "/emissions/forecasts/current"


@pytest.mark.parametrize(
    "value, seconds",
    [("00:05:00", 300), ("01:00:00", 3600), ("1.00:00:00", 86400), ("00:00:30.5", 30.5), ("PT5M", 300),
     ("PT1H30M", 5400), ("P1DT2H", 93600), ("pt15s", 15), (5, 300), (0.5, 30)],
)
def test_durations_in_timespan_and_iso_forms(value: Any, seconds: float) -> None:
    assert parse_duration_s(value) == seconds


@pytest.mark.parametrize("value", ["5 minutes", "PT", "P", "00:00:00", "PT0M", True, None, -5])
def test_bad_durations_are_refused(value: Any) -> None:
    with pytest.raises(SourceError, match="duration"):
        parse_duration_s(value)


def test_read_carbon_aware_json_files(tmp_path: Path) -> None:
    emissions = [{"location": "westus", "time": f"2022-05-17T20:{m:02d}:00+00:00", "rating": 60 + m,
                  "duration": "00:05:00"} for m in (10, 0, 5)]
    (tmp_path / "e.json").write_text(json.dumps(emissions))
    s = read_carbon_aware_json(tmp_path / "e.json")
    assert s.region == "westus" and s.values_g_per_kwh.tolist() == [60, 65, 70]
    forecast = {"location": "eastus", "forecastData": [
        {"location": "eastus", "timestamp": "2022-06-01T14:40:00Z", "duration": 30, "value": 380.99},
        {"location": "eastus", "timestamp": "2022-06-01T14:45:00Z", "duration": 30, "value": 359.23}]}
    (tmp_path / "f.json").write_text(json.dumps(forecast))
    f = read_carbon_aware_json(tmp_path / "f.json", signal="average")
    assert f.region == "eastus" and f.signal == "average" and f.values_g_per_kwh.tolist() == [380.99, 359.23]
    mixed = emissions + [dict(emissions[0], location="eastus")]
    (tmp_path / "m.json").write_text(json.dumps(mixed))
    with pytest.raises(DataFormatError, match=r"eastus, westus: pick one of them \(region\)"):
        read_carbon_aware_json(tmp_path / "m.json")
    assert read_carbon_aware_json(tmp_path / "m.json", region="eastus").times.size == 1
    (tmp_path / "bad.json").write_text("[{")
    with pytest.raises(DataFormatError, match="bad.json: is not JSON"):
        read_carbon_aware_json(tmp_path / "bad.json")
    (tmp_path / "shape.json").write_text(json.dumps([{"location": "x", "time": "2022-01-01T00:00Z"}]))
    with pytest.raises(DataFormatError, match="no field 'rating'"):
        read_carbon_aware_json(tmp_path / "shape.json")


# ====================================================================== HTTP error mapping
def _uk(server: Server, **kw: Any) -> UKGridClient:
    return UKGridClient(base_url=server.url, **{"retries": 0, "backoff_s": 0.0, **kw})


def test_429_names_the_retry_after_and_is_not_retried_past_the_cap(server: Server) -> None:
    server.apis.script("/intensity/", Reply(429, {"error": "slow down"}, headers={"Retry-After": "7"}))
    with pytest.raises(SourceError, match=r"rate limited by 127\.0\.0\.1:\d+ \(HTTP 429\).*retry after 7 s"):
        _uk(server, retries=2, max_backoff_s=1.0).forecast("GB")
    assert len(server.apis.seen) == 1  # a 7 s wait is over the 1 s cap: give up at once, say when to retry


def test_429_and_5xx_are_retried_with_backoff(server: Server) -> None:
    server.apis.script("/intensity/", Reply(429, {}), Reply(503, {"error": "maintenance"}))
    assert _uk(server, retries=2).forecast("GB").times.size == 97
    assert len(server.apis.seen) == 3
    sleeps: list[float] = []
    server.apis.script("/intensity/", Reply(500), Reply(500), Reply(500))
    session = HttpSession(server.url, label="test", retries=2, backoff_s=0.1, sleep=sleeps.append)
    with pytest.raises(SourceError, match="server error, HTTP 500 .* after 3 attempt"):
        session.get_json("/intensity/2024-03-01T00:01Z/fw48h")
    assert sleeps == [0.1, 0.2]


def test_server_error_shows_a_scrubbed_excerpt_of_the_body(server: Server) -> None:
    echo = f"internal error while handling token {EM_TOKEN} " + "x" * 500
    server.apis.script("/v3/carbon-intensity/", Reply(500, raw=echo))
    with pytest.raises(SourceError) as info:
        ElectricityMapsClient(EM_TOKEN, base_url=server.url, retries=0).forecast("DE")
    msg = str(info.value)
    assert "HTTP 500" in msg and "internal error while handling token ***" in msg
    assert EM_TOKEN not in msg and len(msg) < 450


def test_client_errors_are_not_retried(server: Server) -> None:
    server.apis.script("/intensity/", Reply(404, {"error": "no such path"}))
    with pytest.raises(SourceError, match="request refused, HTTP 404.*no such path"):
        _uk(server, retries=3).forecast("GB")
    assert len(server.apis.seen) == 1


def test_timeout_names_the_host_and_the_limit(server: Server) -> None:
    server.apis.script("/intensity/", Reply(200, {"data": []}, sleep_s=1.0))
    started = time.perf_counter()
    with pytest.raises(SourceError, match=r"127\.0\.0\.1:\d+ did not answer within 0\.2 s \(timeout\)"):
        _uk(server, timeout_s=0.2, retries=2).forecast("GB")
    assert time.perf_counter() - started < 0.9  # timeouts are not retried


def test_connection_refused_is_a_source_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SourceError, match=rf"cannot reach 127\.0\.0\.1:{port}.*after 2 attempt"):
        UKGridClient(base_url=f"http://127.0.0.1:{port}", retries=1, backoff_s=0.0).forecast("GB")


def test_malformed_json_is_a_source_error(server: Server) -> None:
    server.apis.script("/emissions/", Reply(200, raw='[{"location": "eastus", "time": '))
    client = CarbonAwareSDKClient(server.url, retries=0)
    with pytest.raises(SourceError, match=r"not JSON: \[\{\"location\""):
        client.forecast("eastus")


def test_no_secret_in_logs_reprs_or_errors(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = _settings(server, retries=1)
    em, wt = make_client("electricitymaps", settings), make_client("watttime", settings)
    errors: list[str] = []
    em.history("DE")
    wt.forecast("CAISO_NORTH")
    server.apis.wt_valid.clear()
    wt.forecast("CAISO_NORTH")  # re-login: a second token is learnt
    server.apis.script("/v3/carbon-intensity/", Reply(500, raw="first"), Reply(500, raw=f"echo {EM_TOKEN}"))
    server.apis.script("/v3/forecast", Reply(500, raw="first"),
                       Reply(500, raw=f"echo Bearer wt-jwt-SECRET-2 {WT_USER}:{WT_PASSWORD}"))
    for call in (lambda: em.forecast("DE"), lambda: wt.forecast("CAISO_NORTH")):
        with pytest.raises(SourceError) as info:
            call()
        errors.append(str(info.value))
    secrets = [EM_TOKEN, WT_PASSWORD, "wt-jwt-SECRET-1", "wt-jwt-SECRET-2",
               base64.b64encode(f"{WT_USER}:{WT_PASSWORD}".encode()).decode()]
    texts = [r.getMessage() for r in caplog.records] + errors + [repr(em), repr(wt), repr(settings), str(settings)]
    assert caplog.records, "the HTTP layer logs requests at DEBUG"
    for secret in secrets:
        assert all(secret not in t for t in texts), secret
    assert errors[0].endswith("echo ***") and errors[1].endswith(f"echo Bearer *** {WT_USER}:***")


# ====================================================================== the CLI over a client
def test_footprint_cli_reads_history_from_the_electricitymaps_api(server: Server,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from greenci.cli import app

    monkeypatch.setenv("GREENCI_ELECTRICITYMAPS_TOKEN", EM_TOKEN)
    monkeypatch.setenv("GREENCI_ELECTRICITYMAPS_URL", server.url)
    monkeypatch.delenv("GREENCI_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(Path(__file__).parent / "no-such-dir"))
    r = CliRunner().invoke(app, ["footprint", "--energy-kwh", "1", "--region", "DE", "--source", "electricitymaps",
                                 "--at", "2024-03-01T10:00Z", "--duration", "2h", "--best-within-h", "0",
                                 "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    # past-range serves 200 + (epoch hour % 50) per hour: 10:00 and 11:00 UTC on 2024-03-01
    hours = int(datetime(2024, 3, 1, 10, tzinfo=UTC).timestamp()) // 3600
    expected = ((200 + hours % 50) + (200 + (hours + 1) % 50)) / 2
    assert doc["emissions_g"] == pytest.approx(expected)
    assert doc["synthetic"] is False and doc["sources"][0].startswith("electricitymaps-api:DE")
    assert EM_TOKEN not in r.output
