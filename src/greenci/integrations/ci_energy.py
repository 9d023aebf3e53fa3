"""The energy of a CI job between two steps, for GitHub Actions (what Eco-CI offers, with greenci's meter).

``greenci ci start`` in an early step launches the sampler (this module run with ``python -m``, see
:func:`greenci.usecases.ci_energy.run_sampler`); ``greenci ci report`` in a late one stops it and calls
:func:`report`: the job's energy and emissions (:func:`~greenci.usecases.ci_energy.ci_result`), reported to
the scheduler service (``POST /v1/jobs/{id}/started`` at the recorded start when the job is still scheduled or
dispatched, then ``/completed`` with ``runtime_s`` and ``measured_kwh``), a Markdown table appended to
``$GITHUB_STEP_SUMMARY`` and ``energy-kwh``, ``co2-g``, ``duration-s`` lines to ``$GITHUB_OUTPUT``.

A failure to report to the service never loses the local report: it is written first, and
:attr:`CiReport.service_error` carries the service's reason for the shell to show (and exit 3).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from greenci.energy.meter import MeasureOptions, MeasureResult
from greenci.errors import GreenciError, InputError
from greenci.usecases.ci_energy import CiState, SamplerStop, ci_result

__all__ = ["SYNTHETIC", "CiReport", "ServiceTarget", "github_output_lines", "measured_label", "report",
           "report_to_service", "summary_markdown"]

SYNTHETIC = "SYNTHETIC intensity (greenci's built-in model, not a measurement of any grid)"


@dataclass(frozen=True)
class ServiceTarget:
    """The scheduler service to report the job to: its base URL, an API token and the job's id."""

    url: str
    job_id: str
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_options(cls, url: str | None, token: str | None, job_id: str | None,
                     env: Mapping[str, str] | None = None) -> ServiceTarget | None:
        """From the options, else ``GREENCI_SERVICE_URL``, ``GREENCI_SERVICE_TOKEN``, ``GREENCI_JOB``."""
        env = os.environ if env is None else env
        url = url or env.get("GREENCI_SERVICE_URL") or None
        token = token or env.get("GREENCI_SERVICE_TOKEN") or None
        job_id = job_id or env.get("GREENCI_JOB") or None
        if not url and not job_id:
            return None
        if not url or not job_id:
            missing = "service" if not url else "job_id"
            raise InputError(f"reporting to the service needs both a URL and a job id: give {missing} "
                             "(--service / GREENCI_SERVICE_URL, --job-id / GREENCI_JOB)", field=missing)
        if not url.startswith(("http://", "https://")):
            raise InputError(f"service {url!r} is not an http(s) URL, e.g. https://greenci.example.org",
                             field="service")
        return cls(url=url.rstrip("/"), job_id=job_id, token=token)


@dataclass(frozen=True)
class CiReport:
    """One job's measurement, and what the service made of it (``job``) or why reporting failed."""

    state: CiState
    result: MeasureResult
    stop: SamplerStop
    job: dict[str, Any] | None = None
    service_error: str | None = None
    written: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def average_power_w(self) -> float:
        return self.result.energy_kwh * 3.6e6 / self.result.duration_s if self.result.duration_s > 0 else 0.0

    @property
    def peak_power_w(self) -> float:
        total = self.result.profile.total_w
        return float(total.max()) if total.size else 0.0

    @property
    def actual(self) -> dict[str, Any] | None:
        return (self.job or {}).get("actual") or None


