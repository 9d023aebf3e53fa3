"""The GitHub Actions gate: a decision turned into what the running job does now, and the GitHub plumbing.

Three outcomes (:func:`gate`, pure):

``continue``
    run now: a fail-fast job (someone waits for it), a decision that is not shifted, a best start that is
    now, a wait that saves nothing, or a short wait whose saving does not pay for the idle runner.
``wait``
    the wait is short (at most ``max_wait_s``, default 15 min) and waiting saves more than the runner burns
    while it idles: the step sleeps until the start, then the job goes on.
``defer``
    a longer wait: this run ends successfully now, and the greenci service starts the workflow again by
    ``workflow_dispatch`` at the chosen start (with the input ``greenci_job``). A run started that way is
    never deferred again: it continues.

Worth waiting (the formula). Waiting saves ``shift_saving_g = now_best_g - expected_g``: what the chosen
start emits less than running now in the cleanest allowed region (the spatial part of ``saving_g`` is had
without waiting). An idle runner costs ``idle_g = idle_power_w * wait_s / 3600 / 1000 * intensity_now``
gCO2eq, where ``intensity_now`` (gCO2eq/kWh) is the decision's ``intensity_g_per_kwh`` when it gives one,
else its baseline per kWh: ``baseline_g / (power_kw * duration_estimate_s / 3600)`` (running now, mean of
the allowed regions). A short wait is taken only when ``shift_saving_g > idle_g``. A deferred run idles
nowhere (this run ends, a new one starts later), so a defer needs only ``shift_saving_g > 0``.

The GitHub side: :class:`GitHubRun` reads the run's variables (``GITHUB_REPOSITORY``, ``GITHUB_WORKFLOW``,
``GITHUB_JOB``, ``GITHUB_EVENT_NAME``, ``GITHUB_REF_NAME``, ``GITHUB_WORKFLOW_REF``, ...);
:func:`write_outputs` appends ``key=value`` lines to ``$GITHUB_OUTPUT`` and :func:`write_summary` Markdown to
``$GITHUB_STEP_SUMMARY``. :class:`ServiceClient` and :func:`decide_with_service` ask a greenci service.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from greenci.errors import ConfigError, GreenciError, InputError, SourceError
from greenci.outputs import append_line

__all__ = ["DEFAULT_IDLE_POWER_W", "DEFAULT_MAX_WAIT_S", "OUTCOMES", "GateResult", "GateVerdict", "GitHubRun",
           "ServiceClient", "check_policy", "decide_with_service", "dispatched_result", "gate", "intensity_now",
           "mark_started", "result_of", "started_dispatched", "summary_markdown", "write_outputs", "write_summary"]

OUTCOMES = ("continue", "wait", "defer")
DEFAULT_MAX_WAIT_S = 15 * 60.0
DEFAULT_IDLE_POWER_W = 30.0


# ------------------------------------------------------------------------------------------ the verdict
@dataclass(frozen=True)
class GateVerdict:
    """What the job does with a decision, and why (grams at the job's power)."""

    outcome: str
    why: str
    wait_s: float
    shift_saving_g: float
    idle_g: float | None
    intensity_g_per_kwh: float | None


def _num(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def intensity_now(decision: Mapping[str, Any], power_kw: float = 1.0) -> float | None:
    """gCO2eq/kWh now: the decision's own figure, else its baseline per kWh (None when neither is known)."""
    given = _num(decision.get("intensity_g_per_kwh"))
    if given is not None:
        return given
    baseline, duration = _num(decision.get("baseline_g")), _num(decision.get("duration_estimate_s"))
    if baseline is None or not duration or power_kw <= 0:
        return None
    return baseline / (power_kw * duration / 3600.0)


def check_policy(max_wait_s: float, idle_power_w: float) -> None:
    """Refuse a negative or non-finite wait limit or idle power, naming it."""
    if not (_num(max_wait_s) is not None and max_wait_s >= 0):
        raise InputError(f"max_wait {max_wait_s!r} s must be a duration of 0 or more, e.g. 15m", field="max_wait")
    if not (_num(idle_power_w) is not None and idle_power_w >= 0):
        raise InputError(f"idle_power_w {idle_power_w!r} must be watts, 0 or more, e.g. 30", field="idle_power_w")


def gate(decision: Mapping[str, Any], *, power_kw: float = 1.0, max_wait_s: float = DEFAULT_MAX_WAIT_S,
         idle_power_w: float = DEFAULT_IDLE_POWER_W, dispatched: bool = False, can_defer: bool = True,
         defer_hint: str = "") -> GateVerdict:
    """``continue``, ``wait`` or ``defer`` for a decision (a :meth:`Decision.to_dict` or a service's ``decision``).

    ``dispatched``: this run was started by the service's dispatch (never deferred again). ``can_defer``:
    a service and a workflow to dispatch are known; without them a long wait runs now, ``defer_hint`` says why.
    """
    check_policy(max_wait_s, idle_power_w)
    wait_s = max(0.0, _num(decision.get("wait_s")) or 0.0)
    expected, now_best = _num(decision.get("expected_g")), _num(decision.get("now_best_g"))
    shift = now_best - expected if expected is not None and now_best is not None else \
        (_num(decision.get("saving_g")) or 0.0)
    intensity = intensity_now(decision, power_kw)
    idle = None if intensity is None else idle_power_w * wait_s / 3600.0 / 1000.0 * intensity
    verdict = GateVerdict("continue", "", wait_s, shift, idle, intensity)
    reason = str(decision.get("reason") or "")
    if dispatched:
        return replace(verdict, why="started by the greenci service's dispatch at its chosen time: runs now, "
                                    "never deferred again")
    if not reason.startswith("shifted"):
        return replace(verdict, why=reason or "the decision gives no reason to wait: runs now")
    if wait_s <= 0:
        return replace(verdict, why="the best start is now")
    if not shift > 0:
        return replace(verdict, why=f"waiting {_minutes(wait_s)} saves nothing against running now "
                                    f"({shift:.1f} gCO2eq): runs now")
    if wait_s <= max_wait_s:
        if idle is None:
            return replace(verdict, why="the intensity now is not known, so the idle runner's cost is not either: "
                                        "runs now")
        if shift > idle:
            return replace(verdict, outcome="wait", why=f"waiting {_minutes(wait_s)} saves {shift:.1f} gCO2eq, "
                                                        f"more than the idle runner's {idle:.2f} gCO2eq")
        return replace(verdict, why=f"waiting {_minutes(wait_s)} would save {shift:.1f} gCO2eq, no more than the "
                                    f"idle runner's {idle:.2f} gCO2eq: runs now")
    if not can_defer:
        return replace(verdict, why=f"the best start is {_minutes(wait_s)} away (more than the {_minutes(max_wait_s)} "
                                    f"a runner may wait), saving {shift:.1f} gCO2eq, but the run cannot be deferred"
                                    + (f": {defer_hint}" if defer_hint else "") + "; runs now")
    return replace(verdict, outcome="defer", why=f"the best start is {_minutes(wait_s)} away (more than the "
                                                 f"{_minutes(max_wait_s)} a runner may wait) and saves "
                                                 f"{shift:.1f} gCO2eq")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


# ------------------------------------------------------------------------------------------ the result
@dataclass(frozen=True)
class GateResult:
    """A verdict with the figures the workflow sees (step outputs) and the summary shows."""

    outcome: str
    why: str
    decision_id: str
    region: str
    start: str
    wait_s: float
    expected_g: float | None
    saving_g: float | None
    decision: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def outputs(self) -> dict[str, str]:
        """The step outputs (``$GITHUB_OUTPUT``), all strings."""
        def num(x: float | None, digits: int) -> str:
            return "" if x is None else f"{x:.{digits}f}"

        return {"outcome": self.outcome, "region": self.region, "start": self.start,
                "wait-seconds": str(int(round(self.wait_s))), "decision-id": self.decision_id,
                "expected-g": num(self.expected_g, 3), "saving-g": num(self.saving_g, 3)}

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "why": self.why, "decision_id": self.decision_id, "region": self.region,
                "start": self.start, "wait_s": self.wait_s, "expected_g": self.expected_g,
                "saving_g": self.saving_g, "notes": list(self.notes), "decision": dict(self.decision)}


def _iso_now(clock: Callable[[], float]) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock()))


