"""NVIDIA GPU power through NVML (``pynvml`` from the ``nvidia-ml-py`` package), when present.

No ``pynvml``, no driver, or no device: :func:`open_gpus` returns None and measurement has no GPU part.
Per device and sample: the total energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ, Volta
and later; None where unsupported), the power now (``nvmlDeviceGetPowerUsage``, mW), and whether one of
the measured pids runs on it (compute and graphics process lists).

Inside a container, NVML may report host pids that never match the container's own: pass
``all_gpus=True`` (``--all-gpus``) on a dedicated GPU runner to charge every visible device.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from greenci.energy.sampling import GpuReading

__all__ = ["GpuMonitor", "open_gpus"]

logger = logging.getLogger("greenci.energy.nvml")


class GpuMonitor:
    """Reads every visible NVIDIA GPU; close it (or use ``with``) to shut NVML down."""

    def __init__(self, nvml: Any, handles: list[Any], names: list[str], *, all_gpus: bool = False) -> None:
        self._nvml = nvml
        self._handles = handles
        self.names = names
        self.all_gpus = all_gpus
        self._energy_ok = [True] * len(handles)

    def read(self, pids: Iterable[int]) -> tuple[GpuReading, ...]:
        """One reading per device; ``used`` when one of ``pids`` runs on it (always with ``all_gpus``)."""
        wanted = set(pids)
        out = []
        for i, h in enumerate(self._handles):
            try:
                power_w = self._nvml.nvmlDeviceGetPowerUsage(h) / 1000.0
            except Exception:  # NVMLError: a device that stops answering reads as 0 W, not a crash mid-job
                power_w = 0.0
            energy_j = None
            if self._energy_ok[i]:
                try:
                    energy_j = self._nvml.nvmlDeviceGetTotalEnergyConsumption(h) / 1000.0
                except Exception:  # not supported before Volta
                    self._energy_ok[i] = False
            used = self.all_gpus or bool(wanted & self._pids(h))
            out.append(GpuReading(index=i, name=self.names[i], power_w=power_w, energy_j=energy_j, used=used))
        return tuple(out)

    def _pids(self, handle: Any) -> set[int]:
        pids: set[int] = set()
        for fn in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            try:
                procs = getattr(self._nvml, fn)(handle)
            except Exception:  # older drivers lack one of the calls
                continue
            pids.update(int(p.pid) for p in procs)
        return pids

    def close(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception:  # already shut down
            pass

    def __enter__(self) -> GpuMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_gpus(*, all_gpus: bool = False) -> GpuMonitor | None:
    """A monitor of the visible NVIDIA GPUs, or None (with the reason logged) when there are none."""
    try:
        import pynvml
    except ImportError:
        logger.debug("pynvml not installed: no GPU measurement")
        return None
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        logger.debug("NVML unavailable (%s): no GPU measurement", exc)
        return None
    try:
        count = pynvml.nvmlDeviceGetCount()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        names = []
        for h in handles:
            name = pynvml.nvmlDeviceGetName(h)
            names.append(name.decode() if isinstance(name, bytes) else str(name))
    except Exception as exc:
        logger.debug("NVML device query failed (%s): no GPU measurement", exc)
        pynvml.nvmlShutdown()
        return None
    if not handles:
        pynvml.nvmlShutdown()
        return None
    return GpuMonitor(pynvml, handles, names, all_gpus=all_gpus)