def measured_label(result: MeasureResult) -> str:
    """``measured (RAPL ...)`` or ``modelled (utilisation model ...)``: what the energy number is."""
    if result.method == "rapl":
        return "measured: RAPL package counters (whole machine)"
    return f"modelled: utilisation model of the whole machine ({result.cpu_tdp_w:.0f} W CPU at full load, " \
           f"{result.cpu_tdp_source})"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(float(epoch), UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# ====================================================================== the service
def report_to_service(target: ServiceTarget, state: CiState, result: MeasureResult, *,
                      timeout_s: float = 15.0, retries: int = 1, measured_kwh: float | None = None) -> dict[str, Any]:
    """``started`` (at the recorded start, when the job waits) then ``completed``: the job the service answers.

    ``measured_kwh``: the job's energy from the node's meter (attributed), sent instead of the sampler's."""
    from greenci.http import HttpSession

    headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
    with HttpSession(target.url, label="greenci service", timeout_s=timeout_s, retries=retries, headers=headers,
                     secrets=[target.token], auth_hint="the token (--token / GREENCI_SERVICE_TOKEN)") as http:
        path = f"/v1/jobs/{target.job_id}"
        job = http.get_json(path)
        status = job.get("status")
        if status in ("scheduled", "dispatched"):
            job = http.post_json(path + "/started", json={"at": _iso(state.started_epoch)})
        elif status != "running":
            raise InputError(f"job {target.job_id} is {status} at the service: only a scheduled, dispatched or running "
                             "job can be reported completed; check --job-id", field="job_id")
        body = {"at": _iso(result.ended_at.timestamp()), "runtime_s": max(result.duration_s, 0.001),
                "measured_kwh": result.energy_kwh if measured_kwh is None else measured_kwh}
        done: dict[str, Any] = http.post_json(path + "/completed", json=body)
        return done


# ====================================================================== GitHub files
def _kwh(kwh: float) -> str:
    return f"{kwh * 1000:.4g} Wh ({kwh:.3g} kWh)"


def summary_markdown(rep: CiReport) -> str:
    """The Markdown table for ``$GITHUB_STEP_SUMMARY``: energy, power, duration, method, gCO2eq, service."""
    r = rep.result
    rows = [("Energy (IT)", _kwh(r.energy_kwh)),
            (f"Energy x PUE {r.pue:.2f}", _kwh(r.facility_energy_kwh)),
            ("Average power", f"{rep.average_power_w:.1f} W"),
            ("Peak power", f"{rep.peak_power_w:.1f} W"),
            ("Duration", f"{r.duration_s:.1f} s ({r.samples} samples every {r.interval_s:g} s)"),
            ("Method", measured_label(r))]
    if r.emissions_g is not None:
        where = r.region or "fixed"
        source = SYNTHETIC if r.synthetic else (r.intensity_source or "")
        rows.append(("Emissions", f"{r.emissions_g:.3g} gCO2eq"))
        rows.append(("Intensity", f"{r.intensity_g_per_kwh:.0f} gCO2eq/kWh ({_where(where, source)})"))
    else:
        rows.append(("Emissions", "not computed: give --intensity-g-per-kwh, --intensity or --region"))
    actual = rep.actual
    if actual is not None:
        job = rep.job or {}
        rows.append(("Service job", f"`{job.get('id', '')}` {job.get('status', '')}"))
        rows.append(("Predicted (service)", _g(actual.get("predicted_g"))))
        rows.append(("Actual (service)", _g(actual.get("actual_g")) + (f" ({actual['note']})" if actual.get("note")
                                                                        else "")))
        if actual.get("difference_g") is not None:
            rows.append(("Actual - predicted", f"{actual['difference_g']:+.3g} gCO2eq"))
    if rep.service_error:
        rows.append(("Service", f"reporting FAILED: {rep.service_error}"))
    if rep.stop.died:
        rows.append(("Note", rep.stop.note))
    lines = ["### greenci: energy of this job", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {_cell(v)} |" for k, v in rows]
    if r.method != "rapl" or r.synthetic:
        lines += ["", "_" + "; ".join(
            ([f"energy modelled, not measured: {r.method_note}"] if r.method != "rapl" else [])
            + (["the intensity is synthetic"] if r.synthetic else [])) + "._"]
    return "\n".join(lines) + "\n\n"


def _where(region: str, source: str) -> str:
    return "a fixed value given" if source == "fixed" else f"{region}; {source}"


def _g(value: Any) -> str:
    return "unknown" if value is None else f"{float(value):.3g} gCO2eq"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def github_output_lines(result: MeasureResult) -> str:
    """``energy-kwh``, ``co2-g`` (empty without an intensity) and ``duration-s`` lines for ``$GITHUB_OUTPUT``."""
    co2 = "" if result.emissions_g is None else f"{result.emissions_g:.6g}"
    return f"energy-kwh={result.energy_kwh:.9g}\nco2-g={co2}\nduration-s={result.duration_s:.3f}\n"


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


# ====================================================================== the use
def report(state_dir: Path, options: MeasureOptions | None = None, *,
           intensity_files: Sequence[str | os.PathLike[str]] = (), target: ServiceTarget | None = None,
           env: Mapping[str, str] | None = None, attributed_kwh: float | None = None) -> CiReport:
    """Stop the sampler, account the job, report it to ``target``, and write the GitHub summary and outputs.

    A service failure is kept in :attr:`CiReport.service_error`; the files are written all the same. A file
    that cannot be written becomes a note (the measurement is still returned for the shell to show).
    ``attributed_kwh``: the job's share of its node's metered energy (``greenci telemetry attribute``); the
    service is sent it as the measured energy, and the report shows it beside the sampler's.
    """
    from greenci.jsonsafe import dumps

    env = os.environ if env is None else env
    state, result, stop = ci_result(state_dir, options, intensity_files=intensity_files)
    job: dict[str, Any] | None = None
    error: str | None = None
    if target is not None:
        try:
            job = report_to_service(target, state, result, measured_kwh=attributed_kwh)
        except GreenciError as exc:
            error = str(exc)
    rep = CiReport(state=state, result=result, stop=stop, job=job, service_error=error)
    written: list[str] = []
    notes: list[str] = []
    doc = {**result.summary(), "method_label": measured_label(result), "average_power_w": rep.average_power_w,
           "peak_power_w": rep.peak_power_w, "sampler": stop.note, "sampler_died": stop.died, "job": job,
           "service_error": error, "attributed_kwh": attributed_kwh}
    targets = [(Path(state_dir) / "report.json", dumps(doc) + "\n", False)]
    if env.get("GITHUB_STEP_SUMMARY"):
        targets.append((Path(env["GITHUB_STEP_SUMMARY"]), summary_markdown(rep), True))
    if env.get("GITHUB_OUTPUT"):
        targets.append((Path(env["GITHUB_OUTPUT"]), github_output_lines(result), True))
    for path, text, append in targets:
        try:
            if append:
                _append(path, text)
            else:
                from greenci.outputs import write_text

                write_text(path, text)
            written.append(str(path))
        except OSError as exc:
            notes.append(f"{path} was not written ({exc.strerror or exc})")
    return CiReport(state=state, result=result, stop=stop, job=job, service_error=error, written=tuple(written),
                    notes=tuple(notes))


if __name__ == "__main__":  # the detached sampler of greenci ci start: python -m greenci.integrations.ci_energy DIR
    import sys

    from greenci.usecases.ci_energy import run_sampler

    run_sampler(Path(sys.argv[1]))
