"""Keystone, Gnocchi, Ceilometer and Redfish clients against a real local HTTP server (127.0.0.1 only).

The server speaks the documented shapes, checks credentials the way each service does (Keystone
password body, ``X-Auth-Token``, HTTP basic auth), and can expire tokens or answer too slowly.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import typer
from loopback import loopback_server
from typer.testing import CliRunner

from greenci.cli.energy import register
from greenci.energy.ceilometer import CeilometerClient
from greenci.energy.gnocchi import GnocchiClient, KeystoneAuth
from greenci.energy.redfish import RedfishClient
from greenci.errors import AuthenticationError, SourceError

PASSWORD = "os-pass-SECRET-91"
BMC_PASSWORD = "bmc-SECRET-7"
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
VM1 = "6868da77-fa82-4e67-aba9-270c5ae8cbca"
VM2 = "a2e4c7f1-1111-4d2b-9f3b-2c6b1d9e0a55"
CPU1, MEM1, CPU2 = "c1c1c1c1-0000-4000-8000-000000000001", "m1m1m1m1-0000-4000-8000-000000000001", \
    "c2c2c2c2-0000-4000-8000-000000000002"


def _iso(t: datetime) -> str:
    return t.isoformat()


@dataclass
class Fake:
    """State of the fake services."""

    url: str = ""
    tokens: set[str] = field(default_factory=set)
    logins: int = 0
    seen: list[tuple[str, str, dict[str, list[str]], dict[str, str], Any]] = field(default_factory=list)
    expire_after_calls: int | None = None
    calls_with_token: int = 0
    sleep_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: Any) -> tuple[int, Any, dict[str, str]]:
        with self.lock:
            self.seen.append((method, path, query, headers, body))
        if self.sleep_s:
            time.sleep(self.sleep_s)
        if path == "/identity/v3/auth/tokens" and method == "POST":
            return self.keystone(body)
        if path.startswith("/redfish/"):
            return self.redfish(path, headers)
        token = headers.get("x-auth-token")
        with self.lock:
            if token in self.tokens:
                self.calls_with_token += 1
                if self.expire_after_calls is not None and self.calls_with_token > self.expire_after_calls:
                    self.tokens.discard(token)
                    self.calls_with_token = 0
                    token = None
        if token not in self.tokens:
            return 401, {"error": {"code": 401, "title": "Unauthorized",
                                   "message": "The request you have made requires authentication."}}, {}
        if path.startswith("/metric/"):
            return self.gnocchi(method, path[len("/metric"):], query, body)
        if path.startswith("/metering/"):
            return self.ceilometer(path[len("/metering"):], query)
        return 404, {"error": f"no route {path}"}, {}

    # ------------------------------------------------------------------ keystone
    def keystone(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        try:
            user = body["auth"]["identity"]["password"]["user"]
            ok = (body["auth"]["identity"]["methods"] == ["password"] and user["name"] == "ci-bot"
                  and user["password"] == PASSWORD and user["domain"]["name"] == "Default"
                  and body["auth"]["scope"]["project"] == {"name": "ci", "domain": {"name": "Default"}})
        except (KeyError, TypeError):
            ok = False
        if not ok:
            return 401, {"error": {"code": 401, "title": "Unauthorized",
                                   "message": "The request you have made requires authentication."}}, {}
        with self.lock:
            self.logins += 1
            token = f"gAAAAAB-token-SECRET-{self.logins}"
            self.tokens.add(token)
        catalog = [{"type": "metric", "name": "gnocchi", "endpoints": [
            {"interface": "internal", "region": "RegionOne", "url": "http://10.0.0.1:8041"},
            {"interface": "public", "region": "RegionOne", "url": self.url + "/metric"}]},
            {"type": "metering", "name": "ceilometer", "endpoints": [
                {"interface": "public", "region": "RegionOne", "url": self.url + "/metering"}]}]
        expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        return 201, {"token": {"methods": ["password"], "expires_at": expires, "catalog": catalog,
                               "user": {"id": "u1", "name": "ci-bot", "domain": {"id": "default", "name": "Default"}},
                               "project": {"id": "p1", "name": "ci", "domain": {"id": "default", "name": "Default"}}}
                     }, {"X-Subject-Token": token}

    # ------------------------------------------------------------------ gnocchi
    def gnocchi(self, method: str, path: str, q: dict[str, list[str]], body: Any) -> tuple[int, Any, dict[str, str]]:
        if path == "/v1/resource/instance" and method == "GET":
            resources = [{"id": VM1, "type": "instance", "project_id": "p1", "original_resource_id": VM1,
                          "started_at": "2024-03-01T00:00:00+00:00", "ended_at": None, "display_name": "ci-runner-1",
                          "flavor_name": "m1.large", "metrics": {"cpu": CPU1, "memory.usage": MEM1, "vcpus": "v1"}},
                         {"id": VM2, "type": "instance", "project_id": "p1", "original_resource_id": VM2,
                          "started_at": "2024-03-01T00:00:00+00:00", "ended_at": None, "display_name": "ci-runner-2",
                          "flavor_name": "m1.large", "metrics": {"cpu": CPU2}}]
            limit = int(q.get("limit", ["1000"])[0])
            marker = q.get("marker", [None])[0]
            start = 0 if marker is None else [r["id"] for r in resources].index(marker) + 1
            return 200, resources[start:start + limit], {}
        if path.startswith("/v1/metric/") and path.endswith("/measures") and method == "GET":
            metric = path.split("/")[3]
            agg = q.get("aggregation", ["mean"])[0]
            gran = float(q.get("granularity", ["300"])[0])
            if metric in (CPU1, CPU2):
                values = [150e9, 300e9, None] if agg == "rate:mean" else [1.0e12, 1.15e12, 1.45e12]
            elif metric == MEM1:
                values = [2048.0, 2048.0, 4096.0]
            else:
                return 404, {"description": f"Metric {metric} does not exist"}, {}
            return 200, [[_iso(T0 + timedelta(seconds=gran * i)), gran, v] for i, v in enumerate(values)], {}
        if path == f"/v1/resource/instance/{VM1}/metric/cpu/measures":
            return 200, [[_iso(T0), 300.0, 1.0e12], [_iso(T0 + timedelta(minutes=5)), 300.0, 1.3e12]], {}
        if path == "/v1/aggregates" and method == "POST":
            pts = [[_iso(T0), 300.0, 42.0], [_iso(T0 + timedelta(minutes=5)), 300.0, 43.0]]
            if "groupby" in q:
                return 200, [{"group": {"flavor_name": "m1.large"}, "measures": {"measures": {"aggregated": pts}}}], {}
            if "resource_type" in body:
                return 200, {"measures": {VM1: {"cpu": {"rate:mean": pts}}, VM2: {"cpu": {"rate:mean": pts[:1]}}}}, {}
            if isinstance(body.get("operations"), str) and body["operations"].startswith("(aggregate"):
                return 200, {"measures": {"aggregated": pts}}, {}
            return 200, {"measures": {CPU1: {"mean": pts}}}, {}
        return 404, {"description": f"no route {path}"}, {}

    # ------------------------------------------------------------------ ceilometer
    def ceilometer(self, path: str, q: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        if not path.startswith("/v2/meters/"):
            return 404, {"error_message": "not found"}, {}
        meter = path.rsplit("/", 1)[1]
        samples = [{"counter_name": meter, "counter_type": "cumulative", "counter_unit": "ns",
                    "counter_volume": 1.0e12 + 3e11 * i, "message_id": f"m{i}", "project_id": "p1",
                    "recorded_at": "2024-03-01T12:00:05.000000", "resource_id": VM1 if i < 3 else VM2,
                    "resource_metadata": {"display_name": "ci-runner-1"}, "source": "openstack",
                    "timestamp": (T0 + timedelta(minutes=5 * i)).strftime("%Y-%m-%dT%H:%M:%S"), "user_id": "u1"}
                   for i in range(4)]
        triples = list(zip(q.get("q.field", []), q.get("q.op", []), q.get("q.value", []), strict=True))
        for fld, op, value in triples:
            if fld == "resource_id" and op == "eq":
                samples = [s for s in samples if s["resource_id"] == value]
        return 200, samples, {}

    # ------------------------------------------------------------------ redfish
    def redfish(self, path: str, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        expected = "Basic " + base64.b64encode(f"root:{BMC_PASSWORD}".encode()).decode()
        if headers.get("authorization") != expected:
            return 401, {"error": {"code": "Base.1.0.NoValidSession", "message": "unauthorized"}}, {}
        date = {"Date": "Fri, 01 Mar 2024 12:00:00 GMT"}
        chassis = "/redfish/v1/Chassis"
        docs: dict[str, Any] = {
            chassis: {"Members": [{"@odata.id": f"{chassis}/1U"}, {"@odata.id": f"{chassis}/Old"},
                                  {"@odata.id": f"{chassis}/Fan"}]},
            f"{chassis}/1U": {"Id": "1U", "EnvironmentMetrics": {"@odata.id": f"{chassis}/1U/EnvironmentMetrics"},
                              "PowerSubsystem": {"@odata.id": f"{chassis}/1U/PowerSubsystem"}},
            f"{chassis}/1U/EnvironmentMetrics": {"@odata.type": "#EnvironmentMetrics.v1_3_1.EnvironmentMetrics",
                                                 "PowerWatts": {"Reading": 374}, "EnergykWh": {"Reading": 3638}},
            f"{chassis}/1U/PowerSubsystem": {
                "@odata.type": "#PowerSubsystem.v1_1_0.PowerSubsystem", "CapacityWatts": 2000,
                "PowerSupplies": {"@odata.id": f"{chassis}/1U/PowerSubsystem/PowerSupplies"}},
            f"{chassis}/1U/PowerSubsystem/PowerSupplies": {
                "Members": [{"@odata.id": f"{chassis}/1U/PowerSubsystem/PowerSupplies/Bay1"}]},
            f"{chassis}/1U/PowerSubsystem/PowerSupplies/Bay1": {
                "Id": "Bay1", "Metrics": {"@odata.id": f"{chassis}/1U/PowerSubsystem/PowerSupplies/Bay1/Metrics"}},
            f"{chassis}/1U/PowerSubsystem/PowerSupplies/Bay1/Metrics": {
                "@odata.type": "#PowerSupplyMetrics.v1_1_2.PowerSupplyMetrics", "Id": "Metrics",
                "InputPowerWatts": {"Reading": 190.5}, "EnergykWh": {"Reading": 1200.25}},
            f"{chassis}/Old": {"Id": "Old", "Power": {"@odata.id": f"{chassis}/Old/Power"}},
            f"{chassis}/Old/Power": {"@odata.type": "#Power.v1_5_0.Power", "PowerControl": [
                {"MemberId": "0", "PowerConsumedWatts": 220,
                 "PowerMetrics": {"IntervalInMin": 1, "AverageConsumedWatts": 210}}]},
            f"{chassis}/Fan": {"Id": "Fan"},
        }
        if path.rstrip("/") in docs:
            return 200, docs[path.rstrip("/")], date
        return 404, {"error": "not found"}, {}


def _handler(fake: Fake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            status, doc, headers = fake.answer(self.command, parts.path, parse_qs(parts.query),
                                               {k.lower(): v for k, v in self.headers.items()}, body)
            data = json.dumps(doc).encode()
            date = headers.pop("Date", None)
            if date is not None:  # the service's own clock instead of the one send_response writes
                self.date_time_string = lambda *a: date  # type: ignore[method-assign]
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = _serve
        do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@pytest.fixture
def fake() -> Iterator[Fake]:
    state = Fake()
    with loopback_server(_handler(state)) as url:
        state.url = url
        yield state




def _auth(fake: Fake, password: str = PASSWORD, **kw: Any) -> KeystoneAuth:
    return KeystoneAuth(fake.url + "/identity/v3", "ci-bot", password, project_name="ci", retries=0, **kw)


# ====================================================================== keystone + gnocchi
def test_keystone_token_and_catalog_find_gnocchi(fake: Fake) -> None:
    with GnocchiClient(auth=_auth(fake), retries=0) as client:
        assert client.base_url == fake.url + "/metric"
        resources = client.resources("instance")
    assert [r["id"] for r in resources] == [VM1, VM2]
    gets = [s for s in fake.seen if s[1].startswith("/metric/")]
    assert gets and all(s[3]["x-auth-token"].startswith("gAAAAAB-token") for s in gets)
    assert fake.logins == 1


def test_resources_are_paged_with_a_marker(fake: Fake) -> None:
    with GnocchiClient(fake.url + "/metric", _auth(fake), retries=0) as client:
        assert len(client.resources("instance", limit=1)) == 2
    markers = [s[2].get("marker") for s in fake.seen if s[1] == "/metric/v1/resource/instance"]
    assert markers == [None, [VM1], [VM2]]


def test_measures_become_usage_records_over_their_granularity(fake: Fake) -> None:
    with GnocchiClient(fake.url + "/metric", _auth(fake), retries=0) as client:
        rate = client.measures(CPU1, start=T0, stop=T0 + timedelta(minutes=15), granularity=300,
                               aggregation="rate:mean", resource_id=VM1, metric_name="cpu")
        named = client.resource_measures("instance", VM1, "cpu")
    assert [r.value for r in rate] == [150e9, 300e9]  # the null point is skipped
    assert rate[0].start == T0 and rate[0].end == T0 + timedelta(minutes=5)
    assert rate[0].unit == "ns" and rate[0].aggregation == "rate:mean" and rate[0].resource_id == VM1
    query = next(s[2] for s in fake.seen if s[1] == f"/metric/v1/metric/{CPU1}/measures")
    assert query["granularity"] == ["300"] and query["aggregation"] == ["rate:mean"]
    assert query["start"] == ["2024-03-01T12:00:00+00:00"]
    assert [r.value for r in named] == [1.0e12, 1.3e12]


def test_aggregates_in_every_documented_shape(fake: Fake) -> None:
    with GnocchiClient(fake.url + "/metric", _auth(fake), retries=0) as client:
        agg = client.aggregates(f"(aggregate mean (metric {CPU1} mean))")
        by_metric = client.aggregates(["metric", CPU1, "mean"])
        by_resource = client.aggregates("(metric cpu rate:mean)", resource_type="instance",
                                        search={"=": {"flavor_name": "m1.large"}})
        grouped = client.aggregates("(aggregate mean (metric cpu rate:mean))", resource_type="instance",
                                    search="flavor_name='m1.large'", groupby=["flavor_name"])
    assert [r.value for r in agg] == [42.0, 43.0] and agg[0].aggregation == "aggregated"
    assert by_metric[0].resource_id == CPU1 and by_metric[0].aggregation == "mean"
    assert {(r.resource_id, r.metric, r.unit) for r in by_resource} == {(VM1, "cpu", "ns"), (VM2, "cpu", "ns")}
    assert len(by_resource) == 3
    assert grouped[0].resource_id == "flavor_name=m1.large" and len(grouped) == 2
    posted = [s[4] for s in fake.seen if s[1] == "/metric/v1/aggregates"]
    assert posted[2] == {"operations": "(metric cpu rate:mean)", "resource_type": "instance",
                         "search": {"=": {"flavor_name": "m1.large"}}}


def test_an_expired_token_is_renewed_once(fake: Fake) -> None:
    fake.expire_after_calls = 1
    with GnocchiClient(fake.url + "/metric", _auth(fake), retries=0) as client:
        client.resources("instance")
        client.resources("instance")  # token dies here: 401, new login, repeated
    assert fake.logins == 2


def test_bad_password_is_an_authentication_error_without_secrets(fake: Fake) -> None:
    with pytest.raises(AuthenticationError) as info:
        with GnocchiClient(auth=_auth(fake, password="wrong-SECRET"), retries=0):
            pass
    text = str(info.value)
    assert "HTTP 401" in text and "OS_PASSWORD" in text and "SECRET" not in text


def test_a_slow_service_times_out_with_a_clear_message(fake: Fake) -> None:
    auth = _auth(fake)
    auth.token()
    fake.sleep_s = 0.5
    with GnocchiClient(fake.url + "/metric", auth, timeout_s=0.1, retries=0) as client:
        with pytest.raises(SourceError, match=r"did not answer within 0.1 s \(timeout\)"):
            client.resources("instance")


def test_usage_of_every_instance_and_energy_via_the_cli(fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    with GnocchiClient(fake.url + "/metric", _auth(fake), retries=0) as client:
        usage = client.usage("instance", ["cpu", "memory.usage"], aggregation="rate:mean", granularity=300)
    assert {(u.resource_id, u.metric) for u in usage} == {(VM1, "cpu"), (VM1, "memory.usage"), (VM2, "cpu")}
    for name, value in {"OS_AUTH_URL": fake.url + "/identity/v3", "OS_USERNAME": "ci-bot", "OS_PASSWORD": PASSWORD,
                        "OS_PROJECT_NAME": "ci"}.items():
        monkeypatch.setenv(name, value)
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["telemetry", "gnocchi", "--resource-id", VM1, "--aggregation", "rate:mean",
                                      "--granularity", "300", "--to-energy", "--vcpus", "2", "--vcpu-w", "4",
                                      "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("source,resource_id,start,end,energy_kwh,power_w")
    cpu = [line for line in lines[1:] if ",cpu," in line]
    ram = [line for line in lines[1:] if ",ram," in line]
    assert len(cpu) == 2 and len(ram) == 3
    # 150e9 ns in 300 s on 2 vCPUs = 25 % -> 8 W x (0.12 + 0.88 x 0.25) = 2.72 W
    assert float(cpu[0].split(",")[5]) == pytest.approx(2.72)


def test_cli_bad_credentials_exit_4_with_one_line(fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OS_PASSWORD", "nope")
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["telemetry", "gnocchi", "--auth-url", fake.url + "/identity",
                                      "--username", "ci-bot", "--project-name", "ci"])
    assert result.exit_code == 4
    assert "refused the credentials" in result.output and "Traceback" not in result.output


# ====================================================================== ceilometer
def test_ceilometer_samples_with_query_filters(fake: Fake) -> None:
    with CeilometerClient(auth=_auth(fake), retries=0) as client:
        samples = client.samples("cpu", resource_id=VM1, start=T0)
    assert len(samples) == 3 and {s.resource_id for s in samples} == {VM1}
    assert samples[0].aggregation == "cumulative" and samples[0].unit == "ns" and samples[0].start == T0
    query = next(s[2] for s in fake.seen if s[1] == "/metering/v2/meters/cpu")
    assert query["q.field"] == ["resource_id", "timestamp"] and query["q.op"] == ["eq", "ge"]
    assert query["q.value"] == [VM1, "2024-03-01T12:00:00+00:00"]


# ====================================================================== redfish live
def test_redfish_reads_every_chassis_with_basic_auth(fake: Fake) -> None:
    with RedfishClient(fake.url, "root", BMC_PASSWORD, retries=0) as client:
        recs = client.read_all()
    by = {(r.resource_id, r.power_w, r.meter_kwh, r.is_interval) for r in recs}
    assert ("1U", 374.0, None, False) in by and ("1U", None, 3638.0, False) in by
    assert ("1U/Bay1", 190.5, None, False) in by and ("1U/Bay1", None, 1200.25, False) in by
    assert ("Old", 220.0, None, False) in by and ("Old", 210.0, None, True) in by
    assert sorted({r.end for r in recs}) == [T0]  # stamped with the BMC's Date header
    assert not any(s[1] == "/redfish/v1/Chassis/1U/Power" for s in fake.seen)


def test_redfish_refused_credentials(fake: Fake) -> None:
    with RedfishClient(fake.url, "root", "wrong-SECRET", retries=0) as client:
        with pytest.raises(AuthenticationError, match="GREENCI_REDFISH_PASSWORD") as info:
            client.chassis_ids()
    assert "SECRET" not in str(info.value)
