"""The HTTP API: ``create_app(settings)`` wires the decision layer, the job store and the history together.

Why a factory and no module state: tests (and several instances in one process) build as many apps as
they like, each with its own store, forecast and history. Decisions use the forecast the app holds,
fitted once per issue slot and kept (never a refit per request). Every GreenciError becomes a 4xx (5xx
only for a remote source that failed) whose body carries the same message and the fields it names.
"""

from __future__ import annotations

import gc
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi import Path as FPath
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import Field

from greenci.errors import GreenciError, InputError
from greenci.forecast import ForecastProvider, GridForecasts
from greenci.grid import IntensityGrid
from greenci.jobs import HistoryIndex, Job
from greenci.jsonsafe import finite
from greenci.scheduling.planner import Decision
from greenci.service.auth import Caller, RateLimiter, TokenCache
from greenci.service.batching import Batcher
from greenci.service.checkpoints import Checkpointer
from greenci.service.dispatch import Dispatcher, check_target
from greenci.service.http_errors import AsciiJSONResponse, CleanIn, install_error_handlers, responses
from greenci.service.keepalive import KeepAliveLimit
from greenci.service.pools import StorePools
from greenci.service.priority import attainment, class_for
from greenci.service.reads import Metrics, metrics_response, reads_router
from greenci.service.settings import ServiceSettings
from greenci.service.store import JobStore, NewJob, StoredJob
from greenci.service.submit_path import SubmitFastPath
from greenci.service.writer import JobWriter
from greenci.timeutil import iso, to_datetime, to_epoch_s
from greenci.usecases.inputs import JobRequest, job_from_request
from greenci.usecases.plan import PlanPolicy, plan_batch, plan_job

__all__ = ["create_app"]

JobId = Annotated[str, FPath(max_length=64, description="the job's id")]
#: a job id as the service makes them (a UUID): anything else is no job, answered before the store is asked
_ID = re.compile(r"[0-9a-f-]{1,64}")


class DispatchIn(CleanIn):
    """How the service starts the job at its time; without it the CI polls the job and starts it itself."""

    type: Literal["webhook", "github", "command"]
    url: str | None = Field(None, max_length=2000, description="webhook: the URL to POST the job to")
    workflow_file: str | None = Field(None, max_length=200, description="github: the workflow to dispatch")
    ref: str | None = Field(None, max_length=200, description="github: the branch or tag (default main)")
    inputs: dict[str, str] | None = Field(None, description="github: workflow_dispatch inputs")


class JobIn(CleanIn):
    """A job request: what a CI workflow knows when it asks."""

    repo: str = Field(min_length=3, max_length=200, pattern=r"^[\w.-]+/[\w.-]+$", description="owner/name")
    workflow: str = Field("ci", min_length=1, max_length=200)
    job: str = Field("", max_length=200)
    event: str | None = Field(None, description="push, pull_request, schedule, workflow_dispatch, ...")
    branch: str | None = Field(None, max_length=200)
    default_branch: str = Field("main", max_length=200)
    submitted_at: str | None = Field(None, description="UTC ISO 8601; default: now")
    duration: str | None = Field(None, description="your estimate, e.g. 20m")
    deadline: str | None = Field(None, description="a duration after submission (3h) or a UTC time")
    allowed_regions: list[str] | None = Field(None, max_length=200)
    carbon_aware: bool | None = None
    power_kw: float = Field(1.0, gt=0, le=1000)
    priority: str = Field("normal", max_length=64, description="a priority class: critical, normal, flexible")
    dispatch: DispatchIn | None = None


class StartedIn(CleanIn):
    at: str | None = Field(None, description="UTC ISO 8601; default: now")


class CompletedIn(CleanIn):
    at: str | None = Field(None, description="UTC ISO 8601; default: now")
    runtime_s: float | None = Field(None, gt=0, le=366 * 86400, description="default: completed - started")
    measured_kwh: float | None = Field(None, ge=0, le=1e6, description="measured IT energy, if known")


