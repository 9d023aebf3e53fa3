"""From counters to watts: the utilisation power model, RAPL attribution, and usage-to-energy.

Every interval between two samples gets one average power per component (the counters are
cumulative, so an interval's energy is exact for what they count; power is constant within it).

**CPU, utilisation model** (no readable RAPL). Linear between idle and TDP, as Cloud Carbon Footprint
does with its min/max watts::

    u      = tree CPU seconds / (interval x logical CPUs)            clipped to [0, 1]
    cpu_w  = tdp_w x (idle_fraction + (1 - idle_fraction) x u)      idle_fraction = 0.12

The idle share (12 % of TDP) lies within the idle-to-max ratios of SPECpower results for current
servers (about 0.1-0.3; CCF's AWS coefficients 0.74/3.5 W per vCPU give 0.21). The measured job is
charged the machine's idle power: a CI job holds its runner, and RAPL attribution below does the same.

**CPU, RAPL.** RAPL measures whole packages, not processes. Each interval's package energy is
attributed to the tree by its share of the machine's busy CPU time in that interval (``tree CPU
seconds / machine busy CPU seconds``, clipped to [0, 1]); the convention of Scaphandre and Kepler.

**RAM.** 0.375 W per GB of the tree's resident memory (mean of the interval's two samples): the
"3 W per 8 GB" figure used by codecarbon (from Micron's DDR power guidance); Cloud Carbon Footprint
uses a close 0.392 W/GB. Shared pages are counted once per process, so RSS can overstate.

**Other rules** (``cpu_rule`` / ``ram_rule``), so a run can be accounted as codecarbon 3.x accounts it:

* ``cpu_rule="codecarbon-process"``: ``tdp_w x u``, no idle share, ``u`` over the machine's logical CPUs
  (codecarbon's ``tracking_mode="process"``, ``psutil.cpu_count()``);
* ``cpu_rule="codecarbon-machine"``: ``tdp_w x (0.1 + 0.9 x L^3)`` with ``L`` the whole machine's busy
  share, whoever runs (codecarbon's default ``tracking_mode="machine"``);
* ``ram_rule="codecarbon-process"`` / ``"codecarbon-machine"``: codecarbon's DIMM model
  (:func:`codecarbon_ram_w`) on the tree's resident memory / on the machine's installed RAM: a DIMM
  count guessed from the size, 5 W per DIMM (x86; 1.5 W on ARM) with less per DIMM past 4, and at least
  10 W (3 W on ARM), so any process below 16 GiB is charged 10 W.

**GPU (NVML).** A GPU running one of the tree's processes at either end of an interval is charged in
full for it: its energy counter difference (Volta and later), else the mean of its two power readings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from greenci.energy.rapl import counter_delta_uj
from greenci.energy.records import EnergyRecord, UsageRecord
from greenci.energy.sampling import Sample
from greenci.errors import InputError

__all__ = ["CPU_RULES", "IDLE_FRACTION", "RAM_RULES", "RAM_W_PER_GB", "PowerModel", "PowerProfile",
           "codecarbon_ram_w", "cpu_energy_from_usage", "profile_from_samples", "ram_energy_from_usage"]

IDLE_FRACTION = 0.12
RAM_W_PER_GB = 0.375
_GB = 1e9
_GIB = 1024.0 ** 3
#: CPU load rules: greenci's linear model with an idle share, and codecarbon's two tracking modes
CPU_RULES = ("linear", "codecarbon-process", "codecarbon-machine")
#: RAM rules: greenci's W per GB of resident memory, and codecarbon's DIMM model on the tree or the machine
RAM_RULES = ("per-gb", "codecarbon-process", "codecarbon-machine")


@dataclass(frozen=True)
class PowerModel:
    """Parameters of the utilisation model for one machine (see module doc)."""

    cpu_tdp_w: float
    logical_cpus: int
    idle_fraction: float = IDLE_FRACTION
    ram_w_per_gb: float = RAM_W_PER_GB
    cpu_rule: str = "linear"
    ram_rule: str = "per-gb"
    machine_cpus: int | None = None
    machine_ram_bytes: int | None = None
    arm: bool = False

    def __post_init__(self) -> None:
        if self.cpu_rule not in CPU_RULES:
            raise InputError(f"cpu_rule {self.cpu_rule!r} is unknown: use {', '.join(CPU_RULES)}", field="cpu_rule")
        if self.ram_rule not in RAM_RULES:
            raise InputError(f"ram_rule {self.ram_rule!r} is unknown: use {', '.join(RAM_RULES)}", field="ram_rule")
        if self.machine_cpus is not None and int(self.machine_cpus) <= 0:
            raise InputError(f"machine_cpus {self.machine_cpus} must be positive", field="machine_cpus")
        if self.ram_rule == "codecarbon-machine" and not (self.machine_ram_bytes or 0) > 0:
            raise InputError("ram_rule codecarbon-machine needs the machine's installed RAM (machine_ram_bytes > 0): "
                             "use ram_rule per-gb or codecarbon-process", field="ram_rule")
        if not (self.cpu_tdp_w > 0 and math.isfinite(self.cpu_tdp_w)):
            raise InputError(f"cpu_tdp_w {self.cpu_tdp_w} must be a positive number of watts")
        if int(self.logical_cpus) <= 0:
            raise InputError(f"logical_cpus {self.logical_cpus} must be positive")
        if not 0 <= self.idle_fraction <= 1:
            raise InputError(f"idle_fraction {self.idle_fraction} must be within 0..1 (share of TDP drawn idle)")
        if not (self.ram_w_per_gb >= 0 and math.isfinite(self.ram_w_per_gb)):
            raise InputError(f"ram_w_per_gb {self.ram_w_per_gb} must be a number >= 0")

    def cpu_power_w(self, utilisation: np.ndarray | float) -> np.ndarray:
        """CPU power at utilisation ``u`` in [0, 1] (clipped), linear from idle to TDP."""
        u = np.clip(np.asarray(utilisation, dtype=np.float64), 0.0, 1.0)
        return self.cpu_tdp_w * (self.idle_fraction + (1.0 - self.idle_fraction) * u)

    def ram_power_w(self, rss_bytes: np.ndarray | float) -> np.ndarray:
        """RAM power of ``rss_bytes`` resident bytes, by ``ram_rule``."""
        rss = np.asarray(rss_bytes, dtype=np.float64)
        if self.ram_rule == "codecarbon-process":
            return codecarbon_ram_w(rss / _GIB, arm=self.arm)
        if self.ram_rule == "codecarbon-machine":
            return np.broadcast_to(codecarbon_ram_w(float(self.machine_ram_bytes or 0) / _GIB, arm=self.arm),
                                   rss.shape).astype(np.float64)
        return self.ram_w_per_gb * rss / _GB

    @property
    def cpu_count_for_rule(self) -> int:
        """The CPUs a utilisation is a share of: the visible ones (greenci), the machine's (codecarbon)."""
        if self.cpu_rule == "linear" or self.machine_cpus is None:
            return int(self.logical_cpus)
        return int(self.machine_cpus)

    def cpu_power_by_rule_w(self, tree_share: np.ndarray, machine_share: np.ndarray | None) -> np.ndarray:
        """CPU power by ``cpu_rule`` from the tree's and the machine's busy shares (each clipped to 0..1)."""
        if self.cpu_rule == "linear":
            return self.cpu_power_w(tree_share)
        if self.cpu_rule == "codecarbon-process":
            return self.cpu_tdp_w * np.clip(np.asarray(tree_share, dtype=np.float64), 0.0, 1.0)
        if machine_share is None:
            raise InputError("cpu_rule codecarbon-machine needs the machine's busy CPU time in every sample "
                             "(/proc/stat or psutil): use cpu_rule linear or codecarbon-process", field="cpu_rule")
        load = np.clip(np.asarray(machine_share, dtype=np.float64), 0.0, 1.0)
        return self.cpu_tdp_w * (0.1 + 0.9 * load ** 3)


