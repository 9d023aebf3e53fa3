"""Parameter sweeps: every (region set, seed) x strategy x buffer, on Dask or serially.

A sweep is many independent replays. The unit of work is one (region set, seed): a task selects the
region set from the grid, takes the trace (the one given, or the synthetic study trace regenerated with
that seed) and runs every strategy and buffer through **one** :func:`~greenci.simulation.simulate` call,
so the forecast surface of that region set is built once per task and round-robin of the same region
set and seed is always the baseline of the reductions (it is run even when not asked for).

On Dask the grid and the jobs are scattered once to every worker and each task reads them from there.
Dask is optional (``pip install 'greenci[sweep]'``); this module imports it only when a sweep runs on
it. :func:`sweep_local` runs the very same tasks in this process, in order, without Dask.

Seeds: with ``jobs=None`` each seed regenerates the trace through ``trace_factory(seed)`` (by default
:class:`StudyTrace`, the seeded study generator: **synthetic** runs); with a given trace seeds only
label repeats of the same replay.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from greenci.errors import ConfigError, InputError
from greenci.grid import IntensityGrid
from greenci.jobs import JobTable
from greenci.scheduling.strategies import STRATEGIES as REGISTRY
from greenci.scheduling.strategies import Strategy, make_strategy
from greenci.simulation import simulate
from greenci.tracegen import STUDY_DAYS, STUDY_RUNS, STUDY_START, generate_study_trace

__all__ = ["STRATEGIES", "StudyTrace", "SweepRow", "sweep", "sweep_local"]

#: strategy names a sweep understands; the last three take every buffer of ``buffers_h``. A sweep has no
#: runner pools, and without capacity the exact capacity oracle is ``oracle`` at the cost of a MILP: left out
STRATEGIES: tuple[str, ...] = tuple(name for name in REGISTRY if name != "oracle-capacity")
_BUFFERED = frozenset(name for name in STRATEGIES if REGISTRY[name].buffer != "none")
_INSTALL_HINT = "pip install 'greenci[sweep]'"

Progress = Callable[[int, int], None]
TraceFactory = Callable[[int], JobTable]


@dataclass(frozen=True)
class SweepRow:
    """One strategy at one buffer on one (region set, seed); the reduction is vs round-robin of the same
    region set and seed. ``buffer_h`` is 0 for round-robin and location, which do not wait."""

    region_set: str
    seed: int
    strategy: str
    buffer_h: float
    emissions_g: float
    reduction_vs_round_robin: float
    deadline_misses: int
    wait_p95_s: float


@dataclass(frozen=True)
class StudyTrace:
    """The synthetic study trace regenerated with each seed; a class (not a lambda) so Dask can pickle it."""

    runs: int = STUDY_RUNS
    days: float = STUDY_DAYS
    start: str = STUDY_START

    def __call__(self, seed: int) -> JobTable:
        return generate_study_trace(start=self.start, days=self.days, runs=self.runs, seed=seed)


@dataclass(frozen=True)
class _Task:
    """What one worker runs: a region set and a seed, with the (validated) sweep settings."""

    region_set: str
    regions: tuple[str, ...]
    seed: int
    strategies: tuple[str, ...]
    buffers_h: tuple[float, ...]
    forecast: str
    trace_factory: TraceFactory | None


# ------------------------------------------------------------------------------------------ public API
def sweep(jobs: JobTable | None, grid: IntensityGrid, *, strategies: list[str], buffers_h: list[float],
          region_sets: dict[str, list[str]], seeds: list[int], forecast: str, scheduler: str | None = None,
          progress: Progress | None = None, trace_factory: TraceFactory | None = None,
          connect_timeout_s: float = 10.0, waiting: Callable[[str], None] | None = None) -> list[SweepRow]:
    """Run every combination on Dask and return the rows in a fixed order (region set, seed, strategy,
    buffer, each in the order given), whatever order the tasks finish in.

    ``scheduler``: None starts a local cluster of 2 single-threaded worker processes for this call;
    ``"serial"`` runs :func:`sweep_local`; any other value is the address of a running scheduler
    (``tcp://host:8786``) whose workers have greenci installed. ``progress(done, total)`` is called as
    tasks finish. A script that starts the local cluster must guard its entry point with
    ``if __name__ == "__main__":`` (worker processes are spawned). ``trace_factory`` must be picklable.
    A remote scheduler that does not answer within ``connect_timeout_s`` is an error; ``waiting(what)``
    is told before the wait, so that a log says what greenci waits for.
    """
    tasks = _tasks(jobs, grid, strategies=strategies, buffers_h=buffers_h, region_sets=region_sets, seeds=seeds,
                   forecast=forecast, trace_factory=trace_factory)
    if scheduler == "serial":
        return _run_serial(tasks, jobs, grid, progress)
    client_cls, cluster_cls, as_completed = _dask()
    cluster = None
    if scheduler is None:
        # ":0": the scheduler's HTTP server takes a free port, so a second cluster does not fight for 8787
        cluster = cluster_cls(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                              silence_logs=logging.ERROR)
    if cluster is None and waiting is not None:
        waiting(f"the Dask scheduler at {scheduler} (up to {connect_timeout_s:g} s)")
    try:
        client = client_cls(cluster if cluster is not None else scheduler, timeout=connect_timeout_s)
    except (OSError, TimeoutError, ValueError) as exc:
        if cluster is not None:
            cluster.close()
        raise ConfigError(f"cannot reach Dask at {scheduler!r} within {connect_timeout_s:g} s ({exc}): check that "
                          "Dask runs there and the address is right (e.g. tcp://host:8786), or run without Dask with "
                          "scheduler 'serial'", field="scheduler") from exc
    try:
        grid_f = client.scatter(grid, broadcast=True)
        jobs_f = client.scatter(jobs, broadcast=True) if jobs is not None else None
        futures = [client.submit(_run_task, t, grid_f, jobs_f, pure=False) for t in tasks]
        for done, _ in enumerate(as_completed(futures), start=1):
            if progress is not None:
                progress(done, len(futures))
        results = client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return [row for rows in results for row in rows]


def sweep_local(jobs: JobTable | None, grid: IntensityGrid, *, strategies: list[str], buffers_h: list[float],
                region_sets: dict[str, list[str]], seeds: list[int], forecast: str, progress: Progress | None = None,
                trace_factory: TraceFactory | None = None) -> list[SweepRow]:
    """The same tasks as :func:`sweep`, one after another in this process: no Dask needed, same rows."""
    tasks = _tasks(jobs, grid, strategies=strategies, buffers_h=buffers_h, region_sets=region_sets, seeds=seeds,
                   forecast=forecast, trace_factory=trace_factory)
    return _run_serial(tasks, jobs, grid, progress)


# ------------------------------------------------------------------------------------------ internals
def _dask() -> tuple[type, type, Callable]:
    """Dask's Client, LocalCluster and as_completed, or a ConfigError saying how to install them."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise ConfigError(f"sweeping on Dask needs dask.distributed, which is not installed: {_INSTALL_HINT} "
                          "(or pass scheduler='serial' to run the sweep in this process)") from exc
    return Client, LocalCluster, as_completed