def create_app(settings: ServiceSettings) -> FastAPI:
    """The service for ``settings``: its own store, forecast provider and run history."""
    from greenci.http import package_version

    __version__ = package_version()
    store = JobStore(settings.url, background_checkpoints=True)
    checkpointer = Checkpointer(store)
    provider = _provider(settings)
    history = _history(settings, store)
    policy = PlanPolicy.build(buffer_h=settings.buffer_h)
    pools = StorePools(store, settings.capacity) if settings.capacity else None
    if pools is not None:
        policy = replace(policy, strategy=replace(policy.strategy, pools=pools))
    lock = threading.Lock()  # the forecast cache, the history index and the pools are shared with threads

    def decide_many(asks: Sequence[_Ask]) -> list[tuple[NewJob, float] | BaseException]:
        """The jobs of the requests waiting together, planned in one vectorised call (under the lock).

        Without runner pools the jobs do not affect each other, so one call decides them all as each
        alone; with pools each reserves its runner before the next is planned. When the batch call fails
        (one job the forecast cannot serve, say), each job is planned alone: the others still get theirs.
        """
        t0 = time.perf_counter()
        if pools is None and len(asks) > 1:
            try:
                decisions = plan_batch([a.job for a in asks], intensity=provider, history=history, policy=policy,
                                       regions=settings.regions)
            except Exception:  # noqa: BLE001 - decided one by one below, each with its own error
                pass
            else:
                seconds = time.perf_counter() - t0
                return [(_new_job(d, a), seconds) for a, d in zip(asks, decisions, strict=True)]
        out: list[tuple[NewJob, float] | BaseException] = []
        for a in asks:
            t0 = time.perf_counter()
            try:
                new = _new_job(plan_job(a.job, intensity=provider, history=history, policy=policy,
                                        regions=settings.regions), a)
            except Exception as exc:  # noqa: BLE001 - this request's answer (a 4xx for a GreenciError)
                out.append(exc)
                continue
            if pools is not None:  # the next decision sees this runner taken, before the job is committed
                pools.hold(new.job.id, new.row["region"], new.row["start_s"], new.row["end_s"])
            out.append((new, time.perf_counter() - t0))
        return out

    writer = JobWriter(store, on_stored=(lambda new: pools.release(n.job.id for n in new)) if pools else None)

    def store_decided(decided: Sequence[tuple[NewJob, float] | BaseException]) -> list[_Decided | BaseException]:
        """The batch's new jobs committed in one transaction, on the event loop, once they are decided."""
        made = [d for d in decided if not isinstance(d, BaseException)]
        stored = iter(writer.store_now([new for new, _ in made]))
        out: list[_Decided | BaseException] = []
        for d in decided:
            if isinstance(d, BaseException):
                out.append(d)
                continue
            kept = next(stored)
            if not isinstance(kept, BaseException):
                out.append((*kept, d[1], d[0].row))
            elif isinstance(kept, GreenciError):  # the job's own error: its 4xx
                out.append(kept)
            else:  # the store refused the batch: nothing of it was kept
                out.append(HTTPException(503, detail=f"the job store could not keep the job, retry later: {kept}"))
        return out

    deciding: Batcher[_Ask, _Decided] = Batcher(decide_many, lock, then=store_decided,
                                                min_interval_s=settings.batch_interval_s)
    metrics = Metrics()
    dispatcher = Dispatcher(store, settings.dispatch, on_failure=metrics.dispatch_failed)

    refresher = _Refresher(provider, settings, lock) if settings.source else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        _freeze_heap()
        checkpointer.start()
        if settings.dispatcher:
            dispatcher.start()
        if refresher is not None:
            refresher.start()
        try:
            yield
        finally:
            if refresher is not None:
                refresher.stop()
            dispatcher.stop()
            writer.stop()
            checkpointer.stop()
            tokens.close()
            store.close()

    app = FastAPI(title="greenci scheduler", version=__version__, lifespan=lifespan,
                  default_response_class=AsciiJSONResponse,
                  description="When and where should this CI job run? Carbon-aware decisions, kept and fed back.")
    app.state.store = store
    app.state.settings = settings
    app.state.dispatcher = dispatcher
    app.state.metrics = metrics
    app.state.deciding = deciding
    app.state.writer = writer
    limiter = RateLimiter(settings.rate_per_s, settings.rate_burst)
    tokens = TokenCache(store, ttl_s=10.0)  # a revoked token is refused within 10 s

    async def authorize(authorization: str | None, scope: str) -> Caller:
        """The caller of a request with this ``Authorization`` header, if it may use ``scope``."""
        if not settings.auth:
            return Caller("default", "-", frozenset({"submit", "read", "admin"}))
        token = (authorization or "").removeprefix("Bearer ").strip()
        who = (tokens.cached(token) or await run_in_threadpool(tokens.get, token)) if token else None
        if who is None:
            raise HTTPException(401, detail="a valid API token is required: Authorization: Bearer gci_... "
                                            "(greenci token create)", headers={"WWW-Authenticate": "Bearer"})
        if not who.may(scope):
            raise HTTPException(403, detail=f"this token lacks the {scope!r} scope")
        wait = limiter.allow(who.token_id)
        if wait:
            raise HTTPException(429, detail=f"rate limit of {settings.rate_per_s:g} requests/s for this token",
                                headers={"Retry-After": str(max(1, int(np.ceil(wait))))})
        return who

    def need(scope: str):  # type: ignore[no-untyped-def]  # noqa: ANN202 - a FastAPI dependency factory
        async def caller(authorization: Annotated[str | None, Header()] = None) -> Caller:
            return await authorize(authorization, scope)
        return caller

    async def submitting(request: Request) -> Caller:
        """:func:`need` ("submit") for the ``POST /v1/jobs`` route, reading the header itself (the header is
        documented in ``openapi_extra``). A dependency, so that a request without a valid token is a 401
        before its body is judged."""
        return await authorize(request.headers.get("authorization"), "submit")

    submitter, reader = Depends(need("submit")), Depends(need("read"))

    def scope_of(who: Caller) -> str | None:
        """The tenant whose jobs a caller sees (None: every tenant's, for admin tokens)."""
        return None if "admin" in who.scopes else who.tenant

    install_error_handlers(app)
    auth_errors = (401, 403, 429)

    async def accept(body: JobIn, headers: Mapping[str, str], who: Caller | None = None) -> Response:
        """``POST /v1/jobs``: the decision for a job, once it is stored (the route and its fast path call it).

        On the event loop, not a worker thread: the decision is CPU work on a forecast held in memory, made
        with the requests waiting beside it (batching.py) and committed with theirs in one transaction. A
        retry's Idempotency-Key is found where it is stored: the insert keeps the first job and answers it.
        """
        if who is None:  # the fast path: the route's dependency did not run
            who = await authorize(headers.get("authorization"), "submit")
        idempotency_key = _idempotency_key(headers.get("idempotency-key"))
        request_doc = body.model_dump()
        target = check_target(body.dispatch.model_dump(exclude_none=True) if body.dispatch else None,
                              settings.dispatch)
        cls = class_for(body.priority, settings.classes_of(who.tenant))
        now = datetime.fromtimestamp(int(time.time()), UTC)  # whole seconds, as every time the service keeps
        submitted = to_datetime(body.submitted_at, field="submitted_at") if body.submitted_at is not None else now
        job = job_from_request(JobRequest(
            repo=body.repo, workflow=body.workflow, job_name=body.job, event=body.event, branch=body.branch,
            default_branch=body.default_branch, submitted_at=submitted, duration=body.duration, deadline=body.deadline,
            allowed_regions=tuple(body.allowed_regions) if body.allowed_regions is not None else None,
            carbon_aware=body.carbon_aware if body.carbon_aware is not None else cls.carbon_aware,
            buffer_h=cls.max_wait_s / 3600, power_kw=body.power_kw), now=now)

        # decided with the requests waiting beside it, and stored with them (one commit) before it is answered
        stored, created, seconds, row = await deciding.submit(_Ask(job, idempotency_key, request_doc, target,
                                                                   who.tenant, cls.name))
        if not created:  # the key was stored before (a retry): answer with the job stored first
            return _replayed(stored, request_doc)
        metrics.decided(stored.decision, seconds, cls.name, cls.max_wait_s)
        return Response(_created_body(stored, row), status_code=201, media_type="application/json")

    @app.post("/v1/jobs", status_code=201,
              responses={200: {"description": "A retry with the same Idempotency-Key: the job stored first"},
                         **responses(400, *auth_errors, 409, 422, 503)},
              openapi_extra={"parameters": _SUBMIT_HEADERS})
    async def submit(body: JobIn, request: Request, who: Caller = Depends(submitting)) -> Response:  # noqa: B008
        # a well-formed request is answered by SubmitFastPath (submit_path.py) with the same ``accept``; this
        # route answers the others (a 401 without a valid token, else FastAPI's 422 naming the field) and
        # documents the operation
        return await accept(body, request.headers, who)

    @app.get("/v1/jobs/{job_id}", responses=responses(*auth_errors, 404, 422))
    def get_job(job_id: JobId, who: Caller = reader) -> dict[str, Any]:
        return _found(_get(store, job_id, scope_of(who)), job_id).to_dict()

    @app.get("/v1/jobs", responses=responses(*auth_errors, 422))
    def list_jobs(status: str | None = None,
                  repo: Annotated[str | None, Query(max_length=200, pattern=r"^[\w.-]+/[\w.-]+$")] = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100, who: Caller = reader) -> dict[str, Any]:
        found = store.list(status=status, repo=repo, limit=limit, tenant=scope_of(who))
        return {"jobs": [j.to_dict() for j in found]}

    @app.delete("/v1/jobs/{job_id}", responses=responses(*auth_errors, 404, 409, 422))
    def cancel(job_id: JobId, who: Caller = submitter) -> dict[str, Any]:
        return _moved(writer, job_id, "cancelled", ("scheduled",), scope_of(who)).to_dict()

    @app.post("/v1/jobs/{job_id}/dispatch", responses=responses(400, *auth_errors, 404, 409, 422))
    def dispatch_later(job_id: JobId, body: DispatchIn, who: Caller = submitter) -> dict[str, Any]:
        """Have the service start a scheduled job at its start (a run that decided to defer itself): the
        decision stays; only the target is added. The same target again is a retry (whatever happened since);
        another target, or a job that is no longer scheduled, is a 409."""
        target = check_target(body.model_dump(exclude_none=True), settings.dispatch)
        assert target is not None  # a body is required, so there is a target
        tenant = scope_of(who)
        done = None
        if _ID.fullmatch(job_id):
            try:
                done = writer.run_from_thread(lambda c: store.set_target_in(c, job_id, target, tenant))
            except Exception as exc:  # noqa: BLE001 - the store refused the write: nothing changed
                raise HTTPException(503, detail=f"the job store could not record the change, retry later: "
                                                f"{exc}") from exc
        if done is None:
            job = _found(_get(store, job_id, tenant), job_id)
            if job.target == target:  # a retry after the first call took effect (maybe dispatched by now)
                return job.to_dict()
            why = f"is {job.status}" if job.status != "scheduled" else "has another dispatch target"
            raise HTTPException(409, detail=f"job {job_id} {why}: only a scheduled job without a target can be "
                                            "given one")
        return done.to_dict()

    @app.post("/v1/jobs/{job_id}/started", responses=responses(400, *auth_errors, 404, 409, 422))
    def started(job_id: JobId, body: StartedIn | None = None, who: Caller = submitter) -> dict[str, Any]:
        at = _when(body.at if body else None, "at")
        return _moved(writer, job_id, "running", ("scheduled", "dispatched"), scope_of(who), started_s=at).to_dict()

    @app.post("/v1/jobs/{job_id}/completed", responses=responses(400, *auth_errors, 404, 409, 422))
    def completed(job_id: JobId, body: CompletedIn | None = None, who: Caller = submitter) -> dict[str, Any]:
        body = body or CompletedIn()
        job = _found(_get(store, job_id, scope_of(who)), job_id)
        at = _when(body.at, "at")
        if job.status != "running":
            raise HTTPException(409, detail=f"job {job_id} is {job.status}: report started before completed")
        runtime = body.runtime_s if body.runtime_s is not None else at - float(job.started_s or at)
        if not runtime > 0:
            raise InputError("runtime_s is not known: give runtime_s, or report started first", field="runtime_s")
        outcome = _outcome(job, runtime, body.measured_kwh, provider)
        done = _moved(writer, job_id, "completed", ("running",), scope_of(who), completed_s=at, runtime_s=runtime,
                      measured_kwh=body.measured_kwh, actual_g=outcome.get("actual_g"), outcome=outcome)
        with lock:  # the next estimate of this job uses its runtime
            history.add(job.repo, job.workflow, job.job_name, job.submitted_s, runtime)
        metrics.completed(outcome.get("actual_g"))
        return done.to_dict()

    @app.get("/v1/stats", responses=responses(*auth_errors))
    def stats(who: Caller = reader) -> dict[str, Any]:
        classes = settings.classes_of(who.tenant)
        doc = store.stats(scope_of(who), {name: c.max_wait_s for name, c in classes.items()})
        doc["priority_classes"] = attainment(doc.pop("per_class"), classes)
        return doc

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus() -> Any:
        return metrics_response(metrics)

    @app.get("/v1/regions")
    def regions() -> dict[str, Any]:
        return {"regions": list(settings.regions), "forecast": getattr(provider, "name", type(provider).__name__)}

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "time": iso(int(time.time()))}

    # after the job routes: a request is matched against the routes in order, and POST /v1/jobs is the hot one
    app.include_router(reads_router(provider, settings.regions, lock),
                       dependencies=[] if settings.public_reads else [reader])
    from greenci.service.ui import ui_router  # the dashboard: the same authorize, tenant filter and cancel

    app.include_router(ui_router(store=store, settings=settings, provider=provider, lock=lock, authorize=authorize,
                                 cancel=lambda job_id, who: _moved(writer, job_id, "cancelled", ("scheduled",),
                                                                   scope_of(who)),
                                 metrics=metrics, refresher=refresher))
    app.add_middleware(SubmitFastPath, method="POST", path="/v1/jobs", model=JobIn, handle=accept,
                       handlers=app.exception_handlers)
    app.add_middleware(KeepAliveLimit, max_requests=settings.keepalive_requests)  # outside: it counts every request
    return app


