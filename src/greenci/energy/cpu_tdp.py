"""The CPU power figure the utilisation model uses: a packaged TDP table with its sources, and the fallback.

Why a table: without RAPL, the utilisation model needs the CPU's maximum power, and the model name
(``/proc/cpuinfo``) is the one thing every machine tells. ``cpu_table.csv`` (package data beside this
module) holds, per model, the manufacturer's published TDP per package (AMD "Default TDP", Intel "TDP" /
"Processor Base Power"), cores and hardware threads, the generation and the source (:data:`SOURCES`):
AMD EPYC Naples, Rome, Milan, Genoa, Bergamo, Siena and Turin; Intel Xeon Scalable 1st-5th gen, Xeon 6
(P- and E-cores), Xeon E5 v3/v4; common Core and Ryzen desktop and laptop parts. Every TDP was checked
against codecarbon's ``data/hardware/cpu_power.csv`` (MIT licence): 360 models are in both and agree
except the Core i7-12700K (codecarbon has its 190 W turbo power, Intel's base power is 125 W).

**Cloud parts.** Custom SKUs that only clouds sell (``EPYC 7B13``, ``7R13``, ``Xeon Platinum 8375C``,
...) have no published TDP; a row with ``alias_of`` charges them as the public part of the same
generation and core count (nearest base clock), and its note says which and why. codecarbon lists some
of these with other figures (e.g. 8375C 300 W); greenci keeps to published parts and says so.
An EPYC ``...P`` part missing from the table is charged as its two-socket twin (same cores and TDP).

**Matching.** The model name is lowercased and stripped of ``(R)``, ``(TM)``, ``CPU``, ``Processor``,
``@ 2.10GHz``, ``NN-Core``, ``PRO`` and ``with Radeon ...``; the **longest** table key found in it at
word boundaries wins (so ``i7-12700k`` is not taken for ``i7-12700``, nor ``8480`` for ``8480+``).

**Scaling to what this machine sees** (basis ``per-package``): a VM or container often sees a few vCPUs
of a large package, so the TDP charged is ``tdp_w x logical_cpus / threads`` (a share of one package on a
small VM; two packages on a two-socket host). This is the per-vCPU convention of Cloud Carbon Footprint.

**Fallback** (basis ``per-logical-cpu``), when no key matches: **4 W per logical CPU** (codecarbon's
``DEFAULT_POWER_PER_CORE``; within the 2-5 W per thread of the server parts in the table). When the
hypervisor hides the model name (``Intel(R) Xeon(R) Processor``), the CPUID family and model still tell
the generation; the figure's source says it, so a person can give ``--cpu-tdp-w`` (basis ``given``).
"""

from __future__ import annotations

import csv
import functools
import io
import os
import platform
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from greenci.errors import ConfigError, InputError

__all__ = ["DEFAULT_W_PER_THREAD", "SOURCES", "CpuIdentity", "CpuPower", "TdpEntry", "cpu_identity",
           "cpu_model_name", "cpu_power", "generation_hint", "load_table", "logical_cpus", "lookup_tdp",
           "normalise_model_name"]

DEFAULT_W_PER_THREAD = 4.0

#: source id in ``cpu_table.csv`` -> what the figures were taken from
SOURCES: dict[str, str] = {
    "amd-epyc": "AMD EPYC processor specifications (Default TDP, cores, threads), "
                "https://www.amd.com/en/products/specifications/server-processor.html",
    "amd-ryzen": "AMD Ryzen processor specifications (Default TDP, cores, threads), "
                 "https://www.amd.com/en/products/specifications/processors.html",
    "intel-ark": "Intel ARK product specifications (TDP / Processor Base Power, cores, threads), "
                 "https://ark.intel.com",
}

#: (vendor, CPUID family, CPUID model) -> server generation, for model names a hypervisor has hidden
_GENERATIONS: dict[tuple[str, int, int], str] = {
    ("GenuineIntel", 6, 63): "Intel Xeon E5 v3 (Haswell-EP)",
    ("GenuineIntel", 6, 79): "Intel Xeon E5 v4 (Broadwell-EP)",
    ("GenuineIntel", 6, 85): "Intel Xeon Scalable 1st/2nd gen (Skylake-SP / Cascade Lake)",
    ("GenuineIntel", 6, 106): "Intel Xeon Scalable 3rd gen (Ice Lake-SP)",
    ("GenuineIntel", 6, 143): "Intel Xeon Scalable 4th gen (Sapphire Rapids)",
    ("GenuineIntel", 6, 207): "Intel Xeon Scalable 5th gen (Emerald Rapids)",
    ("GenuineIntel", 6, 173): "Intel Xeon 6 (Granite Rapids, P-cores)",
    ("GenuineIntel", 6, 175): "Intel Xeon 6 (Sierra Forest, E-cores)",
    ("AuthenticAMD", 23, 1): "AMD EPYC 7001 (Naples, Zen)",
    ("AuthenticAMD", 23, 49): "AMD EPYC 7002 (Rome, Zen 2)",
    ("AuthenticAMD", 25, 1): "AMD EPYC 7003 (Milan, Zen 3)",
    ("AuthenticAMD", 25, 17): "AMD EPYC 9004 (Genoa, Zen 4)",
    ("AuthenticAMD", 25, 160): "AMD EPYC 97x4 / 8004 (Bergamo / Siena, Zen 4c)",
    ("AuthenticAMD", 26, 2): "AMD EPYC 9005 (Turin, Zen 5)",
    ("AuthenticAMD", 26, 17): "AMD EPYC 9005 (Turin dense, Zen 5c)",
}