def _run_serial(tasks: Sequence[_Task], jobs: JobTable | None, grid: IntensityGrid,
                progress: Progress | None) -> list[SweepRow]:
    rows: list[SweepRow] = []
    for done, task in enumerate(tasks, start=1):
        rows += _run_task(task, grid, jobs)
        if progress is not None:
            progress(done, len(tasks))
    return rows


def _tasks(jobs: JobTable | None, grid: IntensityGrid, *, strategies: Sequence[str], buffers_h: Sequence[float],
           region_sets: dict[str, list[str]], seeds: Sequence[int], forecast: str,
           trace_factory: TraceFactory | None) -> list[_Task]:
    """Validate everything before any work starts (a cluster is slow to start and to fail), then list tasks."""
    from greenci.forecast import FORECASTERS

    names = list(strategies)
    if not names:
        raise InputError(f"no strategy given: choose from {', '.join(STRATEGIES)}")
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown:
        raise InputError(f"strategy name(s) {', '.join(repr(s) for s in unknown)} unknown: choose from "
                         f"{', '.join(STRATEGIES)} (lts, oracle and greenci take every buffer of buffers_h, "
                         "so write 'lts' with buffers_h=[6] rather than 'lts-6')")
    if len(set(names)) != len(names):
        raise InputError(f"strategy names repeat: {', '.join(names)}: list each once")
    buffers = tuple(float(b) for b in buffers_h)
    bad = [b for b in buffers if not (math.isfinite(b) and b >= 0)]
    if bad:
        raise InputError(f"buffer(s) {', '.join(f'{b:g}' for b in bad)} h must be finite and >= 0")
    if len(set(buffers)) != len(buffers):
        raise InputError(f"buffers_h repeats a value: {', '.join(f'{b:g}' for b in buffers)}: list each once")
    if _BUFFERED & set(names) and not buffers:
        raise InputError("lts, oracle and greenci need at least one buffer: pass buffers_h, e.g. [1, 3, 6]")
    if not region_sets:
        raise InputError("no region set given: pass region_sets, e.g. {'all': list(grid.regions)}")
    known = set(grid.regions)
    for label, regions in region_sets.items():
        if not regions:
            raise InputError(f"region set {label!r} is empty: list at least one region of the grid")
        missing = [r for r in regions if r not in known]
        if missing:
            raise InputError(f"region set {label!r}: region(s) {', '.join(missing)} are not in the grid; "
                             f"choose from {', '.join(grid.regions)}")
        if len(set(regions)) != len(regions):
            raise InputError(f"region set {label!r} repeats a region: {', '.join(regions)}")
    seed_list = [int(s) for s in seeds]
    if not seed_list:
        raise InputError("no seed given: pass seeds, e.g. [0] (with a given trace seeds only label repeats)")
    if len(set(seed_list)) != len(seed_list):
        raise InputError(f"seeds repeat: {', '.join(map(str, seed_list))}: list each once")
    if forecast != "perfect" and forecast not in FORECASTERS:
        raise InputError(f"forecast {forecast!r} is unknown: choose from perfect, {', '.join(FORECASTERS)}")
    if jobs is not None and trace_factory is not None:
        raise InputError("give either jobs (seeds label repeats) or trace_factory (a trace per seed), not both")
    if jobs is not None and len(jobs) == 0:
        raise InputError("the trace has no jobs: check the trace file and its span")
    factory = None if jobs is not None else (trace_factory or StudyTrace())
    return [_Task(label, tuple(regions), seed, tuple(names), buffers, forecast, factory)
            for label, regions in region_sets.items() for seed in seed_list]


