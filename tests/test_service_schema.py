"""Schemathesis over the service's own OpenAPI document: every operation, generated inputs, a live server.

The server is the real app under uvicorn (``serving`` from ``test_service``) on an SQLite store, with
SYNTHETIC intensity files written here (2022-08-01 to three days past now); the schema is the one it
serves at ``/openapi.json``, and the operations are those of the app (a new endpoint is fuzzed without a
change here). For each operation schemathesis generates requests (positive and negative data); about half
of them are then made realistic (regions the service serves, times inside the data, ids of jobs in each
state, a job started just before it is completed, a reused Idempotency-Key) so that the fuzzing also
reaches the decision, the store and the accounting behind the validation layer.

Checks on every response:

* ``not_a_server_error``: never a 5xx, whatever the input (strict, always);
* ``status_code_conformance``, ``content_type_conformance``, ``response_schema_conformance`` and
  ``response_headers_conformance``: the response is what the schema documents. The mismatches already
  known (``KNOWN_MISMATCHES``, each an exact operation, check and status) do not fail the test: an
  operation that meets one is reported as xfail (not strict: it passes once the schema is fixed); any
  other mismatch fails.

``test_hostile_strings_are_not_server_errors`` adds the inputs schemathesis does not generate (a lone
surrogate in JSON, NUL, a long Idempotency-Key), each an exact request; those known to answer 5xx are
xfail (not strict) on the stores where they do.

Examples per operation: ``GREENCI_FUZZ_EXAMPLES`` (default 25: the file runs in about 15 s on two cores);
raise it for a longer run, e.g. ``GREENCI_FUZZ_EXAMPLES=400`` (about 80 s). PostgreSQL too:
``GREENCI_SCHEMA_FUZZ_POSTGRES=1`` (a throwaway server, see ``conftest.postgres_url``).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service needs greenci[service]: pip install 'greenci[service]'")
schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the dev extra: pip install -e '.[dev]'")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.core.failures import Failure, FailureGroup  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from synthetic_intensity import HEADER  # noqa: E402
from test_service import AT, JOB, serving  # noqa: E402

from greenci.service import ServiceSettings, create_app  # noqa: E402
from greenci.service.store import STATUSES  # noqa: E402

EXAMPLES = int(os.environ.get("GREENCI_FUZZ_EXAMPLES", "25"))
STORES = ["sqlite"] + (["postgresql"] if os.environ.get("GREENCI_SCHEMA_FUZZ_POSTGRES", "") not in ("", "0") else [])


def _operations() -> list[str]:
    """Every operation of the service's schema, read from an app built here (an empty store, removed after):
    a new endpoint is fuzzed without a change to this file."""
    with tempfile.TemporaryDirectory(prefix="greenci-schema-") as folder:
        app = create_app(ServiceSettings(data_dir=Path(folder), regions=("DE-LU", "GB"), dispatcher=False))
        try:
            doc = app.openapi()
        finally:
            app.state.store.close()
    return [f"{method.upper()} {path}" for path, ops in doc["paths"].items() for method in ops]


OPERATIONS = _operations()
_JOB_IDS = ("GET /v1/jobs/{job_id}", "DELETE /v1/jobs/{job_id}", "POST /v1/jobs/{job_id}/started",
            "POST /v1/jobs/{job_id}/completed")
_BODIES = ("POST /v1/jobs", "POST /v1/jobs/{job_id}/started", "POST /v1/jobs/{job_id}/completed")

#: (operation, check, status) answering other than the schema documents: none is known (add one here only with
#: the fix it waits for).
KNOWN_MISMATCHES: frozenset[tuple[str, str, int]] = frozenset()

CONFORMANCE = (status_code_conformance, content_type_conformance, response_schema_conformance,
               response_headers_conformance)


# --------------------------------------------------------------------------- realistic values
def _iso(t: datetime) -> str:
    return t.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


_NOW = datetime.now(UTC).replace(tzinfo=None)
_TIMES = st.one_of(
    st.datetimes(min_value=datetime(2022, 7, 25), max_value=datetime(2022, 10, 25)).map(_iso),
    st.datetimes(min_value=_NOW - timedelta(days=3), max_value=_NOW + timedelta(days=5)).map(_iso),
    st.sampled_from([AT, "2022-08-01T00:00:00Z", "2022-10-19T23:00:00Z", "2022-10-20T00:00:00Z", "2022-10-12",
                     "2022-10-12T21:00:00+14:00", "2022-10-12T21:00:00-12:00", "0001-01-01T00:00:00Z",
                     "9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2262-04-12T00:00:00Z", "2022-02-30",
                     "2022-10-12T24:00:00Z", "now", "", " ", "2022-10-12T21:00:00.123456789Z"]),
)
_REGIONS = st.sampled_from(["DE-LU", "GB"])
_DURATIONS = st.one_of(st.none(), st.sampled_from(["30s", "20m", "1h", "90m", "6h", "7d", "0s", "-5m", "1e9h",
                                                   "PT20M", "20", "1.5h"]))
_DEADLINES = st.one_of(st.none(), _TIMES, st.sampled_from(["3h", "8h", "0s", "400d", "-1h", "30m"]))
_EVENTS = st.sampled_from([None, "push", "pull_request", "schedule", "workflow_dispatch", "release"])


@pytest.fixture(scope="module")
def intensity(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SYNTHETIC Electricity Maps yearly files (test_service's daily sine) from 2022-08-01 to three days past
    now: the fixed times of test_service's jobs and the endpoints that work on "now" both lie inside."""
    root = tmp_path_factory.mktemp("intensity-to-now")
    t = np.arange(np.datetime64("2022-08-01T00", "h"), np.datetime64("now", "h") + np.timedelta64(72, "h"))
    years = t.astype("datetime64[Y]").astype(np.int64) + 1970
    for zone, phase in (("DE-LU", 0.0), ("GB", 0.4)):
        (root / zone).mkdir()
        v = 300 + 150 * np.sin(2 * math.pi * (np.arange(t.size) / 24 + phase))
        for year in np.unique(years):
            keep = years == year
            rows = [f"{str(ts).replace('T', ' ')}:00:00,S,S,{zone},{x:.1f},{x:.1f},50,40,synthetic,false,"
                    for ts, x in zip(t[keep], v[keep], strict=True)]
            (root / zone / f"{zone}_{year}_hourly.csv").write_text(HEADER + "\n" + "\n".join(rows) + "\n",
                                                                   encoding="utf-8")
    return root