_NOISE = re.compile(r"\(r\)|\(tm\)|®|™|\bcpu\b|\bprocessor\b|@\s*[\d.]+\s*ghz|\b\d+-core\b|\bpro\b"
                    r"|\bwith radeon.*$")
_EPYC_P = re.compile(r"\b(epyc [0-9][0-9a-z]{3})p\b")


@dataclass(frozen=True)
class TdpEntry:
    """The table row a model name matched; for a cloud part, the figures are its base part's."""

    key: str
    tdp_w: float
    threads: int
    cores: int = 0
    generation: str = ""
    source: str = ""
    alias_of: str | None = None
    note: str = ""

    @property
    def watts_per_thread(self) -> float:
        return self.tdp_w / self.threads


@dataclass(frozen=True)
class CpuIdentity:
    """What /proc/cpuinfo says about the CPU: the model name, and the CPUID vendor, family and model."""

    model_name: str
    vendor: str = ""
    family: int | None = None
    model: int | None = None


@dataclass(frozen=True)
class CpuPower:
    """The CPU maximum power the model uses for this machine, and where the number came from.

    ``basis``: ``per-package`` (a share of the matched package's TDP), ``per-logical-cpu`` (the 4 W
    default), or ``given`` (``--cpu-tdp-w``). ``table_key`` is the table row matched (None otherwise).
    """

    model_name: str
    logical_cpus: int
    tdp_w: float
    source: str
    basis: str = ""
    table_key: str | None = None
    package_tdp_w: float | None = None
    package_threads: int | None = None


# ====================================================================== the table
def _row_int(row: dict[str, str], name: str, where: str) -> int:
    try:
        value = int(row[name])
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {name} {row.get(name)!r} is not a whole number") from None
    if value <= 0:
        raise ConfigError(f"{where}: {name} {value} must be positive")
    return value


def parse_table(text: str, where: str = "cpu_table.csv") -> tuple[TdpEntry, ...]:
    """Rows of a CPU table in ``cpu_table.csv``'s format, aliases resolved to their base part's figures."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    base: dict[str, TdpEntry] = {}
    aliases: list[tuple[str, str, str, int]] = []
    for n, row in enumerate(csv.DictReader(io.StringIO("\n".join(lines))), start=2):
        at = f"{where} row {n}"
        key = (row.get("model") or "").strip()
        if not key or key != normalise_model_name(key):
            raise ConfigError(f"{at}: model {key!r} must be a non-empty normalised name (lowercase, single spaces)")
        if key in base or any(a[0] == key for a in aliases):
            raise ConfigError(f"{at}: model {key!r} appears twice")
        if row.get("alias_of"):
            aliases.append((key, row["alias_of"].strip(), row.get("note") or "", n))
            continue
        source = row.get("source") or ""
        if source not in SOURCES:
            raise ConfigError(f"{at}: source {source!r} is not one of {', '.join(SOURCES)}")
        try:
            tdp = float(row["tdp_w"])
        except (TypeError, ValueError):
            raise ConfigError(f"{at}: tdp_w {row.get('tdp_w')!r} is not a number") from None
        cores, threads = _row_int(row, "cores", at), _row_int(row, "threads", at)
        if not (tdp > 0 and threads >= cores):
            raise ConfigError(f"{at}: needs tdp_w > 0 and threads >= cores (got {tdp}, {cores}, {threads})")
        base[key] = TdpEntry(key, tdp, threads, cores, row.get("generation") or "", source, None,
                             row.get("note") or "")
    out = list(base.values())
    for key, target, note, n in aliases:
        parent = base.get(target)
        if parent is None:
            raise ConfigError(f"{where} row {n}: alias_of {target!r} is not a model of the table")
        out.append(TdpEntry(key, parent.tdp_w, parent.threads, parent.cores, parent.generation, parent.source,
                            target, note))
    return tuple(out)


@functools.lru_cache(maxsize=1)
def load_table() -> tuple[TdpEntry, ...]:
    """greenci's packaged table (read once per process; the package data never changes while it runs)."""
    text = resources.files("greenci.energy").joinpath("cpu_table.csv").read_text(encoding="utf-8")
    return parse_table(text)


