"""Starting deferred jobs at their time: targets (webhook, GitHub ``workflow_dispatch``, a command) and the
dispatcher that leases due jobs from the store and calls them, with retries.

Once and only once: a dispatcher takes a lease on a due job (:meth:`JobStore.claim_due`; on PostgreSQL
with ``FOR UPDATE SKIP LOCKED``, so several service processes share the work), calls its target, and
marks it dispatched only while it holds the lease. A process that dies mid-way loses its lease when it
expires and another dispatcher takes the job over; the call is then repeated with the same
``Idempotency-Key`` (the job id), so a receiver that keys on it starts the job once. A failed call is
retried with exponential backoff; after ``max_attempts`` the job is marked failed with the reason, never
dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from greenci.errors import InputError
from greenci.service.store import JobStore, StoredJob

logger = logging.getLogger("greenci.service.dispatch")

__all__ = ["TARGET_TYPES", "DispatchSettings", "Dispatcher", "check_target", "signature"]


@dataclass(frozen=True)
class DispatchSettings:
    """How the service starts jobs. Secrets come from the environment, never from a request."""

    webhook_secret: str | None = None  # GREENCI_WEBHOOK_SECRET: signs every webhook body (HMAC-SHA256)
    github_token: str | None = None  # GREENCI_GITHUB_TOKEN / GITHUB_TOKEN: for workflow_dispatch
    github_api: str = "https://api.github.com"
    command: tuple[str, ...] | None = None  # the only command a job may ask for (``{id}``, ``{repo}``, ... filled)
    poll_s: float = 1.0
    lease_s: float = 60.0
    max_attempts: int = 5
    backoff_s: float = 2.0
    timeout_s: float = 10.0

    @classmethod
    def from_env(cls, **overrides: Any) -> DispatchSettings:
        env = os.environ
        return cls(webhook_secret=env.get("GREENCI_WEBHOOK_SECRET") or None,
                   github_token=env.get("GREENCI_GITHUB_TOKEN") or env.get("GITHUB_TOKEN") or None, **overrides)


class Target(Protocol):
    def __call__(self, job: StoredJob, settings: DispatchSettings) -> None: ...


def signature(secret: str, body: bytes) -> str:
    """``sha256=HEX`` of the body under the secret, as the ``X-Greenci-Signature`` header carries it."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _payload(job: StoredJob) -> dict[str, Any]:
    d = job.decision
    return {"id": job.id, "repo": job.repo, "workflow": job.workflow, "job": job.job_name, "region": job.region,
            "start": d.get("start"), "expected_g": d.get("expected_g"), "saving_g": d.get("saving_g"),
            "reason": d.get("reason")}


def _webhook(job: StoredJob, settings: DispatchSettings) -> None:
    body = json.dumps(_payload(job)).encode("utf-8")
    headers = {"Content-Type": "application/json", "Idempotency-Key": job.id, "X-Greenci-Event": "dispatch"}
    if settings.webhook_secret:
        headers["X-Greenci-Signature"] = signature(settings.webhook_secret, body)
    r = httpx.post(job.target["url"], content=body, headers=headers, timeout=settings.timeout_s,  # type: ignore[index]
                   trust_env=False)
    if r.status_code >= 300:
        raise RuntimeError(f"webhook answered HTTP {r.status_code}: {r.text[:200]}")


def _github(job: StoredJob, settings: DispatchSettings) -> None:
    t = job.target or {}
    if not settings.github_token:
        raise RuntimeError("no GitHub token: set GREENCI_GITHUB_TOKEN for the service")
    url = f"{settings.github_api.rstrip('/')}/repos/{job.repo}/actions/workflows/{t['workflow_file']}/dispatches"
    inputs = {**(t.get("inputs") or {}), "greenci_job": job.id, "greenci_region": job.region}
    r = httpx.post(url, json={"ref": t.get("ref") or "main", "inputs": inputs}, timeout=settings.timeout_s,
                   headers={"Authorization": f"Bearer {settings.github_token}", "Accept": "application/vnd.github+json",
                            "X-GitHub-Api-Version": "2022-11-28"}, trust_env=False)
    if r.status_code != 204:
        raise RuntimeError(f"GitHub workflow_dispatch answered HTTP {r.status_code}: {r.text[:200]}")


