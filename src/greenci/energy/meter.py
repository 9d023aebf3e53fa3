"""Measure the energy and emissions of a command or a block of Python: ``greenci measure`` and ``measure()``.

What happens, in order:

1. **Method.** :func:`select_method` probes RAPL under ``rapl_root``: readable package counters give
   ``"rapl"``; no RAPL, no package domain, or an unreadable counter (the usual case without root)
   give ``"model"``, and ``method_note`` says which and why. ``method="rapl"`` insists (an error if
   RAPL cannot be read); ``method="model"`` skips the probe.
2. **Sampling.** A background thread samples the process tree every ``interval_s`` (1 s default):
   cumulative CPU seconds (processes that come and go included, see :mod:`~greenci.energy.sampling`),
   resident memory, the machine's busy CPU time, RAPL counters, and NVML readings when a GPU is there.
3. **Power.** :func:`~greenci.energy.power_model.profile_from_samples` turns the samples into average
   watts per interval for CPU, RAM and GPU (utilisation model or RAPL attribution; see that module).
4. **Accounting.** kWh per component, facility kWh = IT kWh x PUE, and gCO2eq: the power profile
   against the intensity over the run's own time span with :func:`greenci.accounting.profile_emissions_g`
   (exact on partial slots), from ``region`` on the synthetic model by default (labelled synthetic),
   from intensity files, or from a fixed ``intensity_g_per_kwh``.

A command keeps its own stdin/stdout/stderr and its exit code (killed by signal N: 128 + N). SIGINT,
SIGTERM, SIGHUP and SIGQUIT sent to greenci are forwarded to it; a Ctrl-C typed at a terminal already
reached the whole foreground process group, so it is not sent twice.
"""

from __future__ import annotations

import logging
import math
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ContextDecorator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from greenci.accounting import Footprint, check_pue, facility_energy_kwh, profile_emissions_g
from greenci.energy.cpu_tdp import CpuPower, cpu_power
from greenci.energy.power_model import (
    CPU_RULES,
    IDLE_FRACTION,
    RAM_RULES,
    RAM_W_PER_GB,
    PowerModel,
    PowerProfile,
    profile_from_samples,
)
from greenci.energy.rapl import DEFAULT_RAPL_ROOT, RaplDomain, probe, read_energy_uj
from greenci.energy.records import EnergyRecord, RecordSink
from greenci.energy.sampling import Sample, Sampler
from greenci.errors import ConfigError, InputError
from greenci.grid import IntensityGrid

__all__ = ["SUMMARY_FIELDS", "CommandNotExecutableError", "CommandNotFoundError", "MeasureOptions", "MeasureResult",
           "Measurement", "MethodChoice", "build_result", "measure", "run_measured", "select_method"]

logger = logging.getLogger("greenci.energy.meter")

Method = Literal["rapl", "model"]
SOURCE = "greenci-measure"
#: the keys of :meth:`MeasureResult.summary`, in order: the columns of a ``-o runs.csv`` report
SUMMARY_FIELDS = ("command", "exit_code", "started_at", "ended_at", "duration_s", "method", "method_note", "cpu_kwh",
                  "ram_kwh", "gpu_kwh", "energy_kwh", "pue", "facility_energy_kwh", "emissions_g",
                  "intensity_g_per_kwh", "intensity_source", "region", "synthetic", "signal", "cpu_seconds",
                  "peak_rss_bytes", "samples", "interval_s", "cpu_model", "cpu_tdp_w", "cpu_tdp_source",
                  "logical_cpus", "gpus", "sampler_cpu_s", "cpu_tdp_basis", "cpu_table_key", "cpu_rule",
                  "ram_rule")


class CommandNotFoundError(InputError):
    """The command to measure does not exist (exit 127, as a shell would)."""

    exit_code = 127


class CommandNotExecutableError(InputError):
    """The command to measure exists but cannot be run (exit 126, as a shell would)."""

    exit_code = 126


