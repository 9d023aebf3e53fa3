"""A packaged table of CPU thermal design power (TDP), matched by model name, with a documented default.

Why a table: without RAPL, the utilisation model needs the CPU's maximum power, and the model name
(``/proc/cpuinfo``) is the one thing every machine tells. Values are the manufacturers' published TDP
(Intel "Processor Base Power", AMD "Default TDP") per package, with the package's hardware threads.

Matching: the model name is lowercased and stripped of ``(R)``, ``(TM)``, ``CPU``, ``Processor``,
``@ 2.10GHz`` and core-count words; the **longest** table key found in it at word boundaries wins (so
``i7-12700k`` is not taken for ``i7-12700``).

Scaling to what this machine sees: a VM or container often sees a few vCPUs of a large package, so the
TDP charged is ``tdp_w x logical_cpus / threads`` (a share of one package on a small VM; two packages on
a two-socket host). This is the per-vCPU convention of Cloud Carbon Footprint.

Default, when no key matches: **4 W per logical CPU** (codecarbon's fallback, ``DEFAULT_POWER_PER_CORE``;
it sits within the 2-5 W per thread of the server parts below). Give ``--cpu-tdp-w`` when you know better.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from greenci.errors import InputError

__all__ = ["DEFAULT_W_PER_THREAD", "TDP_TABLE", "CpuPower", "TdpEntry", "cpu_model_name", "cpu_power",
           "logical_cpus", "lookup_tdp", "normalise_model_name"]

DEFAULT_W_PER_THREAD = 4.0

#: (key as it appears in a normalised model name, TDP in W per package, hardware threads per package)
TDP_TABLE: tuple[tuple[str, float, int], ...] = (
    # Intel Xeon Scalable, Sapphire Rapids / Ice Lake / Cascade Lake / Skylake
    ("xeon platinum 8480+", 350, 112),
    ("xeon platinum 8468", 350, 96),
    ("xeon platinum 8380", 270, 80),
    ("xeon platinum 8375c", 300, 64),
    ("xeon platinum 8370c", 300, 64),
    ("xeon platinum 8360y", 250, 72),
    ("xeon platinum 8358", 250, 64),
    ("xeon platinum 8352y", 205, 64),
    ("xeon platinum 8280", 205, 56),
    ("xeon platinum 8275cl", 240, 48),
    ("xeon platinum 8259cl", 210, 48),
    ("xeon platinum 8180", 205, 56),
    ("xeon platinum 8175m", 240, 48),
    ("xeon platinum 8168", 205, 48),
    ("xeon gold 6354", 205, 36),
    ("xeon gold 6342", 230, 48),
    ("xeon gold 6338", 205, 64),
    ("xeon gold 6248r", 205, 48),
    ("xeon gold 6248", 150, 40),
    ("xeon gold 6230", 125, 40),
    ("xeon gold 6154", 200, 36),
    ("xeon gold 6148", 150, 40),
    ("xeon gold 6140", 140, 36),
    ("xeon gold 6130", 125, 32),
    ("xeon gold 5220", 125, 36),
    ("xeon gold 5218", 125, 32),
    ("xeon silver 4314", 135, 32),
    ("xeon silver 4310", 120, 24),
    ("xeon silver 4214", 85, 24),
    ("xeon silver 4210", 85, 20),
    ("xeon silver 4114", 85, 20),
    ("xeon silver 4110", 85, 16),
    # Intel Xeon E5 / E
    ("xeon e5-2699 v4", 145, 44),
    ("xeon e5-2690 v4", 135, 28),
    ("xeon e5-2686 v4", 145, 36),
    ("xeon e5-2680 v4", 120, 28),
    ("xeon e5-2680 v3", 120, 24),
    ("xeon e5-2676 v3", 120, 24),
    ("xeon e5-2670 v3", 120, 24),
    ("xeon e-2288g", 95, 16),
    ("xeon e-2236", 80, 12),
    # AMD EPYC
    ("epyc 9754", 360, 256),
    ("epyc 9654", 360, 192),
    ("epyc 9554", 360, 128),
    ("epyc 9454", 290, 96),
    ("epyc 9374f", 320, 64),
    ("epyc 9354", 280, 64),
    ("epyc 7763", 280, 128),
    ("epyc 7742", 225, 128),
    ("epyc 7713", 225, 128),
    ("epyc 7702", 200, 128),
    ("epyc 7643", 225, 96),
    ("epyc 7601", 180, 64),
    ("epyc 7551", 180, 64),
    ("epyc 7543", 225, 64),
    ("epyc 7542", 225, 64),
    ("epyc 7513", 200, 64),
    ("epyc 7502", 180, 64),
    ("epyc 7453", 225, 56),
    ("epyc 7452", 155, 64),
    ("epyc 7443", 200, 48),
    ("epyc 7402", 180, 48),
    ("epyc 7343", 190, 32),
    ("epyc 7313", 155, 32),
    ("epyc 7302", 155, 32),
    # Intel Core desktop and laptop
    ("core i9-13900k", 125, 32),
    ("core i9-12900k", 125, 24),
    ("core i9-10900k", 125, 20),
    ("core i9-9900k", 95, 16),
    ("core i7-13700k", 125, 24),
    ("core i7-12700k", 125, 20),
    ("core i7-12700", 65, 20),
    ("core i7-10700k", 125, 16),
    ("core i7-9700k", 95, 8),
    ("core i7-8700k", 95, 12),
    ("core i7-8700", 65, 12),
    ("core i7-1260p", 28, 16),
    ("core i7-1185g7", 28, 8),
    ("core i7-1165g7", 28, 8),
    ("core i7-10510u", 15, 8),
    ("core i7-8550u", 15, 8),
    ("core i5-13600k", 125, 20),
    ("core i5-12600k", 125, 16),
    ("core i5-12400", 65, 12),
    ("core i5-1135g7", 28, 8),
    ("core i5-8400", 65, 6),
    # AMD Ryzen
    ("ryzen threadripper 3990x", 280, 128),
    ("ryzen 9 7950x", 170, 32),
    ("ryzen 9 5950x", 105, 32),
    ("ryzen 9 5900x", 105, 24),
    ("ryzen 9 3900x", 105, 24),
    ("ryzen 7 7700x", 105, 16),
    ("ryzen 7 5800x", 105, 16),
    ("ryzen 7 5800u", 15, 16),
    ("ryzen 7 3700x", 65, 16),
    ("ryzen 5 5600x", 65, 12),
    ("ryzen 5 3600", 65, 12),
)

_NOISE = re.compile(r"\(r\)|\(tm\)|®|™|\bcpu\b|\bprocessor\b|@\s*[\d.]+\s*ghz|\b\d+-core\b|\bwith radeon.*$")


@dataclass(frozen=True)
class TdpEntry:
    """A row of the table that matched a model name."""

    key: str
    tdp_w: float
    threads: int


@dataclass(frozen=True)
class CpuPower:
    """The CPU maximum power the model uses for this machine, and where the number came from."""

    model_name: str
    logical_cpus: int
    tdp_w: float
    source: str


def normalise_model_name(name: str) -> str:
    """Lowercase, trademark signs and frequency removed, single spaces."""
    text = _NOISE.sub(" ", name.lower())
    return re.sub(r"\s+", " ", text).strip()


def lookup_tdp(model_name: str) -> TdpEntry | None:
    """The longest table key found in ``model_name`` at word boundaries, or None."""
    text = normalise_model_name(model_name)
    best: TdpEntry | None = None
    for key, tdp, threads in TDP_TABLE:
        if re.search(rf"(?<![a-z0-9]){re.escape(key)}(?![a-z0-9+])", text):
            if best is None or len(key) > len(best.key):
                best = TdpEntry(key, float(tdp), int(threads))
    return best


def cpu_model_name(cpuinfo: str | os.PathLike[str] = "/proc/cpuinfo") -> str:
    """The CPU model name: ``model name`` from /proc/cpuinfo, else ``platform.processor()``."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("model name", "hardware", "cpu model") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def logical_cpus() -> int:
    """Logical CPUs this process may run on (the affinity mask: what a container was given)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_power(model_name: str | None = None, n_logical: int | None = None, *,
              override_tdp_w: float | None = None) -> CpuPower:
    """The maximum CPU power charged for the logical CPUs visible here (see the module doc)."""
    name = model_name if model_name is not None else cpu_model_name()
    n = int(n_logical) if n_logical is not None else logical_cpus()
    if n <= 0:
        raise InputError(f"logical CPU count {n} must be positive")
    if override_tdp_w is not None:
        if not (override_tdp_w > 0 and override_tdp_w < float("inf")):
            raise InputError(f"--cpu-tdp-w {override_tdp_w} must be a positive number of watts")
        return CpuPower(name, n, float(override_tdp_w), "given (--cpu-tdp-w)")
    entry = lookup_tdp(name)
    if entry is None:
        return CpuPower(name, n, DEFAULT_W_PER_THREAD * n,
                        f"default {DEFAULT_W_PER_THREAD:g} W per logical CPU (model not in greenci's TDP table; "
                        "give --cpu-tdp-w)")
    tdp = entry.tdp_w * n / entry.threads
    return CpuPower(name, n, tdp, f"TDP table: {entry.key} {entry.tdp_w:g} W / {entry.threads} threads x {n} "
                                  "logical CPUs")