def codecarbon_ram_w(size_gib: np.ndarray | float, *, arm: bool = False) -> np.ndarray:
    """codecarbon 3.x's RAM power for ``size_gib`` GiB (``RAM._calculate_ram_power``), vectorised.

    DIMMs guessed from the size: 1 up to 2 GiB, 2 up to 16, 4 up to 64, 8 up to 128, and past that the
    size over the largest power-of-two DIMM (16..128 GiB) not above a 1/8 share, at most 32. 5 W per
    DIMM on x86 (1.5 W on ARM) for the first 4, then 90 %, 80 % (past 8) and 70 % (past 16); at least
    two DIMMs' worth on x86 (10 W) and 3 W on ARM.
    """
    gb = np.asarray(size_gib, dtype=np.float64)
    dimm_gb = np.clip(2.0 ** np.floor(np.log2(np.maximum(gb, 1.0) / 8.0)), 16.0, 128.0)
    large = np.minimum(np.ceil(gb / dimm_gb), 32.0)
    count = np.select([gb <= 2, gb <= 16, gb <= 64, gb <= 128], [1.0, 2.0, 4.0, 8.0], large)
    per, floor_w = (1.5, 3.0) if arm else (5.0, 10.0)
    watts = per * (np.minimum(count, 4) + 0.9 * np.clip(count - 4, 0, 4) + 0.8 * np.clip(count - 8, 0, 8)
                   + 0.7 * np.maximum(count - 16, 0))
    return np.maximum(watts, floor_w)