# ====================================================================== options and method
@dataclass(frozen=True)
class MeasureOptions:
    """How to measure and account; every field has a CLI flag of the same name."""

    interval_s: float = 1.0
    method: str = "auto"
    rapl_root: str | os.PathLike[str] = DEFAULT_RAPL_ROOT
    cpu_tdp_w: float | None = None
    idle_fraction: float = IDLE_FRACTION
    ram_w_per_gb: float = RAM_W_PER_GB
    cpu_rule: str = "linear"
    ram_rule: str = "per-gb"
    gpu: bool = True
    all_gpus: bool = False
    pue: float = 1.0
    region: str | None = None
    intensity: IntensityGrid | None = field(default=None, compare=False)  # read by the caller (a use case)
    intensity_g_per_kwh: float | None = None
    backend: str = "auto"

    def __post_init__(self) -> None:
        if not (self.interval_s >= 0.01 and math.isfinite(self.interval_s)):
            raise InputError(f"interval_s {self.interval_s} must be at least 0.01 seconds")
        if self.method not in ("auto", "rapl", "model"):
            raise InputError(f"method {self.method!r} is unknown: use auto, rapl or model")
        if self.cpu_rule not in CPU_RULES:
            raise InputError(f"cpu_rule {self.cpu_rule!r} is unknown: use {', '.join(CPU_RULES)}", field="cpu_rule")
        if self.ram_rule not in RAM_RULES:
            raise InputError(f"ram_rule {self.ram_rule!r} is unknown: use {', '.join(RAM_RULES)}", field="ram_rule")
        check_pue(self.pue)
        if self.intensity_g_per_kwh is not None:
            if not (self.intensity_g_per_kwh >= 0 and math.isfinite(self.intensity_g_per_kwh)):
                raise InputError(f"intensity_g_per_kwh {self.intensity_g_per_kwh} must be a number >= 0")
            if self.intensity is not None or self.region:
                raise InputError("give either intensity_g_per_kwh, or a region (synthetic model) / an intensity "
                                 "grid, not both")


@dataclass(frozen=True)
class MethodChoice:
    """The CPU method for this run, the reason in words, and the RAPL package domains it reads."""

    method: Method
    note: str
    domains: tuple[RaplDomain, ...] = ()


def select_method(requested: str = "auto", rapl_root: str | os.PathLike[str] = DEFAULT_RAPL_ROOT) -> MethodChoice:
    """RAPL when its package counters can be read, else the utilisation model, with the reason."""
    if requested == "model":
        return MethodChoice("model", "utilisation model (asked for)")
    if requested not in ("auto", "rapl"):
        raise InputError(f"method {requested!r} is unknown: use auto, rapl or model")
    found = probe(rapl_root)
    if found.usable:
        return MethodChoice("rapl", found.reason + ", attributed by the tree's share of busy CPU time",
                            found.domains)
    if requested == "rapl":
        raise ConfigError(f"method rapl cannot be used: {found.reason}", field="method")
    return MethodChoice("model", f"utilisation model: {found.reason}")