def _strategies(task: _Task) -> list[Strategy]:
    """Strategy objects with unique names (buffer 0 of lts / oracle keeps its own name); round-robin first."""
    out: list[Strategy] = [make_strategy("round-robin")]
    for name in task.strategies:
        if name in _BUFFERED:
            out += [make_strategy(f"{name}-{b:g}") for b in task.buffers_h]
        elif name != "round-robin":
            out.append(make_strategy(name))
    return out


def _run_task(task: _Task, grid: IntensityGrid, jobs: JobTable | None) -> list[SweepRow]:
    """One (region set, seed): one simulate call over all strategies and buffers, as rows."""
    trace = jobs if jobs is not None else task.trace_factory(task.seed)  # type: ignore[misc]
    sub = grid.select(list(task.regions))
    result = simulate(trace, sub, _strategies(task), forecast=task.forecast)
    rows = []
    for name in task.strategies:
        buffers = task.buffers_h if name in _BUFFERED else (0.0,)
        for b in buffers:
            key = name if name in ("round-robin", "location") else f"{name}-{b:g}"
            r = result.by_name(key)
            rows.append(SweepRow(region_set=task.region_set, seed=task.seed, strategy=name, buffer_h=b,
                                 emissions_g=r.emissions_g, reduction_vs_round_robin=r.reduction_vs_round_robin,
                                 deadline_misses=r.deadline_misses, wait_p95_s=r.wait_p95_s))
    return rows