def _command(job: StoredJob, settings: DispatchSettings) -> None:
    if not settings.command:
        raise RuntimeError("no dispatch command is configured for the service")
    fields = {"id": job.id, "repo": job.repo, "workflow": job.workflow, "job": job.job_name, "region": job.region}
    argv = [part.format(**fields) for part in settings.command]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=settings.timeout_s, check=False,
                          env={**os.environ, "GREENCI_JOB_ID": job.id, "GREENCI_REGION": job.region})
    if done.returncode != 0:
        raise RuntimeError(f"command exited {done.returncode}: {(done.stderr or done.stdout)[-200:]}")


#: the registry of dispatch targets: a job's ``dispatch.type`` names one
TARGET_TYPES: dict[str, Callable[[StoredJob, DispatchSettings], None]] = {
    "webhook": _webhook, "github": _github, "command": _command,
}


def check_target(target: dict[str, Any] | None, settings: DispatchSettings) -> dict[str, Any] | None:
    """A job's requested target, checked (type known, its fields present); None: the job is not dispatched."""
    if target is None:
        return None
    kind = target.get("type")
    if kind not in TARGET_TYPES:
        raise InputError(f"dispatch type {kind!r} is unknown: use one of {', '.join(TARGET_TYPES)}", field="dispatch")
    if kind == "webhook":
        url = str(target.get("url") or "")
        if not url.startswith(("http://", "https://")):
            raise InputError(f"dispatch url {url!r} must be an http(s) URL", field="dispatch")
        return {"type": kind, "url": url}
    if kind == "github":
        wf = str(target.get("workflow_file") or "")
        if not wf or "/" in wf:
            raise InputError("dispatch workflow_file must name the workflow file, e.g. nightly.yml", field="dispatch")
        inputs = target.get("inputs") or {}
        if not isinstance(inputs, dict) or not all(isinstance(v, str) for v in inputs.values()):
            raise InputError("dispatch inputs must map names to strings", field="dispatch")
        return {"type": kind, "workflow_file": wf, "ref": str(target.get("ref") or "main"), "inputs": inputs}
    if not settings.command:
        raise InputError("dispatch type 'command' is not enabled on this service (its operator configures the "
                         "command)", field="dispatch")
    return {"type": kind}


class Dispatcher:
    """Polls the store for due jobs and starts them; one per service process (``start``/``stop``)."""

    def __init__(self, store: JobStore, settings: DispatchSettings, *, clock: Callable[[], float] = time.time,
                 owner: str | None = None, on_failure: Callable[[bool], None] | None = None) -> None:
        self.on_failure = on_failure  # told of each failed attempt (True: the job was given up)
        self.store = store
        self.settings = settings
        self.clock = clock
        self.owner = owner or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Dispatch what is due now; the number of jobs dispatched."""
        now = self.clock()
        done = 0
        for job in self.store.claim_due(self.owner, now, self.settings.lease_s):
            try:
                TARGET_TYPES[job.target["type"]](job, self.settings)  # type: ignore[index]
            except Exception as exc:  # noqa: BLE001 - any failure of a target is retried, then recorded
                attempt = job.attempts + 1
                give_up = attempt >= self.settings.max_attempts
                retry_at = None if give_up else now + self.settings.backoff_s * 2 ** (attempt - 1)
                self.store.dispatch_failed(job.id, self.owner, f"attempt {attempt}: {exc}", retry_at)
                if self.on_failure is not None:
                    self.on_failure(give_up)
                logger.warning("dispatch of %s failed (attempt %d%s): %s", job.id, attempt,
                               ", giving up" if give_up else "", exc)
                continue
            if self.store.dispatched(job.id, self.owner, self.clock()):
                done += 1
        return done

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="greenci-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.settings.timeout_s + 5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the loop; it is logged
                logger.exception("dispatcher pass failed")
            self._stop.wait(self.settings.poll_s)
