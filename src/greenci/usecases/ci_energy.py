"""Energy of a CI job between two of its steps: what ``greenci ci start`` and ``greenci ci report`` call.

A CI job is not one command greenci runs: its steps are started by the runner, one after another. So
``start`` leaves a detached sampler process behind (:func:`start_sampler`) that samples the **whole
machine** every ``interval_s`` until ``report`` stops it (:func:`stop_sampler`); the job owns its runner,
so the machine is what it is charged for (as Eco-CI does). Each sample is one JSON line appended to
``samples.jsonl`` in the state folder, so what was sampled survives the sampler dying.

What a sample holds, as a :class:`~greenci.energy.sampling.Sample`: the machine's busy CPU seconds since
the start (in ``tree_cpu_s``, so the utilisation model sees the machine's utilisation and RAPL attribution
charges the packages in full), the machine's used memory (MemTotal - MemAvailable, in ``rss_bytes``) and
the RAPL package counters when they are readable. The method is chosen once by ``start`` as ``greenci
measure`` chooses it (:func:`~greenci.energy.meter.select_method`); :func:`ci_result` turns the samples
into power, kWh, PUE and emissions with :func:`~greenci.energy.meter.build_result`, the same arithmetic
as ``greenci measure``.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from greenci.energy.cpu_tdp import CpuPower, cpu_power
from greenci.energy.meter import MeasureOptions, MeasureResult, MethodChoice, build_result, select_method
from greenci.energy.power_model import PowerModel
from greenci.energy.rapl import RaplDomain, read_energy_uj
from greenci.energy.records import UsageRecord
from greenci.energy.sampling import Sample, machine_busy_s
from greenci.errors import ConfigError, GreenciError, InputError
from greenci.outputs import append_line, check_folder, write_text

__all__ = ["SAMPLER_MODULE", "STATE_FILE", "CiState", "SamplerStop", "ci_result", "default_state_dir",
           "read_samples", "read_state", "run_sampler", "sampler_alive", "start_sampler", "stop_sampler",
           "usage_records"]

STATE_FILE = "state.json"
SAMPLES_FILE = "samples.jsonl"
STOPPED_FILE = "stopped"
LOG_FILE = "sampler.log"
#: the module run as the detached sampler (``python -m``): its ``__main__`` calls :func:`run_sampler`
SAMPLER_MODULE = "greenci.integrations.ci_energy"
_LABEL = "CI job (greenci ci start .. report)"


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$RUNNER_TEMP/greenci-ci`` on a GitHub runner, else ``./.greenci-ci``."""
    env = os.environ if env is None else env
    runner_temp = env.get("RUNNER_TEMP")
    return Path(runner_temp) / "greenci-ci" if runner_temp else Path(".greenci-ci")


@dataclass(frozen=True)
class CiState:
    """What ``start`` left for ``report``: the sampler, when it started, and how samples become watts."""

    pid: int
    started_epoch: float
    interval_s: float
    method: str
    method_note: str
    rapl_domains: tuple[tuple[str, str, int], ...]  # (path, name, max_energy_range_uj) of each package
    cpu_model: str
    cpu_tdp_w: float
    cpu_tdp_source: str
    logical_cpus: int
    idle_fraction: float
    ram_w_per_gb: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str, where: Path) -> CiState:
        try:
            doc = json.loads(text)
            doc["rapl_domains"] = tuple(tuple(d) for d in doc.get("rapl_domains") or ())
            return cls(**doc)
        except (ValueError, TypeError) as exc:
            raise InputError(f"{where} is not a state file of greenci ci start ({exc}): run greenci ci start "
                             "again (with --restart)", field="state_dir") from None

    @property
    def choice(self) -> MethodChoice:
        domains = tuple(RaplDomain(Path(p), n, int(r)) for p, n, r in self.rapl_domains)
        return MethodChoice("rapl" if self.method == "rapl" else "model", self.method_note, domains)

    @property
    def cpu(self) -> CpuPower:
        return CpuPower(self.cpu_model, self.logical_cpus, self.cpu_tdp_w, self.cpu_tdp_source)

    @property
    def model(self) -> PowerModel:
        return PowerModel(self.cpu_tdp_w, self.logical_cpus, self.idle_fraction, self.ram_w_per_gb)