def result_of(verdict: GateVerdict, decision: Mapping[str, Any], decision_id: str, *,
              clock: Callable[[], float] = time.time, notes: tuple[str, ...] = ()) -> GateResult:
    """The figures of a verdict: a run that goes on now expects ``now_best_g``; one that waits, the decision's."""
    baseline = _num(decision.get("baseline_g"))
    if verdict.outcome == "continue":
        expected = _num(decision.get("now_best_g"))
        start, wait = _iso_now(clock), 0.0
    else:
        expected = _num(decision.get("expected_g"))
        start, wait = str(decision.get("start") or ""), verdict.wait_s
    saving = baseline - expected if baseline is not None and expected is not None else None
    return GateResult(verdict.outcome, verdict.why, decision_id, str(decision.get("region") or ""), start, wait,
                      expected, saving, dict(decision), notes)


def dispatched_result(job_id: str, region: str, *, job: Mapping[str, Any] | None = None,
                      clock: Callable[[], float] = time.time, notes: tuple[str, ...] = ()) -> GateResult:
    """A run the service dispatched: it continues, with the figures of its stored decision when known."""
    decision = dict((job or {}).get("decision") or {})
    verdict = gate(decision, dispatched=True)
    expected = _num(decision.get("expected_g"))
    return GateResult("continue", verdict.why, job_id, region or str(decision.get("region") or ""), _iso_now(clock),
                      0.0, expected, _num(decision.get("saving_g")), decision, notes)