@dataclass
class Live:
    """The server under test: its URL, the token header, jobs in each state, a client to make more."""

    url: str
    auth: dict[str, str]
    http: httpx.Client
    schema: Any
    jobs: dict[str, list[str]] = field(default_factory=dict)

    def job(self, started_at: str | None = None) -> str | None:
        """A fresh job (scheduled; running when ``started_at`` is given); None when it cannot be made."""
        got = self.http.post("/v1/jobs", json=JOB)
        if got.status_code != 201:
            return None
        job_id = got.json()["id"]
        if started_at is not None:
            self.http.post(f"/v1/jobs/{job_id}/started", json={"at": started_at})
        return str(job_id)


@pytest.fixture(scope="module", params=STORES)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, intensity: Path) -> Iterator[Live]:
    """The service on this store (SQLite in a folder; PostgreSQL: a fresh database), with jobs in each state."""
    with ExitStack() as stack:
        database_url = None
        if request.param == "postgresql":
            from conftest import fresh_postgres_database

            database_url = stack.enter_context(fresh_postgres_database(request.getfixturevalue("postgres_url")))
        # no dispatcher: a generated webhook URL must never be called; a rate limit the fuzzing never meets
        config = ServiceSettings(data_dir=tmp_path_factory.mktemp("schema-data"), database_url=database_url,
                                 regions=("DE-LU", "GB"), intensity=(intensity,), forecast="seasonal-naive",
                                 dispatcher=False, rate_per_s=1e6, rate_burst=10**6)
        http = stack.enter_context(serving(config))
        schema = schemathesis.openapi.from_dict(http.get("/openapi.json").json())
        live = Live(str(http.base_url).rstrip("/"), {"authorization": http.headers["Authorization"]}, http, schema)
        for state in ("scheduled", "cancelled", "running", "completed"):
            ids = [live.job(AT if state in ("running", "completed") else None) for _ in range(3)]
            for job_id in ids:
                if state == "cancelled":
                    http.delete(f"/v1/jobs/{job_id}")
                if state == "completed":
                    http.post(f"/v1/jobs/{job_id}/completed", json={"at": "2022-10-12T21:30:00Z"})
            live.jobs[state] = [i for i in ids if i]
        yield live


