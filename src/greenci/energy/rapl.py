"""RAPL energy counters from Linux powercap sysfs (Intel, and AMD Zen through the same driver).

Layout read (``root`` defaults to ``/sys/class/powercap``; tests point it at a fake tree)::

    intel-rapl:0/       name = package-0, energy_uj, max_energy_range_uj   <- a CPU package
    intel-rapl:0:0/     name = core                                       <- inside package 0
    intel-rapl:0:2/     name = dram
    intel-rapl:1/       name = psys                                       <- whole platform (laptops)

Only **package** domains are summed for CPU energy: ``core``/``uncore`` are parts of their package
(summing them would count twice), ``psys`` covers the platform, and ``intel-rapl-mmio:*`` reports the
same package through another interface. ``energy_uj`` is a counter in microjoules that wraps to 0 after
``max_energy_range_uj``; :func:`counter_delta_uj` undoes one wrap per interval, which is enough at any
sampling rate greenci uses (a package at 200 W wraps about every 20 minutes).

Since Linux 5.10 ``energy_uj`` is readable by root only (CVE-2020-8694), so on most CI runners RAPL is
present but unreadable: :func:`probe` says so, and measurement falls back to the utilisation model.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_RAPL_ROOT", "RaplDomain", "RaplProbe", "counter_delta_uj", "find_domains", "probe",
           "read_energy_uj"]

DEFAULT_RAPL_ROOT = Path("/sys/class/powercap")
_DOMAIN_DIR = re.compile(r"^intel-rapl:(\d+)(?::(\d+))?$")


@dataclass(frozen=True)
class RaplDomain:
    """One RAPL domain: its sysfs folder, name (``package-0``, ``dram``, ...) and counter range."""

    path: Path
    name: str
    max_energy_range_uj: int

    @property
    def is_package(self) -> bool:
        return self.name.startswith("package")

    @property
    def energy_file(self) -> Path:
        return self.path / "energy_uj"


@dataclass(frozen=True)
class RaplProbe:
    """Whether RAPL package counters can be used here, and why not when they cannot."""

    usable: bool
    domains: tuple[RaplDomain, ...]
    reason: str


def _read_text(path: Path) -> str:
    """One sysfs file (a seam: tests replace it to simulate permission errors when running as root)."""
    with open(path, encoding="ascii") as fh:
        return fh.read()


def _read_int(path: Path) -> int:
    text = _read_text(path).strip()
    try:
        return int(text)
    except ValueError:
        raise OSError(f"{path} holds {text[:30]!r}, not a whole number") from None


def find_domains(root: str | os.PathLike[str] = DEFAULT_RAPL_ROOT) -> list[RaplDomain]:
    """Every ``intel-rapl:N`` / ``intel-rapl:N:M`` domain under ``root`` that has an energy counter.

    Reading ``name`` and ``max_energy_range_uj`` needs no privilege; an unreadable one is skipped.
    """
    base = Path(root)
    if not base.is_dir():
        return []
    found: list[tuple[tuple[int, int], RaplDomain]] = []
    for entry in sorted(base.iterdir()):
        m = _DOMAIN_DIR.match(entry.name)
        if not m or not (entry / "energy_uj").exists():
            continue
        try:
            name = _read_text(entry / "name").strip()
            max_uj = _read_int(entry / "max_energy_range_uj")
        except OSError:
            continue
        order = (int(m.group(1)), int(m.group(2)) if m.group(2) is not None else -1)
        found.append((order, RaplDomain(path=entry, name=name, max_energy_range_uj=max_uj)))
    return [d for _, d in sorted(found, key=lambda x: x[0])]


def read_energy_uj(domain: RaplDomain) -> int:
    """The domain's counter now, in microjoules (PermissionError when only root may read it)."""
    return _read_int(domain.energy_file)


def probe(root: str | os.PathLike[str] = DEFAULT_RAPL_ROOT) -> RaplProbe:
    """Find the package domains under ``root`` and try to read each counter once."""
    domains = find_domains(root)
    packages = tuple(d for d in domains if d.is_package)
    if not domains:
        return RaplProbe(False, (), f"no RAPL domains under {root} (no powercap driver: not Linux on an "
                                    "Intel/AMD CPU, or a VM that hides it)")
    if not packages:
        names = ", ".join(d.name for d in domains)
        return RaplProbe(False, (), f"RAPL under {root} has no package domain (only {names})")
    for d in packages:
        try:
            read_energy_uj(d)
        except PermissionError:
            return RaplProbe(False, packages,
                             f"RAPL is present but {d.energy_file} is not readable (permission denied: root "
                             "only since Linux 5.10); run as root or grant read access to energy_uj to use it")
        except OSError as exc:
            return RaplProbe(False, packages, f"RAPL counter {d.energy_file} cannot be read ({exc})")
    names = ", ".join(d.name for d in packages)
    return RaplProbe(True, packages, f"RAPL package counters ({names})")


def counter_delta_uj(before: int, after: int, max_energy_range_uj: int) -> int:
    """Energy between two readings of a wrapping counter, in microjoules.

    A reading below the previous one means the counter passed ``max_energy_range_uj`` and restarted at 0.
    """
    if after >= before:
        return after - before
    return after + max_energy_range_uj - before