def normalise_model_name(name: str) -> str:
    """Lowercase, trademark signs, frequency, core count and ``PRO`` removed, single spaces."""
    text = _NOISE.sub(" ", name.lower())
    return re.sub(r"\s+", " ", text).strip()


def _longest_match(text: str, table: tuple[TdpEntry, ...]) -> TdpEntry | None:
    best: TdpEntry | None = None
    for entry in table:
        if len(entry.key) > (len(best.key) if best else 0) and entry.key in text and \
                re.search(rf"(?<![a-z0-9]){re.escape(entry.key)}(?![a-z0-9+])", text):
            best = entry
    return best


def lookup_tdp(model_name: str, table: tuple[TdpEntry, ...] | None = None) -> TdpEntry | None:
    """The longest table key found in ``model_name`` at word boundaries, or None (see the module doc)."""
    rows = load_table() if table is None else table
    text = normalise_model_name(model_name)
    found = _longest_match(text, rows)
    if found is None and _EPYC_P.search(text):
        twin = _longest_match(_EPYC_P.sub(r"\1", text), rows)
        if twin is not None:
            part = _EPYC_P.search(text).group(0)  # type: ignore[union-attr]
            found = TdpEntry(part, twin.tdp_w, twin.threads, twin.cores, twin.generation, twin.source, twin.key,
                             f"single-socket P part charged as its twin {twin.key} (same cores and TDP)")
    return found


# ====================================================================== this machine
def cpu_identity(cpuinfo: str | os.PathLike[str] = "/proc/cpuinfo") -> CpuIdentity:
    """Model name, vendor, family and model of the first CPU in /proc/cpuinfo (else ``platform``'s name)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break  # the first processor's block is enough
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    name = next((fields[k] for k in ("model name", "hardware", "cpu model") if fields.get(k)), "")
    name = name or platform.processor() or platform.machine() or "unknown CPU"
    return CpuIdentity(name, fields.get("vendor_id", ""), _int_or_none(fields.get("cpu family")),
                       _int_or_none(fields.get("model")))


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def cpu_model_name(cpuinfo: str | os.PathLike[str] = "/proc/cpuinfo") -> str:
    """The CPU model name: ``model name`` from /proc/cpuinfo, else ``platform.processor()``."""
    return cpu_identity(cpuinfo).model_name


def generation_hint(identity: CpuIdentity) -> str | None:
    """The server generation the CPUID family/model tell, when the model name is hidden (or None)."""
    if identity.family is None or identity.model is None:
        return None
    return _GENERATIONS.get((identity.vendor, identity.family, identity.model))


def logical_cpus() -> int:
    """Logical CPUs this process may run on (the affinity mask: what a container was given)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_power(model_name: str | None = None, n_logical: int | None = None, *,
              override_tdp_w: float | None = None, identity: CpuIdentity | None = None) -> CpuPower:
    """The maximum CPU power charged for the logical CPUs visible here, and its source (see the module doc).

    ``identity`` (default: this machine's, when ``model_name`` is None) adds the CPUID generation to the
    fallback's source when the name matched nothing.
    """
    if identity is None and model_name is None:
        identity = cpu_identity()
    name = model_name if model_name is not None else identity.model_name  # type: ignore[union-attr]
    n = int(n_logical) if n_logical is not None else logical_cpus()
    if n <= 0:
        raise InputError(f"logical CPU count {n} must be positive", field="logical_cpus")
    if override_tdp_w is not None:
        if not (override_tdp_w > 0 and override_tdp_w < float("inf")):
            raise InputError(f"--cpu-tdp-w {override_tdp_w} must be a positive number of watts", field="cpu_tdp_w")
        return CpuPower(name, n, float(override_tdp_w), f"given (--cpu-tdp-w {override_tdp_w:g} W for the "
                                                        f"{n} logical CPUs)", "given")
    entry = lookup_tdp(name)
    if entry is None:
        hint = generation_hint(identity) if identity is not None else None
        seen = f"; CPUID family {identity.family} model {identity.model} is {hint}, SKU unknown" \
            if hint and identity is not None else ""
        return CpuPower(name, n, DEFAULT_W_PER_THREAD * n,
                        f"default {DEFAULT_W_PER_THREAD:g} W per logical CPU x {n} (model {name!r} not in "
                        f"greenci's CPU table{seen}; give --cpu-tdp-w)", "per-logical-cpu")
    tdp = entry.tdp_w * n / entry.threads
    charged = f"{entry.key} charged as {entry.alias_of} ({entry.note})" if entry.alias_of else entry.key
    return CpuPower(name, n, tdp, f"CPU table: {charged}, {entry.tdp_w:g} W / {entry.threads} threads per package x "
                                  f"{n} logical CPUs; {entry.generation}; source: {SOURCES[entry.source]}",
                    "per-package", entry.key, entry.tdp_w, entry.threads)