def summary_markdown(result: GateResult, *, synthetic: bool | None = None) -> str:
    """The step summary: the decision, the expected saving, and what happens next."""
    d = result.decision
    synthetic = bool(d.get("synthetic")) if synthetic is None else synthetic
    nxt = {"continue": "The job runs now.",
           "wait": f"The job waits {_minutes(result.wait_s)} on this runner, then runs at {result.start}.",
           "defer": f"This run ends now (successfully). The greenci service starts the workflow again by "
                    f"workflow_dispatch at **{result.start}** in {result.region or 'the chosen region'} "
                    f"(job `{result.decision_id}`); that run continues without deferring again."}[result.outcome]
    rows = [("outcome", f"**{result.outcome}**"), ("why", result.why)]
    if d:
        waited = _minutes(_num(d.get("wait_s")) or 0.0)
        rows += [("decision", f"{d.get('region', '?')} at {d.get('start', '?')} (wait {waited})"),
                 ("decision reason", str(d.get("reason") or ""))]
    if result.expected_g is not None:
        saving = f", saving {result.saving_g:.1f} gCO2eq against running now" if result.saving_g is not None else ""
        rows.append(("expected", f"{result.expected_g:.1f} gCO2eq{saving}"))
    if d.get("forecast"):
        rows.append(("forecast", str(d["forecast"]) + (" (fallback: " + str(d["fallback"]) + ")"
                                                        if d.get("fallback") else "")))
    rows.append(("next", nxt))
    rows += [("note", n) for n in result.notes]
    title = "### greenci gate: " + result.outcome + (" (SYNTHETIC intensity)" if synthetic else "")
    body = "\n".join(f"| {k} | {_cell(v)} |" for k, v in rows)
    return f"{title}\n\n| | |\n|---|---|\n{body}\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# ------------------------------------------------------------------------------------------ GitHub plumbing