class _Refresher:
    """Fetches the API's forecasts for every region in the background, so that a decision never waits for the
    API: requests read the forecast held (the client keeps it for its TTL; the fallback chain stores it)."""

    def __init__(self, provider: ForecastProvider, settings: ServiceSettings, lock: threading.Lock) -> None:
        self.provider, self.settings, self.lock = provider, settings, lock
        self._stop = threading.Event()
        self.last_ok_s: float | None = None  # read by the dashboard's sources page
        self.last_error: tuple[float, str] | None = None
        self._thread = threading.Thread(target=self._loop, name="greenci-forecast-refresh", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _loop(self) -> None:
        import logging

        log = logging.getLogger("greenci.service")
        while not self._stop.is_set():
            try:
                with self.lock:
                    self.provider.forecast(self.settings.regions, int(time.time()), 48 * 3600)
                self.last_ok_s = time.time()
            except GreenciError as exc:  # decisions still come, from the fallback chain; say why
                log.warning("forecast refresh failed: %s", exc)
                self.last_error = (time.time(), str(exc))
            self._stop.wait(self.settings.refresh_s)


#: a stored decision: the job as stored, whether this request stored it (False: its key was), seconds to decide,
#: the row written (its request and decision as JSON text)
_Decided = tuple[StoredJob, bool, float, dict[str, Any]]


def _created_body(job: StoredJob, row: dict[str, Any]) -> bytes:
    """``job.to_dict()`` as JSON, its request and decision spliced in from the JSON text just stored.

    Why: they are most of the document, and encoding them a second time for the answer cost 30 us a
    request (6 us this way), on a path whose whole budget is about a millisecond. The stored text is
    ASCII without NaN (``json.dumps`` escapes, the decision is :func:`~greenci.jsonsafe.finite`), as the
    service's other answers.
    """
    doc = job.to_dict()
    del doc["request"], doc["decision"]
    rest = json.dumps(doc, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return f'{{"request":{row["request"]},"decision":{row["decision"]},{rest[1:]}'.encode("ascii")


@dataclass(frozen=True)
class _Ask:
    """A request waiting for its decision: the job, and what its stored row keeps beside the decision."""

    job: Job
    key: str | None
    request: dict[str, Any]
    target: dict[str, Any] | None
    tenant: str
    priority: str


#: the headers of ``POST /v1/jobs``, as FastAPI documents declared ones (the route reads them itself)
_KEY_MAX, _KEY_PATTERN = 200, re.compile(r"[ -~]+")
_SUBMIT_HEADERS = [
    {"name": "idempotency-key", "in": "header", "required": False, "schema": {
        "anyOf": [{"type": "string", "maxLength": _KEY_MAX, "pattern": f"^{_KEY_PATTERN.pattern}$"}, {"type": "null"}],
        "title": "Idempotency-Key"}},
    {"name": "authorization", "in": "header", "required": False,
     "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Authorization"}},
]


def _idempotency_key(value: str | None) -> str | None:
    """The ``Idempotency-Key`` header, checked as FastAPI checks a declared header (a 422 naming it)."""
    if value is None:
        return None
    why = (("string_too_long", f"String should have at most {_KEY_MAX} characters") if len(value) > _KEY_MAX else
           ("string_pattern_mismatch", f"String should match pattern '^{_KEY_PATTERN.pattern}$'")
           if not _KEY_PATTERN.fullmatch(value) else None)
    if why is None:
        return value
    raise RequestValidationError([{"loc": ("header", "idempotency-key"), "type": why[0], "msg": why[1]}])


def _freeze_heap() -> None:
    """Keep what startup built (modules, the forecast grid, the run history) out of the garbage collector's
    scans. Why: a full collection walks every tracked object; over a loaded service's heap that took about
    110 ms, once every two seconds at 500 requests/s, and every request waiting behind it paid for it."""
    gc.collect()
    gc.freeze()


def _new_job(decision: Decision, ask: _Ask) -> NewJob:
    """The row that keeps a decision: the job's runner is reserved from its start to its estimated end."""
    doc = finite(decision.to_dict())
    start_s = int(np.datetime64(decision.start.rstrip("Z"), "s").astype(np.int64))
    job = ask.job
    return NewJob.build(key=ask.key, repo=job.repo, workflow=job.workflow, job_name=job.job_name,
                        status="scheduled", region=decision.region, start_s=start_s,
                        submitted_s=job.submitted_s, request=ask.request, decision=doc,
                        target=ask.target, tenant=ask.tenant, priority=ask.priority,
                        end_s=start_s + int(np.ceil(decision.duration_estimate_s)))


def _replayed(known: StoredJob, request_doc: dict[str, Any]) -> JSONResponse:
    """A retry: the stored job when the request is the same, a conflict when the key names another request."""
    if known.request != request_doc:
        raise HTTPException(409, detail="Idempotency-Key was used for another request: use a new key per job")
    return AsciiJSONResponse(known.to_dict(), status_code=200)


def _get(store: JobStore, job_id: str, tenant: str | None) -> StoredJob | None:
    return store.get(job_id, tenant) if _ID.fullmatch(job_id) else None


def _found(job: StoredJob | None, job_id: str) -> StoredJob:
    if job is None:
        raise HTTPException(404, detail=f"no job {job_id}")
    return job


def _moved(writer: JobWriter, job_id: str, to: str, allowed: tuple[str, ...], tenant: str | None,
           **values: Any) -> StoredJob:
    """The job moved to ``to`` by the writer (committed with the other writes of its batch)."""
    store = writer.store
    moved = None
    if _ID.fullmatch(job_id):
        try:
            moved = writer.run_from_thread(lambda c: store.transition_in(c, job_id, to, allowed, tenant, **values))
        except GreenciError:
            raise
        except Exception as exc:  # noqa: BLE001 - the store refused the write: nothing changed
            raise HTTPException(503, detail=f"the job store could not record the change, retry later: {exc}") from exc
    if moved is None:
        job = _found(_get(store, job_id, tenant), job_id)
        raise HTTPException(409, detail=f"job {job_id} is {job.status}: it cannot become {to} (only from "
                                        f"{' or '.join(allowed)})")
    return moved


def _when(text: str | None, field: str) -> float:
    return time.time() if text is None else float(to_epoch_s(to_datetime(text, field=field)))


def _outcome(job: StoredJob, runtime_s: float, measured_kwh: float | None, provider: ForecastProvider) -> dict:
    """Actual emissions of a completed job on actual intensity, beside the prediction."""
    from greenci.accounting import profile_emissions_g

    power_kw = float(job.request.get("power_kw") or 1.0)
    energy = measured_kwh if measured_kwh is not None else power_kw * runtime_s / 3600
    out: dict[str, Any] = {"runtime_s": runtime_s, "energy_kwh": energy,
                           "energy_source": "measured" if measured_kwh is not None else "power_kw x runtime",
                           "predicted_g": job.decision.get("expected_g"), "actual_g": None}
    grid = getattr(provider, "grid", None)
    start = float(job.started_s if job.started_s is not None else job.start_s)
    if not isinstance(grid, IntensityGrid) or job.region not in grid.regions:
        out["note"] = "no actual intensity for the run (an API source): actual_g unknown"
        return out
    row = grid.values[grid.regions.index(job.region)]
    watts = energy * 3.6e6 / runtime_s
    try:
        grams = profile_emissions_g(np.array([start, start + runtime_s]), np.array([watts, watts]),
                                    grid.times, grid.step_s, row)
    except GreenciError as exc:
        out["note"] = f"actual intensity does not cover the run: {exc}"
        return out
    out["actual_g"] = grams
    if out["predicted_g"] is not None:
        out["difference_g"] = grams - float(out["predicted_g"])
    return out


def _provider(settings: ServiceSettings) -> ForecastProvider:
    """The forecast the service holds: over files (fitted once per issue slot), an API with fallbacks, or
    the synthetic model around now (labelled so in every decision)."""
    from greenci.usecases.inputs import forecast_provider

    if settings.intensity:
        from greenci.sources import read_intensity

        series = [s for s in read_intensity(list(settings.intensity)) if s.region in set(settings.regions)]
        missing = sorted(set(settings.regions) - {s.region for s in series})
        if missing:
            raise GreenciError(f"no intensity for region(s) {', '.join(missing)} in the intensity files: give files "
                               "for them or leave them out of regions", field="regions")
        grid = IntensityGrid.from_series(series).select(list(settings.regions))
        return GridForecasts(grid, settings.forecast, label="intensity files")
    return forecast_provider(regions=settings.regions, at_s=int(time.time()), source=settings.source,
                             model=settings.forecast, cache_dir=settings.data_dir / "forecasts")


def _history(settings: ServiceSettings, store: JobStore) -> HistoryIndex:
    """Runs of the configured traces, then every job the service saw complete."""
    index = HistoryIndex()
    if settings.history:
        from greenci.traces import read_trace

        index = HistoryIndex(read_trace(list(settings.history)).jobs)
    for repo, workflow, job_name, submitted_s, runtime_s in store.completed_runs():
        index.add(repo, workflow, job_name, submitted_s, runtime_s)
    return index