@dataclass(frozen=True, eq=False)
class PowerProfile:
    """Average power per component on each interval ``[t_s[i], t_s[i+1])`` (seconds from the start).

    ``share`` is the CPU utilisation (model) or the attribution share of package energy (RAPL).
    """

    t_s: np.ndarray
    cpu_w: np.ndarray
    ram_w: np.ndarray
    gpu_w: np.ndarray
    share: np.ndarray

    @property
    def dt_s(self) -> np.ndarray:
        return np.diff(self.t_s)

    @property
    def total_w(self) -> np.ndarray:
        return self.cpu_w + self.ram_w + self.gpu_w

    def energy_kwh(self, component: str = "total") -> float:
        """Energy of one component (``cpu``, ``ram``, ``gpu``) or ``total`` over the profile, in kWh."""
        power = {"cpu": self.cpu_w, "ram": self.ram_w, "gpu": self.gpu_w, "total": self.total_w}.get(component)
        if power is None:
            raise InputError(f"component {component!r} is unknown: use cpu, ram, gpu or total")
        return float(np.sum(power * self.dt_s) / 3.6e6)


def profile_from_samples(samples: Sequence[Sample], model: PowerModel, *, method: str = "model",
                         rapl_ranges_uj: Sequence[int] | None = None) -> PowerProfile:
    """The power profile of recorded samples, by the utilisation model or RAPL attribution.

    Intervals of zero length (two samples at one instant) are dropped. ``method="rapl"`` needs every
    sample's ``rapl_uj`` and ``machine_busy_s`` and ``rapl_ranges_uj`` (one range per counter).
    """
    if method not in ("model", "rapl"):
        raise InputError(f"method {method!r} is unknown: use 'model' or 'rapl'")
    keep = [samples[0]] if samples else []
    for s in samples[1:]:
        if s.t_s > keep[-1].t_s:
            keep.append(s)
    if len(keep) < 2:
        empty = np.zeros(0)
        return PowerProfile(np.array([s.t_s for s in keep], dtype=np.float64), empty, empty, empty, empty)
    t = np.array([s.t_s for s in keep], dtype=np.float64)
    dt = np.diff(t)
    cpu = np.diff(np.array([s.tree_cpu_s for s in keep], dtype=np.float64)).clip(min=0.0)
    rss = np.array([s.rss_bytes for s in keep], dtype=np.float64)
    ram_w = model.ram_power_w((rss[1:] + rss[:-1]) / 2.0)
    if method == "model":
        share = (cpu / (dt * model.cpu_count_for_rule)).clip(0.0, 1.0)
        machine = None
        if model.cpu_rule == "codecarbon-machine" and all(s.machine_busy_s is not None for s in keep):
            busy = np.diff(np.array([s.machine_busy_s for s in keep], dtype=np.float64))
            machine = (busy / (dt * model.cpu_count_for_rule)).clip(0.0, 1.0)
            share = machine
        cpu_w = model.cpu_power_by_rule_w(share, machine)
    else:
        cpu_w, share = _rapl_cpu_w(keep, cpu, dt, rapl_ranges_uj)
    gpu_w = _gpu_w(keep, dt)
    return PowerProfile(t, cpu_w, ram_w, gpu_w, share)