def _realistic(label: str, live: Live, draw: Callable[[st.SearchStrategy[Any]], Any], case: Any) -> None:
    """Replace parts of a generated case with values the service knows, to reach past input validation."""
    query = case.query if isinstance(case.query, dict) else {}
    if label == "GET /v1/forecast":
        query["region"] = draw(_REGIONS)
        if draw(st.booleans()):
            query["at"] = draw(_TIMES)
    elif label in ("GET /emissions/bylocation", "GET /emissions/bylocations/best"):
        query["location"] = draw(_REGIONS) if label.endswith("bylocation") else draw(st.lists(_REGIONS, min_size=1))
        for name in ("time", "toTime"):
            if draw(st.booleans()):
                query[name] = draw(_TIMES)
    elif label == "GET /emissions/forecasts/current":
        query["location"] = draw(st.lists(_REGIONS, min_size=1))
        for name in ("dataStartAt", "dataEndAt"):
            if draw(st.booleans()):
                query[name] = draw(_TIMES)
    elif label == "GET /v1/jobs":
        query["status"] = draw(st.sampled_from([None, *STATUSES]))
        query["repo"] = draw(st.sampled_from([None, "acme/app", "other/repo"]))
        query = {k: v for k, v in query.items() if v is not None}
    elif label == "POST /v1/jobs" and isinstance(case.body, dict):
        case.body.update(repo=draw(st.sampled_from(["acme/app", "acme/lib", "a/b"])), submitted_at=draw(_TIMES),
                         duration=draw(_DURATIONS), deadline=draw(_DEADLINES), event=draw(_EVENTS))
        for name in ("submitted_at", "priority", "dispatch", "allowed_regions"):  # their defaults, often
            if draw(st.booleans()):
                case.body.pop(name, None)
        if draw(st.booleans()):
            case.body["allowed_regions"] = draw(st.lists(_REGIONS, max_size=3))
        if draw(st.booleans()):  # a retry, or a key reused for another request
            case.headers = {**(case.headers or {}), "idempotency-key": draw(st.sampled_from(["k1", "k2", "k3"]))}
    elif label in _JOB_IDS:
        if label.endswith("/completed") and draw(st.booleans()):
            job_id = live.job(started_at=draw(_TIMES))
        elif label.endswith("/started") and draw(st.booleans()):
            job_id = live.job()
        else:
            job_id = draw(st.sampled_from([i for ids in live.jobs.values() for i in ids] or ["none"]))
        case.path_parameters = {**(case.path_parameters or {}), "job_id": job_id}
        if label.endswith(("/started", "/completed")) and isinstance(case.body, dict) and draw(st.booleans()):
            case.body["at"] = draw(_TIMES)
    if case.query is not None or query:
        case.query = query


def _settle(status: int | None) -> None:
    """After a 5xx, give the in-process server time to log its traceback before pytest formats ours: on
    CPython 3.11.7 two threads formatting tracebacks at once (both call ast.parse) can fail with
    "SystemError: AST constructor recursion depth mismatch" (CPython gh-106905), an INTERNALERROR here."""
    if status is None or status >= 500:
        time.sleep(0.5)


def _check(case: Any, response: Any, check: Callable[..., Any]) -> str | None:
    """The failure message of one check on a response, or None when it holds."""
    try:
        case.validate_response(response, checks=[check])
    except (Failure, FailureGroup) as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation_keeps_to_its_schema(live: Live, label: str) -> None:
    """Generated requests to one operation: never a 5xx; responses as documented (or a known mismatch)."""
    method, path = label.split(" ", 1)
    operation = live.schema[path][method]
    strategy = st.one_of(*(operation.as_strategy(mode, headers=live.auth)
                           for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)))
    known: dict[tuple[str, str, int], str] = {}
    import requests

    session = requests.Session()
    session.trust_env = False  # loopback only: no proxy from the environment

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy, data=st.data())
    def run(case: Any, data: st.DataObject) -> None:
        if data.draw(st.booleans(), label="realistic"):
            _realistic(label, live, data.draw, case)
        response = case.call(base_url=live.url, session=session, timeout=30)
        _settle(response.status_code)
        request = case.as_curl_command(headers=None)
        assert response.status_code != 401, f"the token was not sent: {request}"  # the harness, not the service
        failure = _check(case, response, not_a_server_error)
        assert failure is None, f"server error\n{request}\n-> {response.status_code} {response.text[:800]}\n{failure}"
        for check in CONFORMANCE:
            failure = _check(case, response, check)
            if failure is None:
                continue
            key = (label, check.__name__, response.status_code)
            assert key in KNOWN_MISMATCHES, (f"{check.__name__}: {failure}\n{request}\n-> {response.status_code} "
                                             f"{response.text[:800]}")
            known.setdefault(key, f"{request} -> {response.status_code} {response.text[:200]}")

    try:
        run()
    finally:
        session.close()
    if known:
        seen = "; ".join(f"{check} {status}: {example}" for (_op, check, status), example in sorted(known.items()))
        pytest.xfail(f"known schema mismatches (see KNOWN_MISMATCHES): {seen}")