# ====================================================================== intensity over the run
@dataclass(frozen=True, eq=False)
class _Intensity:
    """Where the run's intensity comes from, prepared before the run so a typo fails before the work."""

    kind: Literal["none", "fixed", "synthetic", "files"]
    region: str | None = None
    fixed_g_per_kwh: float | None = None
    grid: Any = None  # IntensityGrid for files

    @classmethod
    def prepare(cls, opts: MeasureOptions) -> _Intensity:
        if opts.intensity_g_per_kwh is not None:
            return cls("fixed", fixed_g_per_kwh=float(opts.intensity_g_per_kwh))
        if opts.intensity is not None:
            regions = list(opts.intensity.regions)
            region = opts.region
            if region is None:
                if len(regions) != 1:
                    raise InputError(f"the intensity holds regions {', '.join(regions)}: choose one with region")
                region = regions[0]
            if region not in regions:
                raise InputError(f"region {region!r} is not in the intensity: it holds {', '.join(regions)}")
            return cls("files", region=region, grid=opts.intensity.select([region]))
        if opts.region:
            from greenci.synthetic import PROFILES

            if opts.region not in PROFILES:
                raise InputError(f"no synthetic profile for region {opts.region!r}: choose from {', '.join(PROFILES)}, "
                                 "or give intensity files or intensity_g_per_kwh")
            return cls("synthetic", region=opts.region)
        return cls("none")

    def emissions(self, profile: PowerProfile, t0_epoch: float, pue_value: float) -> dict[str, Any]:
        """gCO2eq of the run (facility level), the effective mean intensity and the data's labels."""
        facility_kwh = facility_energy_kwh(profile.energy_kwh(), pue_value)
        if self.kind == "none":
            return {"emissions_g": None, "intensity_g_per_kwh": None, "intensity_source": None,
                    "synthetic": False, "signal": None}
        if self.kind == "fixed":
            g = float(self.fixed_g_per_kwh or 0.0)
            return {"emissions_g": facility_kwh * g, "intensity_g_per_kwh": g, "intensity_source": "fixed",
                    "synthetic": False, "signal": "average"}
        t = t0_epoch + (profile.t_s if profile.t_s.size else np.zeros(1))
        if self.kind == "synthetic":
            from greenci.synthetic import synthetic_grid

            start = np.datetime64(int(math.floor(t[0])) - 3600, "s")
            hours = (float(t[-1] - t[0]) + 7200.0) / 3600.0 if t.size else 2.0
            grid = synthetic_grid([self.region or ""], start=start, hours=hours)
        else:
            grid = self.grid
        grams_it = _profile_grams(profile, t0_epoch, grid)
        grams = grams_it * pue_value
        mean = grams / facility_kwh if facility_kwh > 0 else _mean_intensity(t, grid)
        return {"emissions_g": grams, "intensity_g_per_kwh": mean,
                "intensity_source": "; ".join(grid.sources) or self.kind, "synthetic": bool(grid.synthetic),
                "signal": grid.signal}


def _profile_grams(profile: PowerProfile, t0_epoch: float, grid: Any) -> float:
    """IT emissions of the piecewise-constant profile, exactly, with :func:`profile_emissions_g`.

    Intensity is constant within a slot, so consecutive intervals inside one slot are merged into one
    constant-power piece with the same energy (same emissions, far fewer calls); an interval that
    crosses a slot boundary is passed alone and split there by ``profile_emissions_g``. Times are
    shifted to seconds since the whole second before the run, so sub-second intervals keep their
    precision (epoch seconds as floats carry only about 0.2 microseconds).
    """
    origin = int(math.floor(t0_epoch))
    starts = (grid.times.astype("datetime64[s]").astype(np.int64) - origin).astype(np.float64)
    t = profile.t_s + (t0_epoch - origin)
    values = grid.values[0]
    joules = profile.total_w * np.diff(t)
    slot_a = np.searchsorted(starts, t[:-1], side="right") - 1
    slot_b = np.searchsorted(starts, t[1:], side="left") - 1  # an end on a boundary belongs to the slot before
    inside = (slot_a == slot_b) & (slot_a >= 0)
    pieces: list[tuple[float, float, float]] = []  # (start, end, joules)
    for i in range(joules.size):
        if pieces and inside[i] and i > 0 and inside[i - 1] and slot_a[i] == slot_a[i - 1]:
            a, _b, j = pieces[-1]
            pieces[-1] = (a, float(t[i + 1]), j + float(joules[i]))
        else:
            pieces.append((float(t[i]), float(t[i + 1]), float(joules[i])))
    grams = 0.0
    for a, b, j in pieces:
        if j <= 0:
            continue
        w = j / (b - a)
        try:
            grams += profile_emissions_g(np.array([a, b]), np.array([w, w]), starts, grid.step_s, values)
        except InputError as exc:
            if "outside" in str(exc):
                raise InputError(f"the run ({_iso(origin + t[0])} .. {_iso(origin + t[-1])}) is not covered by "
                                 f"the intensity series ({_iso_dt(grid.start)} .. {_iso_dt(grid.end)}): give files "
                                 "covering the run, a region for the synthetic model, or intensity_g_per_kwh"
                                 ) from None
            raise
    return grams