# ====================================================================== state and process
def read_state(state_dir: Path) -> CiState:
    """The state ``start`` wrote; a clear error naming ``greenci ci start`` when there is none."""
    path = Path(state_dir) / STATE_FILE
    if not path.is_file():
        raise InputError(f"no measurement was started in {state_dir} (no {STATE_FILE}): run `greenci ci start` in "
                         "an earlier step of the job, with the same --state-dir", field="state_dir")
    return CiState.from_json(path.read_text(encoding="utf-8"), path)


def sampler_alive(pid: int) -> bool:
    """True while process ``pid`` runs and is greenci's sampler (a zombie or a reused pid is not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: the pid was reused
        return False
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            stat = (proc / "stat").read_bytes()
            if stat[stat.rfind(b")") + 2:][:1] in (b"Z", b"X"):
                return False
            return SAMPLER_MODULE.encode() in (proc / "cmdline").read_bytes()
        except OSError:
            return False
    return True


def start_sampler(state_dir: Path, options: MeasureOptions | None = None, *, restart: bool = False,
                  python: str = sys.executable, wait_s: float = 10.0) -> CiState:
    """Launch the detached sampler for ``state_dir`` and return the state it runs under.

    ``options`` gives the method (``auto``: RAPL when readable, else the model), ``interval_s`` and the
    model's parameters. A sampler already running there is an error unless ``restart`` (it is stopped and
    its samples dropped). Returns once the sampler took its first sample.
    """
    opts = options or MeasureOptions()
    state_dir = check_folder(Path(state_dir), field="state_dir")
    if (state_dir / STATE_FILE).is_file():
        try:
            old = read_state(state_dir)
        except InputError:
            old = None
        if old is not None and sampler_alive(old.pid):
            if not restart:
                raise InputError(f"a measurement already runs in {state_dir} (sampler pid {old.pid}, started "
                                 f"{_iso(old.started_epoch)}): run `greenci ci report` first, or start again "
                                 "with --restart to drop it", field="state_dir")
            _terminate(old.pid, 5.0)
    if machine_busy_s() is None:
        raise ConfigError("greenci ci start needs the machine's CPU time (/proc/stat on Linux, else psutil: "
                          "pip install 'greenci[measure]')")
    choice = select_method(opts.method, opts.rapl_root)
    cpu = cpu_power(override_tdp_w=opts.cpu_tdp_w)
    PowerModel(cpu.tdp_w, cpu.logical_cpus, opts.idle_fraction, opts.ram_w_per_gb)  # checks the parameters
    state_dir.mkdir(parents=True, exist_ok=True)
    for name in (SAMPLES_FILE, STOPPED_FILE, STATE_FILE):
        (state_dir / name).unlink(missing_ok=True)
    state = CiState(pid=0, started_epoch=time.time(), interval_s=float(opts.interval_s), method=choice.method,
                    method_note=choice.note,
                    rapl_domains=tuple((str(d.path), d.name, d.max_energy_range_uj) for d in choice.domains),
                    cpu_model=cpu.model_name, cpu_tdp_w=float(cpu.tdp_w), cpu_tdp_source=cpu.source,
                    logical_cpus=int(cpu.logical_cpus), idle_fraction=float(opts.idle_fraction),
                    ram_w_per_gb=float(opts.ram_w_per_gb))
    write_text(state_dir / "sampler.json", state.to_json())  # what the sampler reads: it starts before state.json
    with open(state_dir / LOG_FILE, "ab") as log:
        proc = subprocess.Popen([python, "-m", SAMPLER_MODULE, str(state_dir.resolve())], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True, close_fds=True)
    state = replace(state, pid=proc.pid)
    write_text(state_dir / STATE_FILE, state.to_json())
    deadline = time.monotonic() + wait_s
    samples = state_dir / SAMPLES_FILE
    while not (samples.is_file() and samples.read_bytes().count(b"\n") >= 2):  # the header and the first sample
        if proc.poll() is not None or time.monotonic() > deadline:
            why = _log_tail(state_dir)
            _terminate(proc.pid, 1.0)
            (state_dir / STATE_FILE).unlink(missing_ok=True)
            raise ConfigError(f"the sampler of greenci ci start did not take its first sample within {wait_s:g} s "
                              f"({why or 'no output'}); see {state_dir / LOG_FILE}")
        time.sleep(0.02)
    return state


def _log_tail(state_dir: Path) -> str:
    try:
        lines = (state_dir / LOG_FILE).read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def _reap(pid: int) -> None:
    """Collect the sampler's exit status when it is our own child (``start`` ran in this process)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        pass