@dataclass(frozen=True)
class GitHubRun:
    """What a GitHub Actions run says about itself (empty strings where a variable is not set)."""

    repo: str = ""
    workflow: str = ""
    job: str = ""
    event: str = ""
    branch: str = ""
    default_branch: str = "main"
    workflow_file: str = ""
    run_id: str = ""
    run_attempt: str = ""
    output_path: str = ""
    summary_path: str = ""
    greenci_job: str = ""
    greenci_region: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GitHubRun:
        """The run of ``env`` (``os.environ`` in a step). The branch of a pull request is its head branch."""
        ref = env.get("GITHUB_WORKFLOW_REF", "")  # owner/repo/.github/workflows/ci.yml@refs/heads/main
        workflow_file = ref.split("@", 1)[0].rsplit("/", 1)[-1] if ref else ""
        return cls(repo=env.get("GITHUB_REPOSITORY", ""), workflow=env.get("GITHUB_WORKFLOW", ""),
                   job=env.get("GITHUB_JOB", ""), event=env.get("GITHUB_EVENT_NAME", ""),
                   branch=env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME", ""),
                   default_branch=_default_branch(env.get("GITHUB_EVENT_PATH", "")) or "main",
                   workflow_file=workflow_file, run_id=env.get("GITHUB_RUN_ID", ""),
                   run_attempt=env.get("GITHUB_RUN_ATTEMPT", ""), output_path=env.get("GITHUB_OUTPUT", ""),
                   summary_path=env.get("GITHUB_STEP_SUMMARY", ""), greenci_job=env.get("GREENCI_JOB", ""),
                   greenci_region=env.get("GREENCI_REGION", ""))

    def idempotency_key(self, job: str = "") -> str | None:
        """One key per run attempt and job, so that a retried request does not decide twice."""
        if not self.run_id:
            return None
        key = f"gh:{self.repo}:{self.run_id}:{self.run_attempt or '1'}:{job or self.job}"
        return "".join(c if " " <= c <= "~" else "?" for c in key)[:200]


def _default_branch(event_path: str) -> str:
    """``repository.default_branch`` of the event payload (``GITHUB_EVENT_PATH``), if it can be read."""
    if not event_path:
        return ""
    try:
        doc = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    repo = doc.get("repository") if isinstance(doc, dict) else None
    value = repo.get("default_branch") if isinstance(repo, dict) else None
    return value if isinstance(value, str) else ""


def write_outputs(path: str | Path, outputs: Mapping[str, str]) -> None:
    """Append ``key=value`` lines to ``$GITHUB_OUTPUT`` (values are one line each)."""
    for key, value in outputs.items():
        append_line(Path(path), f"{key}={' '.join(str(value).splitlines())}")


def write_summary(path: str | Path, markdown: str) -> None:
    """Append Markdown to ``$GITHUB_STEP_SUMMARY`` in one write."""
    append_line(Path(path), markdown.rstrip("\n") + "\n")