# --------------------------------------------------------------------------- hostile strings, exact cases
# Strings schemathesis does not generate (a lone UTF-16 surrogate, which JSON can carry as "\ud800"; NUL,
# which PostgreSQL text cannot hold; an Idempotency-Key that is long once the tenant is put before it).
# Each case runs as a tenant of its own (one case stores a job that breaks its tenant's listing). The
# Each once answered 5xx (the validation handler echoing a surrogate, NUL in PostgreSQL text, a long key).

@dataclass(frozen=True)
class Hostile:
    name: str
    method: str
    path: str  # "{job}" is replaced by a job of the case's tenant (running)
    json_body: Any = None
    params: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    known_5xx_on: tuple[str, ...] = ()
    why: str = ""
    then_list: bool = False  # afterwards, the tenant's job listing must still answer


HOSTILE = (
    Hostile("lone surrogate in job", "POST", "/v1/jobs", {**JOB, "job": "a\ud800b"}),
    Hostile("lone surrogate in an unknown field", "POST", "/v1/jobs", {**JOB, "\udc00": 1}),
    Hostile("lone surrogate in dispatch.url", "POST", "/v1/jobs",
            {**JOB, "dispatch": {"type": "webhook", "url": "http://\ud800"}}),
    Hostile("lone surrogate in an unknown field of started", "POST", "/v1/jobs/{job}/started", {"\ud800": 1}),
    Hostile("lone surrogate in dispatch.inputs (stored)", "POST", "/v1/jobs",
            {**JOB, "dispatch": {"type": "github", "workflow_file": "nightly.yml", "inputs": {"a": "\ud800"}}},
            then_list=True),
    Hostile("lone surrogate in event (refused)", "POST", "/v1/jobs", {**JOB, "event": "\ud800"}),
    Hostile("NUL in job", "POST", "/v1/jobs", {**JOB, "job": "a\x00b"}),
    Hostile("NUL in workflow", "POST", "/v1/jobs", {**JOB, "workflow": "a\x00b"}),
    Hostile("NUL in branch (kept in the request document)", "POST", "/v1/jobs", {**JOB, "branch": "a\x00b"}),
    Hostile("NUL in a job id", "GET", "/v1/jobs/a%00b"),
    Hostile("NUL in a job id to cancel", "DELETE", "/v1/jobs/a%00b"),
    Hostile("NUL in a job id to start", "POST", "/v1/jobs/a%00b/started"),
    Hostile("NUL in a job id to complete", "POST", "/v1/jobs/a%00b/completed"),
    Hostile("NUL in the repo filter", "GET", "/v1/jobs", params={"repo": "a\x00b"}),
    Hostile("an Idempotency-Key of 200 characters", "POST", "/v1/jobs", JOB, headers={"Idempotency-Key": "k" * 200}),
    Hostile("a job id of 100 characters", "GET", "/v1/jobs/" + "x" * 100),
)


@pytest.mark.parametrize("case", HOSTILE, ids=[h.name for h in HOSTILE])
def test_hostile_strings_are_not_server_errors(live: Live, case: Hostile, request: pytest.FixtureRequest) -> None:
    import json

    from greenci.service.auth import create_token

    store = request.node.callspec.params["live"]
    if store in case.known_5xx_on:
        request.applymarker(pytest.mark.xfail(strict=False, reason=f"known 5xx on {store}: {case.why}"))
    tenant = f"hostile-{HOSTILE.index(case)}"
    auth = {"Authorization": f"Bearer {create_token(live.http.store, tenant)}"}  # type: ignore[attr-defined]
    with httpx.Client(base_url=live.url, timeout=30, trust_env=False, headers=auth) as http:
        path = case.path
        if "{job}" in path:
            job = http.post("/v1/jobs", json=JOB).json()["id"]
            http.post(f"/v1/jobs/{job}/started", json={"at": AT})
            path = path.replace("{job}", job)
        content = None if case.json_body is None else json.dumps(case.json_body).encode()  # ASCII: "\ud800"
        headers = {**(case.headers or {}), **({"Content-Type": "application/json"} if content else {})}
        try:
            got = http.request(case.method, path, content=content, params=case.params, headers=headers)
        except httpx.HTTPError:
            _settle(None)
            raise
        _settle(got.status_code)
        assert got.status_code < 500, f"{case.method} {path} -> {got.status_code} {got.text[:300]}"
        if case.then_list:
            listed = http.get("/v1/jobs")
            _settle(listed.status_code)
            assert listed.status_code < 500, f"GET /v1/jobs after it -> {listed.status_code} {listed.text[:300]}"
