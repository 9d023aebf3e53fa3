"""RAPL on fake powercap trees: discovery, wraparound, and the method chosen when RAPL is there or not."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenci.energy import rapl
from greenci.energy.meter import run_measured, select_method
from greenci.energy.rapl import counter_delta_uj, find_domains, probe, read_energy_uj
from greenci.errors import ConfigError

MAX_UJ = 262143328850


def make_domain(root: Path, folder: str, name: str, energy_uj: int = 0, max_uj: int = MAX_UJ) -> Path:
    d = root / folder
    d.mkdir(parents=True)
    (d / "name").write_text(name + "\n")
    (d / "energy_uj").write_text(f"{energy_uj}\n")
    (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return d


def set_energy(domain: Path, energy_uj: int) -> None:
    tmp = domain / "energy_uj.tmp"
    tmp.write_text(f"{energy_uj}\n")
    os.replace(tmp, domain / "energy_uj")  # atomic, like a sysfs read sees one value


@pytest.fixture
def server_tree(tmp_path: Path) -> Path:
    """Two packages with core/uncore/dram subdomains, a psys domain and an MMIO duplicate."""
    root = tmp_path / "powercap"
    make_domain(root, "intel-rapl:0", "package-0", 1000)
    make_domain(root, "intel-rapl:0:0", "core", 500)
    make_domain(root, "intel-rapl:0:2", "dram", 100)
    make_domain(root, "intel-rapl:1", "package-1", 2000)
    make_domain(root, "intel-rapl:2", "psys", 9000)
    make_domain(root, "intel-rapl-mmio:0", "package-0", 1000)
    (root / "intel-rapl").mkdir()  # the control-type folder holds no counter
    return root


def deny_energy_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate the root-only energy_uj of Linux >= 5.10 (the tests may themselves run as root)."""
    real = rapl._read_text

    def read(path: Path) -> str:
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(rapl, "_read_text", read)


def test_domains_are_found_in_order_and_only_packages_count(server_tree: Path) -> None:
    domains = find_domains(server_tree)
    assert [d.name for d in domains] == ["package-0", "core", "dram", "package-1", "psys"]
    found = probe(server_tree)
    assert found.usable
    assert [d.name for d in found.domains] == ["package-0", "package-1"]
    assert [read_energy_uj(d) for d in found.domains] == [1000, 2000]
    assert "package-0, package-1" in found.reason


def test_counter_wraparound_is_undone() -> None:
    assert counter_delta_uj(100, 350, MAX_UJ) == 250
    assert counter_delta_uj(MAX_UJ - 1_000_000, 2_000_000, MAX_UJ) == 3_000_000
    assert counter_delta_uj(5, 5, MAX_UJ) == 0


def test_rapl_present_and_readable_selects_rapl(server_tree: Path) -> None:
    choice = select_method("auto", server_tree)
    assert choice.method == "rapl"
    assert "share of busy CPU time" in choice.note
    assert len(choice.domains) == 2


def test_rapl_absent_selects_the_model_and_says_why(tmp_path: Path) -> None:
    choice = select_method("auto", tmp_path / "nothing-here")
    assert choice.method == "model"
    assert "no RAPL domains" in choice.note
    only_psys = tmp_path / "laptop"
    make_domain(only_psys, "intel-rapl:0", "psys")
    assert "no package domain" in select_method("auto", only_psys).note


def test_rapl_unreadable_falls_back_to_the_model_with_the_reason(server_tree: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    deny_energy_reads(monkeypatch)
    choice = select_method("auto", server_tree)
    assert choice.method == "model"
    assert "permission denied" in choice.note and "root" in choice.note
    with pytest.raises(ConfigError, match="method rapl cannot be used: RAPL is present"):
        select_method("rapl", server_tree)
    assert select_method("model", server_tree).note == "utilisation model (asked for)"


def test_unreadable_rapl_measure_run_uses_the_model(server_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deny_energy_reads(monkeypatch)
    result = run_measured([sys.executable, "-c", "pass"], interval_s=0.1, rapl_root=server_tree, gpu=False)
    assert result.method == "model"
    assert "permission denied" in result.method_note
    assert result.exit_code == 0


def test_measure_run_reads_rapl_and_attributes_the_package_energy(tmp_path: Path) -> None:
    """A writer thread advances package-0 at 50 W (with one wrap); the run's CPU energy comes from it."""
    root = tmp_path / "powercap"
    max_uj = 30_000_000  # 30 J: wraps once within the run at 50 W, never twice in one interval
    pkg = make_domain(root, "intel-rapl:0", "package-0", 0, max_uj)
    stop = threading.Event()

    def advance() -> None:
        energy = 0
        while not stop.wait(0.02):
            energy = (energy + 1_000_000) % max_uj  # 1 J per 20 ms = 50 W
            set_energy(pkg, energy)

    writer = threading.Thread(target=advance, daemon=True)
    writer.start()
    try:
        result = run_measured([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<0.5: pass"],
                              interval_s=0.1, rapl_root=root, gpu=False)
    finally:
        stop.set()
        writer.join()
    assert result.method == "rapl", result.method_note
    assert result.cpu_kwh > 0
    # never more than the package drew over the run (the share is at most 1); a little slack for timing
    assert result.cpu_kwh * 3.6e6 <= 50 * result.duration_s * 1.3
    assert (result.profile.share >= 0).all() and (result.profile.share <= 1).all()


@given(st.integers(1, 2**40), st.data())
def test_counter_delta_recovers_any_single_wrap(max_uj: int, data: st.DataObject) -> None:
    before = data.draw(st.integers(0, max_uj - 1))
    delta = data.draw(st.integers(0, max_uj - 1))
    after = (before + delta) % max_uj
    assert counter_delta_uj(before, after, max_uj) == delta