def _mean_intensity(t: np.ndarray, grid: Any) -> float | None:
    if t.size < 2 or t[-1] <= t[0]:
        return None
    grams = profile_emissions_g(np.array([t[0], t[-1]]), np.array([1000.0, 1000.0]), grid.times, grid.step_s,
                                grid.values[0])
    return grams / ((t[-1] - t[0]) / 3600.0)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(float(epoch), UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _iso_dt(t: np.datetime64) -> str:
    return str(np.datetime64(t, "s")) + "Z"


# ====================================================================== result
@dataclass(frozen=True, eq=False)
class MeasureResult:
    """Energy and emissions of one measured command or block (IT energy split by component)."""

    command: tuple[str, ...]
    exit_code: int | None
    started_at: datetime
    ended_at: datetime
    duration_s: float
    method: str
    method_note: str
    cpu_kwh: float
    ram_kwh: float
    gpu_kwh: float
    energy_kwh: float
    pue: float
    facility_energy_kwh: float
    emissions_g: float | None
    intensity_g_per_kwh: float | None
    intensity_source: str | None
    region: str | None
    synthetic: bool
    signal: str | None
    cpu_seconds: float
    peak_rss_bytes: int
    samples: int
    interval_s: float
    cpu_model: str
    cpu_tdp_w: float
    cpu_tdp_source: str
    logical_cpus: int
    gpus: tuple[str, ...]
    sampler_cpu_s: float
    profile: PowerProfile = field(repr=False)
    #: what the CPU figure is: per-package (table share), per-logical-cpu (default), given, or rapl (measured)
    cpu_tdp_basis: str = ""
    cpu_table_key: str | None = None
    cpu_rule: str = "linear"
    ram_rule: str = "per-gb"

    @property
    def label(self) -> str:
        if not self.command:
            return "python block"
        return self.command[0] if len(self.command) == 1 else shlex.join(self.command)

    @property
    def overhead_share(self) -> float:
        """CPU time of the sampler / CPU time of the measured work (NaN when the work used none)."""
        return self.sampler_cpu_s / self.cpu_seconds if self.cpu_seconds > 0 else math.nan

    @property
    def footprint(self) -> Footprint | None:
        """The accounting :class:`~greenci.accounting.Footprint`, when an intensity was known."""
        if self.emissions_g is None:
            return None
        return Footprint(energy_kwh=self.energy_kwh, facility_energy_kwh=self.facility_energy_kwh,
                         emissions_g=self.emissions_g, signal=(self.signal or "average"),  # type: ignore[arg-type]
                         pue=self.pue)

    def records(self, resource_id: str | None = None) -> list[EnergyRecord]:
        """One interval record per component (CPU, RAM, and GPU when one was measured), IT energy."""
        rid = resource_id or self.label
        parts = [("cpu", self.cpu_kwh), ("ram", self.ram_kwh)] + ([("gpu", self.gpu_kwh)] if self.gpus else [])
        end = self.ended_at if self.ended_at > self.started_at else None
        if end is None:
            return []
        return [EnergyRecord(source=SOURCE, resource_id=rid, start=self.started_at, end=end, energy_kwh=kwh,
                             power_w=kwh * 3.6e6 / self.duration_s, component=name, method=self.method)
                for name, kwh in parts]

    def summary(self) -> dict[str, Any]:
        """A flat, JSON- and CSV-friendly dict of the result (no profile)."""
        return {
            "command": self.label, "exit_code": self.exit_code,
            "started_at": _iso(self.started_at.timestamp()), "ended_at": _iso(self.ended_at.timestamp()),
            "duration_s": self.duration_s, "method": self.method, "method_note": self.method_note,
            "cpu_kwh": self.cpu_kwh, "ram_kwh": self.ram_kwh, "gpu_kwh": self.gpu_kwh, "energy_kwh": self.energy_kwh,
            "pue": self.pue, "facility_energy_kwh": self.facility_energy_kwh, "emissions_g": self.emissions_g,
            "intensity_g_per_kwh": self.intensity_g_per_kwh, "intensity_source": self.intensity_source,
            "region": self.region, "synthetic": self.synthetic, "signal": self.signal,
            "cpu_seconds": self.cpu_seconds, "peak_rss_bytes": self.peak_rss_bytes, "samples": self.samples,
            "interval_s": self.interval_s, "cpu_model": self.cpu_model, "cpu_tdp_w": self.cpu_tdp_w,
            "cpu_tdp_source": self.cpu_tdp_source, "logical_cpus": self.logical_cpus, "gpus": ";".join(self.gpus),
            "sampler_cpu_s": self.sampler_cpu_s, "cpu_tdp_basis": self.cpu_tdp_basis,
            "cpu_table_key": self.cpu_table_key, "cpu_rule": self.cpu_rule, "ram_rule": self.ram_rule,
        }

    def to_dict(self) -> dict[str, Any]:
        """The summary plus the power profile (per interval), for ``-o FILE.json``."""
        doc = self.summary()
        doc["gpus"] = list(self.gpus)
        doc["profile"] = {"t_s": self.profile.t_s.tolist(), "cpu_w": self.profile.cpu_w.tolist(),
                          "ram_w": self.profile.ram_w.tolist(), "gpu_w": self.profile.gpu_w.tolist(),
                          "share": self.profile.share.tolist()}
        return doc


def build_result(samples: Sequence[Sample], *, model: PowerModel, cpu: CpuPower, choice: MethodChoice,
                 options: MeasureOptions, started_epoch: float, command: Sequence[str] = (),
                 exit_code: int | None = None, sampler_cpu_s: float = 0.0, peak_rss_bytes: int = 0,
                 gpu_names: Sequence[str] = (), intensity: _Intensity | None = None) -> MeasureResult:
    """The result of recorded samples: power profile, kWh per component, PUE and emissions."""
    method, note = choice.method, choice.note
    if method == "rapl" and any(s.rapl_uj is None or s.machine_busy_s is None for s in samples):
        method, note = "model", note + "; RAPL counters stopped answering during the run, so the utilisation model"
    ranges = [d.max_energy_range_uj for d in choice.domains] if method == "rapl" else None
    profile = profile_from_samples(samples, model, method=method, rapl_ranges_uj=ranges)
    basis = intensity if intensity is not None else _Intensity.prepare(options)
    it_kwh = profile.energy_kwh()
    emissions = basis.emissions(profile, started_epoch, options.pue)
    duration = float(profile.t_s[-1] - profile.t_s[0]) if profile.t_s.size else 0.0
    started = datetime.fromtimestamp(started_epoch, UTC)
    ended = datetime.fromtimestamp(started_epoch + duration, UTC)
    return MeasureResult(
        command=tuple(command), exit_code=exit_code, started_at=started, ended_at=ended, duration_s=duration,
        method=method, method_note=note, cpu_kwh=profile.energy_kwh("cpu"), ram_kwh=profile.energy_kwh("ram"),
        gpu_kwh=profile.energy_kwh("gpu"), energy_kwh=it_kwh, pue=float(options.pue),
        facility_energy_kwh=facility_energy_kwh(it_kwh, options.pue), region=basis.region,
        cpu_seconds=float(samples[-1].tree_cpu_s) if samples else 0.0, peak_rss_bytes=int(peak_rss_bytes),
        samples=len(samples), interval_s=options.interval_s, cpu_model=cpu.model_name, cpu_tdp_w=cpu.tdp_w,
        cpu_tdp_source=cpu.source, logical_cpus=cpu.logical_cpus, gpus=tuple(gpu_names),
        sampler_cpu_s=float(sampler_cpu_s), profile=profile, cpu_tdp_basis="rapl" if method == "rapl" else cpu.basis,
        cpu_table_key=cpu.table_key, cpu_rule="rapl" if method == "rapl" else model.cpu_rule, ram_rule=model.ram_rule,
        **emissions,
    )


# ====================================================================== shared set-up
@dataclass
class _Setup:
    options: MeasureOptions
    choice: MethodChoice
    cpu: CpuPower
    model: PowerModel
    intensity: _Intensity
    gpus: Any = None

    @classmethod
    def make(cls, options: MeasureOptions) -> _Setup:
        choice = select_method(options.method, options.rapl_root)
        cpu = cpu_power(override_tdp_w=options.cpu_tdp_w)
        model = PowerModel(cpu.tdp_w, cpu.logical_cpus, options.idle_fraction, options.ram_w_per_gb,
                           cpu_rule=options.cpu_rule, ram_rule=options.ram_rule, machine_cpus=os.cpu_count(),
                           machine_ram_bytes=_machine_ram_bytes(), arm=_is_arm())
        intensity = _Intensity.prepare(options)
        gpus = None
        if options.gpu:
            from greenci.energy.nvml import open_gpus

            gpus = open_gpus(all_gpus=options.all_gpus)
        return cls(options, choice, cpu, model, intensity, gpus)

    def read_rapl(self) -> Callable[[], tuple[int, ...] | None] | None:
        if self.choice.method != "rapl":
            return None
        domains = self.choice.domains

        def read() -> tuple[int, ...] | None:
            try:
                return tuple(read_energy_uj(d) for d in domains)
            except OSError:
                return None

        return read

    def close(self) -> None:
        if self.gpus is not None:
            self.gpus.close()

    def result(self, sampler: Sampler, started_epoch: float, command: Sequence[str],
               exit_code: int | None) -> MeasureResult:
        return build_result(sampler.samples, model=self.model, cpu=self.cpu, choice=self.choice, options=self.options,
                            started_epoch=started_epoch, command=command, exit_code=exit_code,
                            sampler_cpu_s=sampler.sampler_cpu_s, peak_rss_bytes=sampler.peak_rss_bytes,
                            gpu_names=self.gpus.names if self.gpus is not None else (), intensity=self.intensity)


def _machine_ram_bytes() -> int | None:
    """Installed RAM (what codecarbon's machine mode charges), or None where the OS does not say."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _is_arm() -> bool:
    import platform

    return any(a in platform.machine().lower() for a in ("arm", "aarch"))


def _options(options: MeasureOptions | None, overrides: dict[str, Any]) -> MeasureOptions:
    base = options or MeasureOptions()
    return replace(base, **overrides) if overrides else base


# ====================================================================== a command
def run_measured(command: Sequence[str], options: MeasureOptions | None = None, *,
                 sink: RecordSink | None = None, **overrides: Any) -> MeasureResult:
    """Run ``command`` (argv list, no shell), sample its process tree, and return its measured result.

    The child inherits stdin/stdout/stderr; ``result.exit_code`` is its exit status (128 + N when killed
    by signal N). ``overrides`` are :class:`MeasureOptions` fields. ``sink`` receives ``result.records()``.
    """
    argv = [str(a) for a in command]
    if not argv:
        raise InputError("no command to measure: give one after --, e.g. greenci measure -- make test")
    opts = _options(options, overrides)
    setup = _Setup.make(opts)
    try:
        sampler = Sampler(root=0, interval_s=opts.interval_s, backend=opts.backend, reaper=os.getpid(),
                          read_rapl=setup.read_rapl(), read_gpus=setup.gpus.read if setup.gpus else None)
        started = time.time()
        sampler.baseline()
        try:
            proc = subprocess.Popen(argv)
        except FileNotFoundError:
            raise CommandNotFoundError(f"command {argv[0]!r} not found: check its name and PATH") from None
        except PermissionError:
            raise CommandNotExecutableError(f"command {argv[0]!r} cannot be executed (permission denied): "
                                            "check it is an executable file") from None
        except OSError as exc:
            raise CommandNotExecutableError(f"command {argv[0]!r} cannot be executed: {exc.strerror or exc}") from None
        sampler.root = proc.pid
        sampler.start()
        restore = _forward_signals(proc)
        root_cpu_s: float | None = None
        root_maxrss: int | None = None
        try:
            status, root_cpu_s, root_maxrss = _wait(proc)
        except BaseException:
            _kill_and_reap(proc)
            raise
        finally:
            restore()
            sampler.finish(root_cpu_s, root_maxrss)
        exit_code = status if status >= 0 else 128 - status
        result = setup.result(sampler, started, argv, exit_code)
    finally:
        setup.close()
    if sink is not None:
        sink.write(result.records())
    return result


def _wait(proc: subprocess.Popen[Any]) -> tuple[int, float | None, int | None]:
    """Wait for the child: its status, CPU seconds including all it reaped, and peak RSS (wait4)."""
    if hasattr(os, "wait4"):
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        maxrss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)  # kB on Linux, bytes on macOS
        return proc.returncode, usage.ru_utime + usage.ru_stime, int(maxrss)
    return proc.wait(), None, None


def _kill_and_reap(proc: subprocess.Popen[Any]) -> None:
    if proc.returncode is None:
        try:
            proc.kill()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass


_FORWARDED = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, n))


def _terminal_sent(signum: int) -> bool:
    """True when a keyboard signal reached the child already (we share the terminal's foreground group)."""
    if signum not in (getattr(signal, "SIGINT", None), getattr(signal, "SIGQUIT", None)):
        return False
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False


def _forward_signals(proc: subprocess.Popen[Any]) -> Callable[[], None]:
    """Forward termination signals to the child while it runs; returns the function that restores."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # only the main thread may set handlers; the caller handles signals there

    def forward(signum: int, _frame: Any) -> None:
        if proc.returncode is None and not _terminal_sent(signum):
            try:
                os.kill(proc.pid, signum)
            except ProcessLookupError:
                pass

    previous = {}
    for sig in _FORWARDED:
        try:
            previous[sig] = signal.signal(sig, forward)
        except (OSError, ValueError):
            continue

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


# ====================================================================== a block of Python
class Measurement(ContextDecorator):
    """``with measure(...) as m:`` or ``@measure(...)``: measures this process and its children.

    The tree is this process (all its threads, minus the sampler's own) and every child it starts.
    After the block, ``m.result`` holds the :class:`MeasureResult` (the last call's, as a decorator);
    ``on_result`` is called with it and ``sink`` receives its records. An exception in the block is
    measured too and then propagates.
    """

    def __init__(self, options: MeasureOptions, *, label: str = "", sink: RecordSink | None = None,
                 on_result: Callable[[MeasureResult], None] | None = None) -> None:
        self.options = options
        self.label = label
        self.sink = sink
        self.on_result = on_result
        self.result: MeasureResult | None = None
        self._lock = threading.Lock()
        self._setup: _Setup | None = None
        self._sampler: Sampler | None = None
        self._started = 0.0

    def __enter__(self) -> Measurement:
        if not self._lock.acquire(blocking=False):
            raise InputError("this measurement is already running: nest a new measure(...) instead")
        self._setup = None
        try:
            self._setup = _Setup.make(self.options)
            self._sampler = Sampler(root=os.getpid(), interval_s=self.options.interval_s,
                                    backend=self.options.backend, self_thread=True,
                                    read_rapl=self._setup.read_rapl(),
                                    read_gpus=self._setup.gpus.read if self._setup.gpus else None)
            self._started = time.time()
            self._sampler.start()
        except BaseException:
            if self._setup is not None:
                self._setup.close()
            self._lock.release()
            raise
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        assert self._setup is not None and self._sampler is not None
        try:
            self._sampler.finish()
            command = (self.label,) if self.label else ()
            self.result = self._setup.result(self._sampler, self._started, command, None)
        finally:
            self._setup.close()
            self._lock.release()
        if self.sink is not None:
            self.sink.write(self.result.records())
        if self.on_result is not None:
            self.on_result(self.result)
        return False


def measure(options: MeasureOptions | None = None, *, label: str = "", sink: RecordSink | None = None,
            on_result: Callable[[MeasureResult], None] | None = None, **overrides: Any) -> Measurement:
    """Measure a block or a function: ``with greenci.energy.meter(region="DE-LU") as m: ...``.

    ``overrides`` are :class:`MeasureOptions` fields (``interval_s``, ``region``, ``pue``, ...).
    """
    return Measurement(_options(options, overrides), label=label, sink=sink, on_result=on_result)
