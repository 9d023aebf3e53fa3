"""GPU measurement through a fake ``pynvml`` module: present, absent, broken, and in a measured run."""

from __future__ import annotations

import sys
import time
import types
from collections.abc import Iterator

import pytest

from greenci.energy import run_measured
from greenci.energy.nvml import open_gpus


class NVMLError(Exception):
    pass


def fake_nvml(pids_on_gpu0: set[int] | None = None, *, fail_init: bool = False) -> types.ModuleType:
    """Two devices: GPU 0 draws 300 W with an energy counter; GPU 1 (pre-Volta) has no counter."""
    t0 = time.monotonic()
    m = types.ModuleType("pynvml")
    m.shutdowns = 0  # type: ignore[attr-defined]

    def init() -> None:
        if fail_init:
            raise NVMLError("NVML Shared Library Not Found")

    def energy(h: int) -> int:
        if h == 1:
            raise NVMLError("Not Supported")
        return int(300.0 * (time.monotonic() - t0) * 1000)  # mJ

    def shutdown() -> None:
        m.shutdowns += 1  # type: ignore[attr-defined]

    m.nvmlInit = init  # type: ignore[attr-defined]
    m.nvmlShutdown = shutdown  # type: ignore[attr-defined]
    m.nvmlDeviceGetCount = lambda: 2  # type: ignore[attr-defined]
    m.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    m.nvmlDeviceGetName = lambda h: b"NVIDIA H100 80GB HBM3" if h == 0 else "Tesla P100"  # type: ignore[attr-defined]
    m.nvmlDeviceGetPowerUsage = lambda h: 300_000 if h == 0 else 40_000  # type: ignore[attr-defined]
    m.nvmlDeviceGetTotalEnergyConsumption = energy  # type: ignore[attr-defined]
    m.nvmlDeviceGetComputeRunningProcesses = (  # type: ignore[attr-defined]
        lambda h: [types.SimpleNamespace(pid=p, usedGpuMemory=1 << 30) for p in (pids_on_gpu0 or set())] if h == 0
        else [])
    return m


@pytest.fixture
def nvml(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    module = fake_nvml({4242})
    monkeypatch.setitem(sys.modules, "pynvml", module)
    yield module


def test_devices_are_read_and_used_only_by_the_tree(nvml: types.ModuleType) -> None:
    monitor = open_gpus()
    assert monitor is not None and monitor.names == ["NVIDIA H100 80GB HBM3", "Tesla P100"]
    gpu0, gpu1 = monitor.read({4242})
    assert gpu0.used and gpu0.power_w == 300.0 and gpu0.energy_j is not None
    assert not gpu1.used and gpu1.energy_j is None and gpu1.power_w == 40.0
    assert not monitor.read({1})[0].used
    monitor.close()
    assert nvml.shutdowns == 1  # type: ignore[attr-defined]


def test_no_pynvml_or_no_driver_means_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    assert open_gpus() is None
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(fail_init=True))
    assert open_gpus() is None


def test_a_measured_run_charges_the_gpu_it_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml())
    result = run_measured([sys.executable, "-c", "import time; time.sleep(0.4)"], interval_s=0.1,
                          rapl_root="/nonexistent", all_gpus=True)
    assert result.gpus == ("NVIDIA H100 80GB HBM3", "Tesla P100")
    # GPU 0 by its counter (300 W) and GPU 1 by its readings (40 W), both charged with --all-gpus
    assert result.gpu_kwh * 3.6e6 / result.duration_s == pytest.approx(340.0, rel=0.05)
    assert {r.component for r in result.records()} == {"cpu", "ram", "gpu"}
