"""Sampling a process tree: CPU seconds, resident memory, and the machine counters beside them.

Why CPU seconds and not CPU percent: a CI job is full of short-lived processes (a compiler started per
file) that live and die between two samples. Every process's own CPU time plus the CPU time of the
children it has *reaped* (``cutime``/``cstime``) is kept by the kernel, so summing both over the live
tree misses nothing that a live ancestor waited for. :class:`TreeCpuCounter` turns successive snapshots
into a cumulative count that survives processes vanishing (see :func:`cpu_delta_s`).

Two ways to snapshot the tree, same result: on Linux, one read of ``/proc/<pid>/stat`` per process
(ppid, times, RSS in one file: about half the cost of psutil, which keeps the sampler under 1 % of
a measured job); elsewhere, psutil. psutil is imported only when used.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from greenci.errors import ConfigError

__all__ = ["ProcTimes", "Sample", "Sampler", "TreeCpuCounter", "cpu_delta_s", "machine_busy_s",
           "snapshot_tree"]

Key = tuple[int, int]  # (pid, start time in clock ticks): a pid reused later is another process


@dataclass(frozen=True)
class ProcTimes:
    """One process at one instant: own CPU seconds, CPU seconds of its reaped children, parent, RSS."""

    own_s: float
    reaped_s: float
    ppid: int
    rss_bytes: int = 0


@dataclass(frozen=True)
class GpuReading:
    """One GPU at one instant (see :mod:`greenci.energy.nvml`)."""

    index: int
    name: str
    power_w: float
    energy_j: float | None
    used: bool


@dataclass(frozen=True)
class Sample:
    """Counters at one instant ``t_s`` (seconds since the measurement started, monotonic clock).

    ``tree_cpu_s`` is cumulative CPU seconds of the measured tree since the start; ``machine_busy_s``
    the cumulative busy CPU seconds of the whole machine (all cores) since boot; ``rapl_uj`` the raw
    package counters (None when RAPL is not used).
    """

    t_s: float
    tree_cpu_s: float
    rss_bytes: int
    machine_busy_s: float | None = None
    rapl_uj: tuple[int, ...] | None = None
    gpus: tuple[GpuReading, ...] = ()
    n_procs: int = 0


# ====================================================================== snapshots
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _proc_table() -> dict[int, tuple[int, int, ProcTimes]]:
    """pid -> (ppid, start ticks, times) for every process, from /proc/<pid>/stat (Linux)."""
    out: dict[int, tuple[int, int, ProcTimes]] = {}
    for entry in os.scandir("/proc"):
        name = entry.name
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                raw = fh.read()
        except OSError:  # gone between listing and reading
            continue
        close = raw.rfind(b")")
        parts = raw[close + 2:].split()
        try:
            ppid = int(parts[1])
            own = (int(parts[11]) + int(parts[12])) / _CLK_TCK
            reaped = (int(parts[13]) + int(parts[14])) / _CLK_TCK
            start = int(parts[19])
            rss = int(parts[21]) * _PAGE
        except (IndexError, ValueError):
            continue
        out[int(name)] = (ppid, start, ProcTimes(own, reaped, ppid, max(rss, 0)))
    return out


def _tree_from_table(root: int, table: dict[int, tuple[int, int, ProcTimes]]) -> dict[Key, ProcTimes]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _start, _t) in table.items():
        children.setdefault(ppid, []).append(pid)
    out: dict[Key, ProcTimes] = {}
    stack = [root] if root in table else []
    while stack:
        pid = stack.pop()
        _ppid, start, times = table[pid]
        out[(pid, start)] = times
        stack.extend(c for c in children.get(pid, ()) if c != pid)
    return out


def _psutil_tree(root: int) -> dict[Key, ProcTimes]:
    psutil = _psutil()
    out: dict[Key, ProcTimes] = {}
    try:
        top = psutil.Process(root)
        procs = [top, *top.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return out
    for p in procs:
        try:
            with p.oneshot():
                ct = p.cpu_times()
                rss = p.memory_info().rss
                ppid = p.ppid()
                start = int(p.create_time() * 1000)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
        out[(p.pid, start)] = ProcTimes(ct.user + ct.system, ct.children_user + ct.children_system, ppid,
                                        int(rss))
    return out


def snapshot_tree(root: int, backend: str = "auto") -> dict[Key, ProcTimes]:
    """The live process tree under ``root`` (root included): key -> times.

    ``backend``: ``"proc"`` (Linux /proc), ``"psutil"``, or ``"auto"`` (proc on Linux, else psutil).
    """
    if backend == "auto":
        backend = "proc" if sys.platform.startswith("linux") and os.path.isdir("/proc/self") else "psutil"
    if backend == "proc":
        return _tree_from_table(root, _proc_table())
    if backend == "psutil":
        return _psutil_tree(root)
    raise ValueError(f"unknown backend {backend!r}")


def _psutil() -> Any:
    try:
        import psutil
    except ImportError:
        raise ConfigError("measuring needs psutil on this platform: pip install 'greenci[measure]'") from None
    return psutil


def machine_busy_s() -> float | None:
    """Busy CPU seconds of the whole machine since boot (user+nice+system+irq+softirq, all cores).

    Steal (time the hypervisor gave to others) and idle/iowait are not busy time of this machine.
    """
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/stat", "rb") as fh:
                first = fh.readline().split()
            user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in first[1:8])
            return (user + nice + system + irq + softirq) / _CLK_TCK
        except (OSError, ValueError, IndexError):
            return None
    try:
        t = _psutil().cpu_times()
    except ConfigError:
        return None
    return float(t.user + getattr(t, "nice", 0.0) + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0))


# ====================================================================== cumulative tree CPU
def cpu_delta_s(prev: dict[Key, ProcTimes], curr: dict[Key, ProcTimes]) -> float:
    """CPU seconds the tree used between two snapshots, counting processes that appeared or vanished.

    * a process in both: growth of its own time plus growth of its reaped children's time;
    * a new process: all its time (it started after the previous snapshot);
    * a vanished process reaped by a live ancestor: its time reappears in that ancestor's reaped
      time, so what was already counted for it is taken back, at most the ancestor's growth;
    * a vanished process nobody in the tree reaped (re-parented to init): its time so far stays
      counted; only its last moments are lost.
    """
    delta = 0.0
    for k, c in curr.items():
        p = prev.get(k)
        delta += (c.own_s - p.own_s) + (c.reaped_s - p.reaped_s) if p is not None else c.own_s + c.reaped_s
    pid_prev = {k[0]: k for k in prev}
    pid_curr = {k[0]: k for k in curr}
    absorbed: dict[Key, float] = {}
    for k, p in prev.items():
        if k in curr:
            continue
        parent, hops = p.ppid, 0
        anc: Key | None = None
        while hops < 64:
            hops += 1
            if parent in pid_curr and pid_curr[parent] in prev:
                anc = pid_curr[parent]
                break
            pk = pid_prev.get(parent)
            if pk is None or pk in curr:
                break
            parent = prev[pk].ppid
        if anc is not None:
            absorbed[anc] = absorbed.get(anc, 0.0) + p.own_s + p.reaped_s
    for anc, amount in absorbed.items():
        growth = curr[anc].reaped_s - prev[anc].reaped_s
        delta -= min(amount, max(growth, 0.0))
    return max(delta, 0.0)


class TreeCpuCounter:
    """Cumulative CPU seconds of a tree from its first snapshot on (see :func:`cpu_delta_s`)."""

    def __init__(self, first: dict[Key, ProcTimes]) -> None:
        self._prev = dict(first)
        self.total_s = 0.0

    def update(self, snap: dict[Key, ProcTimes]) -> float:
        self.total_s += cpu_delta_s(self._prev, snap)
        self._prev = dict(snap)
        return self.total_s


# ====================================================================== the sampling thread
@dataclass
class Sampler:
    """Samples a process tree every ``interval_s`` on a background thread.

    ``root`` is the tree's root pid. ``reaper`` (command mode) is the pid of the process that will
    reap the root: it enters each snapshot as a pseudo-process whose reaped time is 0 until
    :meth:`finish` is given the root's final rusage, so the root's last moments are counted too.
    ``self_thread`` (in-process mode) subtracts the sampler thread's own CPU from the tree, because the
    thread lives in the measured process. ``read_extra`` returns RAPL counters, and ``read_gpus`` GPU
    readings for the tree's pids; both are called on the sampler thread.
    """

    root: int
    interval_s: float = 1.0
    backend: str = "auto"
    reaper: int | None = None
    self_thread: bool = False
    read_rapl: Callable[[], tuple[int, ...] | None] | None = None
    read_gpus: Callable[[set[int]], tuple[GpuReading, ...]] | None = None
    samples: list[Sample] = field(default_factory=list)
    sampler_cpu_s: float = 0.0
    peak_rss_bytes: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()
        self._counter: TreeCpuCounter | None = None
        self._last_rss = 0
        self._thread_cpu_s = 0.0
        self._error: BaseException | None = None

    # -------------------------------------------------------------- snapshots
    def _snap(self, reaped_by_reaper: float = 0.0) -> dict[Key, ProcTimes]:
        snap = snapshot_tree(self.root, self.backend)
        if self.reaper is not None:
            snap[(self.reaper, -1)] = ProcTimes(0.0, reaped_by_reaper, -1, 0)
        return snap

    def _take(self, snap: dict[Key, ProcTimes], *, keep_rss: bool = False) -> Sample:
        assert self._counter is not None
        cum = self._counter.update(snap)
        if self.self_thread:
            cum = max(cum - self._thread_cpu_s, 0.0)
        members = {k: v for k, v in snap.items() if k[1] != -1}
        rss = self._last_rss if keep_rss else sum(v.rss_bytes for v in members.values())
        self._last_rss = rss
        self.peak_rss_bytes = max(self.peak_rss_bytes, rss)
        gpus = self.read_gpus({k[0] for k in members}) if self.read_gpus else ()
        sample = Sample(t_s=time.monotonic() - self._t0, tree_cpu_s=cum, rss_bytes=rss,
                        machine_busy_s=machine_busy_s(), rapl_uj=self.read_rapl() if self.read_rapl else None,
                        gpus=gpus, n_procs=len(members))
        self.samples.append(sample)
        return sample

    def baseline(self) -> None:
        """The first sample (t = 0): machine counters before the work starts; the tree counts from here."""
        self._t0 = time.monotonic()
        snap = self._snap() if self.reaper is None else {}
        self._counter = TreeCpuCounter(snap)
        busy = machine_busy_s()
        rapl = self.read_rapl() if self.read_rapl else None
        gpus = self.read_gpus(set()) if self.read_gpus else ()
        self.samples.append(Sample(0.0, 0.0, 0, busy, rapl, gpus, 0))

    # -------------------------------------------------------------- thread
    def start(self) -> None:
        if self._counter is None:
            self.baseline()
        self._thread = threading.Thread(target=self._run, name="greenci-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        k = 1
        try:
            while True:
                deadline = self._t0 + k * self.interval_s
                if self._stop.wait(max(0.0, deadline - time.monotonic())):
                    break
                self._take(self._snap())
                self._thread_cpu_s = time.thread_time()
                k = max(k + 1, int((time.monotonic() - self._t0) / self.interval_s) + 1)
        except BaseException as exc:  # reported by finish(): a dead sampler must not hang the command
            self._error = exc
        finally:
            self._thread_cpu_s = time.thread_time()
            self.sampler_cpu_s = self._thread_cpu_s

    def finish(self, root_rusage_s: float | None = None, root_maxrss_bytes: int | None = None) -> list[Sample]:
        """Stop the thread and take the last sample.

        ``root_rusage_s`` is the reaped root's CPU seconds (its reaped descendants included) and
        ``root_maxrss_bytes`` its peak resident memory: a command that ended before the first sample
        still gets its memory counted.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        if self._counter is None:
            self.baseline()
        t0 = time.thread_time()
        if self.reaper is not None:
            if self._last_rss == 0 and root_maxrss_bytes:
                self._last_rss = int(root_maxrss_bytes)
            snap = self._snap(root_rusage_s or 0.0)
            self._take(snap, keep_rss=True)
        else:
            self._take(self._snap())
        self.sampler_cpu_s += time.thread_time() - t0
        return self.samples