# ------------------------------------------------------------------------------------------ the service
class ServiceClient:
    """The few calls the gate makes to a greenci service; every failure a GreenciError naming the option."""

    def __init__(self, url: str, token: str | None, *, timeout_s: float = 30.0, retries: int = 2,
                 transport: Any = None, sleep: Callable[[float], None] = time.sleep) -> None:
        import httpx

        if not url.startswith(("http://", "https://")):
            raise InputError(f"service {url!r} must be an http(s) URL, e.g. https://greenci.example.org",
                             field="service")
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s, transport=transport,
                                  trust_env=False)
        self.retries, self.sleep = retries, sleep

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, path: str, *, json_body: Any = None,
             headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        """One call, retried on a lost connection or 502/503/504 (safe: POSTs carry an Idempotency-Key)."""
        import httpx

        for attempt in range(self.retries + 1):
            try:
                r = self._http.request(method, path, json=json_body, headers=dict(headers or {}))
            except httpx.HTTPError as exc:
                if attempt < self.retries:
                    self.sleep(0.5 * 2 ** attempt)
                    continue
                raise ConfigError(f"cannot reach the greenci service at {self.url} ({type(exc).__name__}: {exc}): "
                                  "check --service and that the service runs", field="service") from None
            if r.status_code in (502, 503, 504) and attempt < self.retries:
                self.sleep(0.5 * 2 ** attempt)
                continue
            break
        try:
            body = r.json()
        except ValueError:
            body = {"error": r.text[:200]}
        if not isinstance(body, dict):
            body = {"error": str(body)[:200]}
        if r.status_code in (401, 403):
            raise ConfigError(f"the greenci service at {self.url} refused the token (HTTP {r.status_code}: "
                              f"{_reason(body)}): check --token (GREENCI_SERVICE_TOKEN), a token with the submit "
                              "scope from greenci token create", field="token")
        if r.status_code == 404 and not path.startswith("/v1/jobs/"):
            raise ConfigError(f"{self.url}{path} is not found (HTTP 404): check --service, the greenci service's "
                              "base URL", field="service")
        if 400 <= r.status_code < 500:
            raise InputError(f"the greenci service answered HTTP {r.status_code}: {_reason(body)}")
        if r.status_code >= 500:
            raise SourceError(f"the greenci service at {self.url} answered HTTP {r.status_code}: {_reason(body)}: "
                              "retry later, or check the service's log")
        return r.status_code, body


def _reason(body: Mapping[str, Any]) -> str:
    reason = body.get("error") or body.get("detail") or body
    return (reason if isinstance(reason, str) else json.dumps(reason))[:300]


def decide_with_service(client: ServiceClient, request: Mapping[str, Any], *, key: str | None,
                        dispatch: Mapping[str, Any] | None, power_kw: float = 1.0,
                        max_wait_s: float = DEFAULT_MAX_WAIT_S, idle_power_w: float = DEFAULT_IDLE_POWER_W,
                        clock: Callable[[], float] = time.time) -> GateResult:
    """Submit the job; when the verdict is ``defer``, give it the ``dispatch`` target.

    The job is submitted without a target, so the service never starts a run that goes on now. On ``defer``
    the same job (the same decision) gets its target (``POST /v1/jobs/{id}/dispatch``) and the service
    starts it at its start. The Idempotency-Key makes a retried step find its job again, and giving the
    same target twice is a retry too: one job, dispatched once.
    """
    hint = "give --service and a workflow to dispatch (--dispatch-workflow, or GITHUB_WORKFLOW_REF)"
    _, job = client.call("POST", "/v1/jobs", json_body=dict(request), headers={"Idempotency-Key": key} if key else None)
    decision = job.get("decision") or {}
    verdict = gate(decision, power_kw=power_kw, max_wait_s=max_wait_s, idle_power_w=idle_power_w,
                   can_defer=dispatch is not None, defer_hint=hint)
    job_id = str(job.get("id", ""))
    if verdict.outcome == "defer":
        client.call("POST", f"/v1/jobs/{job_id}/dispatch", json_body=dict(dispatch or {}))
    return result_of(verdict, decision, job_id, clock=clock)


def mark_started(client: ServiceClient, job_id: str) -> str | None:
    """Tell the service the job runs now (its feedback); a note when it cannot be told, never an error."""
    try:
        client.call("POST", f"/v1/jobs/{job_id}/started", json_body={})
    except GreenciError as exc:
        return f"the service was not told that job {job_id} started: {exc}"
    return None


def started_dispatched(client: ServiceClient, job_id: str) -> tuple[dict[str, Any] | None, str | None]:
    """A dispatched run reports its start and reads its job; it goes on whatever the service answers."""
    note = mark_started(client, job_id)
    try:
        _, job = client.call("GET", f"/v1/jobs/{job_id}")
    except GreenciError as exc:
        return None, note or f"job {job_id} could not be read from the service: {exc}"
    return job, note