def _rapl_cpu_w(samples: Sequence[Sample], tree_cpu: np.ndarray, dt: np.ndarray,
                ranges: Sequence[int] | None) -> tuple[np.ndarray, np.ndarray]:
    if ranges is None or any(s.rapl_uj is None or s.machine_busy_s is None for s in samples):
        raise InputError("RAPL attribution needs every sample's package counters and machine busy time: "
                         "use the utilisation model")
    joules = np.zeros(dt.size)
    for i, (a, b) in enumerate(zip(samples, samples[1:], strict=False)):
        assert a.rapl_uj is not None and b.rapl_uj is not None
        if len(a.rapl_uj) != len(ranges) or len(b.rapl_uj) != len(ranges):
            raise InputError(f"sample {i} has {len(a.rapl_uj)} RAPL counters, expected {len(ranges)}")
        joules[i] = sum(counter_delta_uj(x, y, r) for x, y, r in zip(a.rapl_uj, b.rapl_uj, ranges,
                                                                       strict=True)) / 1e6
    busy = np.diff(np.array([s.machine_busy_s for s in samples], dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(busy > 0, tree_cpu / busy, np.where(tree_cpu > 0, 1.0, 0.0))
    share = np.clip(share, 0.0, 1.0)
    return joules * share / dt, share


def _gpu_w(samples: Sequence[Sample], dt: np.ndarray) -> np.ndarray:
    out = np.zeros(dt.size)
    for i, (a, b) in enumerate(zip(samples, samples[1:], strict=False)):
        before = {g.index: g for g in a.gpus}
        for g in b.gpus:
            p = before.get(g.index)
            if p is None or not (p.used or g.used):
                continue
            if p.energy_j is not None and g.energy_j is not None and g.energy_j >= p.energy_j:
                out[i] += (g.energy_j - p.energy_j) / dt[i]
            else:
                out[i] += (p.power_w + g.power_w) / 2.0
    return out


# ====================================================================== usage records -> energy
def cpu_energy_from_usage(records: Iterable[UsageRecord], *, vcpus: int, tdp_w: float,
                          idle_fraction: float = IDLE_FRACTION, max_gap_s: float | None = None,
                          source: str = "usage-model") -> list[EnergyRecord]:
    """CPU energy of a VM from its CPU usage series (Gnocchi/Ceilometer ``cpu`` or ``cpu_util``).

    Accepted per record: unit ``ns`` with aggregation ``rate:*`` (nanoseconds used in ``[start, end)``),
    unit ``ns`` otherwise (a cumulative counter: differences between consecutive points), or unit
    ``%`` (utilisation of ``vcpus``). ``tdp_w`` is the power of the VM's ``vcpus`` at full load.
    """
    model = PowerModel(cpu_tdp_w=tdp_w, logical_cpus=vcpus, idle_fraction=idle_fraction)
    out: list[EnergyRecord] = []
    groups: dict[str, list[UsageRecord]] = {}
    for r in records:
        groups.setdefault(r.resource_id, []).append(r)
    for resource, group in groups.items():
        group.sort(key=lambda r: r.start)
        intervals: list[tuple[UsageRecord, datetime, datetime, float]] = []
        cumulative: list[UsageRecord] = []
        for r in group:
            unit = r.unit.lower()
            if unit == "ns" and r.aggregation.startswith("rate:") and r.end > r.start:
                span = (r.end - r.start).total_seconds()
                intervals.append((r, r.start, r.end, r.value / (span * 1e9 * vcpus)))
            elif unit == "ns":
                cumulative.append(r)
            elif unit in ("%", "percent") and r.end > r.start:
                intervals.append((r, r.start, r.end, r.value / 100.0))
            else:
                raise InputError(f"{r.source}:{resource} metric {r.metric!r} in {r.unit!r} ({r.aggregation}) is not "
                                 "a CPU usage greenci converts: use 'cpu' in ns (rate:mean or cumulative) or "
                                 "'cpu_util' in % over intervals")
        for a, b in zip(cumulative, cumulative[1:], strict=False):
            span = (b.start - a.start).total_seconds()
            if span <= 0 or b.value < a.value or (max_gap_s is not None and span > max_gap_s):
                continue  # duplicate, counter reset (reboot) or gap: left out
            intervals.append((b, a.start, b.start, (b.value - a.value) / (span * 1e9 * vcpus)))
        for r, start, end, u in intervals:
            span = (end - start).total_seconds()
            watts = float(model.cpu_power_w(u))
            out.append(EnergyRecord(source=source, resource_id=resource, start=start, end=end,
                                    energy_kwh=watts * span / 3.6e6, power_w=watts, component="cpu",
                                    method=f"utilisation model from {r.source} {r.metric} ({vcpus} vCPU, "
                                           f"{tdp_w:g} W at full load)"))
    out.sort(key=lambda r: (r.resource_id, r.start))
    return out


def ram_energy_from_usage(records: Iterable[UsageRecord], *, ram_w_per_gb: float = RAM_W_PER_GB,
                          source: str = "usage-model") -> list[EnergyRecord]:
    """RAM energy from memory usage over intervals (Gnocchi ``memory.usage`` in MB, or B/kB/GB/MiB/GiB)."""
    factors = {"b": 1e-9, "kb": 1e-6, "mb": 1e-3, "gb": 1.0, "kib": 1024 / 1e9, "mib": 1024 ** 2 / 1e9,
               "gib": 1024 ** 3 / 1e9}
    out = []
    for r in records:
        factor = factors.get(r.unit.lower())
        if factor is None:
            raise InputError(f"{r.source}:{r.resource_id} metric {r.metric!r} unit {r.unit!r} is not a memory size: "
                             "use B, kB, MB, GB, KiB, MiB or GiB")
        if r.end <= r.start:
            continue
        watts = ram_w_per_gb * r.value * factor
        span = (r.end - r.start).total_seconds()
        out.append(EnergyRecord(source=source, resource_id=r.resource_id, start=r.start, end=r.end,
                                energy_kwh=watts * span / 3.6e6, power_w=watts, component="ram",
                                method=f"{ram_w_per_gb:g} W/GB x {r.source} {r.metric}"))
    return out