def _terminate(pid: int, wait_s: float) -> bool:
    """SIGTERM the sampler and wait for it to end; True when it ended."""
    if not sampler_alive(pid):
        _reap(pid)
        return True
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not sampler_alive(pid):
            return True
        time.sleep(0.02)
    return False


@dataclass(frozen=True)
class SamplerStop:
    """How the sampler ended: ``died`` when it was gone before ``report`` asked (its samples are kept)."""

    died: bool
    note: str


def stop_sampler(state_dir: Path, state: CiState, wait_s: float = 10.0) -> SamplerStop:
    """Stop the sampler (SIGTERM, then wait for its last sample); say so when it had died already."""
    stopped = Path(state_dir) / STOPPED_FILE
    if stopped.is_file():
        _reap(state.pid)
        return SamplerStop(False, "stopped by an earlier greenci ci report")
    if not sampler_alive(state.pid):
        _reap(state.pid)
        if stopped.is_file():
            return SamplerStop(False, "stopped")
        why = _log_tail(Path(state_dir))
        return SamplerStop(True, f"the sampler (pid {state.pid}) had died before greenci ci report"
                                 f"{' (' + why + ')' if why else ''}: only what it sampled until then is counted")
    if not _terminate(state.pid, wait_s):
        try:
            os.kill(state.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _reap(state.pid)
        return SamplerStop(False, f"the sampler did not stop within {wait_s:g} s and was killed; its last interval "
                                  "may be missing")
    return SamplerStop(False, "stopped")


# ====================================================================== the sampler process
def _used_memory_bytes() -> int:
    """The machine's used memory, MemTotal - MemAvailable (0 where /proc/meminfo is not there)."""
    try:
        with open("/proc/meminfo", "rb") as fh:
            fields = {line.split(b":")[0]: int(line.split()[1]) for line in fh if line.count(b":") == 1}
        return max(fields[b"MemTotal"] - fields[b"MemAvailable"], 0) * 1024
    except (OSError, KeyError, ValueError, IndexError):
        return 0


def run_sampler(state_dir: Path) -> None:
    """The detached sampler's loop: a sample every ``interval_s`` appended to ``samples.jsonl`` until SIGTERM.

    The first line holds the wall-clock time of ``t_s = 0``. On SIGTERM it takes a last sample, writes the
    ``stopped`` marker and returns.
    """
    state_dir = Path(state_dir)
    state = CiState.from_json((state_dir / "sampler.json").read_text(encoding="utf-8"), state_dir / "sampler.json")
    domains = state.choice.domains if state.method == "rapl" else ()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    out = state_dir / SAMPLES_FILE

    def rapl() -> list[int] | None:
        if not domains:
            return None
        try:
            return [read_energy_uj(d) for d in domains]
        except OSError:
            return None

    t0 = time.monotonic()
    append_line(out, json.dumps({"started_epoch": time.time(), "pid": os.getpid()}))
    busy0 = machine_busy_s()

    def take() -> None:
        busy = machine_busy_s()
        doc = {"t_s": time.monotonic() - t0, "busy_s": None if busy is None or busy0 is None else busy - busy0,
               "machine_busy_s": busy, "mem_bytes": _used_memory_bytes(), "rapl_uj": rapl()}
        append_line(out, json.dumps(doc))

    take()
    k = 1
    while not stop.wait(max(0.0, t0 + k * state.interval_s - time.monotonic())):
        take()
        k = max(k + 1, int((time.monotonic() - t0) / state.interval_s) + 1)
    take()
    write_text(state_dir / STOPPED_FILE, f"{time.time()}\n")


def read_samples(state_dir: Path) -> tuple[float, list[Sample]]:
    """The wall-clock start and the samples the sampler wrote (a last line cut short is left out)."""
    path = Path(state_dir) / SAMPLES_FILE
    started: float | None = None
    samples: list[Sample] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue  # the sampler was killed in the middle of a write
        if "started_epoch" in doc:
            started = float(doc["started_epoch"])
            continue
        busy = doc.get("busy_s")
        if busy is None:
            continue
        rapl = doc.get("rapl_uj")
        samples.append(Sample(t_s=float(doc["t_s"]), tree_cpu_s=float(busy), rss_bytes=int(doc.get("mem_bytes") or 0),
                              machine_busy_s=doc.get("machine_busy_s"),
                              rapl_uj=tuple(int(x) for x in rapl) if rapl is not None else None))
    if started is None or len(samples) < 2:
        raise InputError(f"the sampler left {len(samples)} sample(s) in {path}: nothing to integrate (it needs two); "
                         "run greenci ci start again earlier in the job, and check "
                         f"{Path(state_dir) / LOG_FILE}", field="state_dir")
    return started, samples


def usage_records(state_dir: Path, job_id: str, *, source: str = "greenci-ci") -> list[UsageRecord]:
    """The sampler's CPU seconds as usage records of ``job_id`` (a counter, seconds), for attribution.

    Each sample becomes a ``cpu`` reading in ``s`` with aggregation ``cumulative`` at its wall-clock time,
    so :func:`greenci.energy.attribution.attribute` charges the job its share of the node's metered power.
    What the sampler counts is the **whole machine's** busy time (the job owns its runner): right for a
    dedicated runner; on a node shared by several jobs, give per-job cgroup or process accounting instead,
    or each job would be charged the others' CPU time.
    """
    if not job_id:
        raise InputError("job_id is empty: name the job the usage belongs to", field="job_id")
    started, samples = read_samples(state_dir)
    return [UsageRecord(source=source, resource_id=job_id, metric="cpu", start=started + s.t_s, end=started + s.t_s,
                        value=s.tree_cpu_s, unit="s", aggregation="cumulative") for s in samples]


# ====================================================================== the result
def ci_result(state_dir: Path, options: MeasureOptions | None = None, *,
              intensity_files: Sequence[str | os.PathLike[str]] = ()) -> tuple[CiState, MeasureResult, SamplerStop]:
    """Stop the sampler and integrate what it recorded: power, kWh, PUE x kWh, and gCO2eq.

    ``options`` carries the accounting: ``pue``, and ``intensity_g_per_kwh``, a ``region`` (the synthetic
    model, labelled so) or ``intensity_files`` (with ``region`` when they hold several).
    """
    from greenci.usecases.measure import with_intensity_files

    opts = with_intensity_files(options or MeasureOptions(), intensity_files)
    state = read_state(state_dir)
    stopped = stop_sampler(state_dir, state)
    started, samples = read_samples(state_dir)
    opts = replace(opts, interval_s=state.interval_s)
    result = build_result(samples, model=state.model, cpu=state.cpu, choice=state.choice, options=opts,
                          started_epoch=started, command=(_LABEL,), peak_rss_bytes=max(s.rss_bytes for s in samples))
    if not (result.energy_kwh >= 0 and math.isfinite(result.energy_kwh)):
        raise GreenciError(f"the samples in {state_dir} gave energy {result.energy_kwh}: run greenci ci start again")
    return state, result, stopped


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(float(epoch), UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
