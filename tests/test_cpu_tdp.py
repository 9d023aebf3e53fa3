"""The CPU power table (matching real model strings, cloud parts, sources), the codecarbon rules, and what
``measure`` reports about the figure it used."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from greenci.energy.cpu_tdp import (
    DEFAULT_W_PER_THREAD,
    SOURCES,
    CpuIdentity,
    cpu_identity,
    cpu_power,
    load_table,
    lookup_tdp,
    parse_table,
)
from greenci.energy.meter import SUMMARY_FIELDS, MeasureOptions, run_measured
from greenci.energy.power_model import PowerModel, codecarbon_ram_w, profile_from_samples
from greenci.energy.sampling import Sample
from greenci.errors import ConfigError, InputError

HAS_CODECARBON = importlib.util.find_spec("codecarbon") is not None

# (model string as /proc/cpuinfo or psutil gives it, table key matched, base part or None, TDP W, threads)
REAL_NAMES = [
    ("AMD EPYC 7763 64-Core Processor", "epyc 7763", None, 280, 128),
    ("AMD EPYC 7B13 64-Core Processor", "epyc 7b13", "epyc 7763", 280, 128),
    ("AMD EPYC 7B12 64-Core Processor", "epyc 7b12", "epyc 7742", 225, 128),
    ("AMD EPYC 7R13 Processor", "epyc 7r13", "epyc 7643", 225, 96),
    ("AMD EPYC 7R32", "epyc 7r32", "epyc 7642", 225, 96),
    ("AMD EPYC 7571", "epyc 7571", "epyc 7601", 180, 64),
    ("AMD EPYC 9R14 96-Core Processor", "epyc 9r14", "epyc 9654", 360, 192),
    ("AMD EPYC 7601 32-Core Processor", "epyc 7601", None, 180, 64),
    ("AMD EPYC 7702P 64-Core Processor", "epyc 7702p", "epyc 7702", 200, 128),
    ("AMD EPYC 9654 96-Core Processor", "epyc 9654", None, 360, 192),
    ("AMD EPYC 9754 128-Core Processor", "epyc 9754", None, 360, 256),
    ("AMD EPYC 9754S 128-Core Processor", "epyc 9754s", None, 360, 128),
    ("AMD EPYC 9965 192-Core Processor", "epyc 9965", None, 500, 384),
    ("AMD EPYC 9B14 96-Core Processor", "epyc 9b14", "epyc 9654", 360, 192),
    ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "xeon platinum 8375c", "xeon platinum 8362", 265, 64),
    ("Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz", "xeon platinum 8370c", "xeon platinum 8362", 265, 64),
    ("Intel(R) Xeon(R) Platinum 8272CL CPU @ 2.60GHz", "xeon platinum 8272cl", "xeon platinum 8270", 205, 52),
    ("Intel(R) Xeon(R) Platinum 8171M CPU @ 2.60GHz", "xeon platinum 8171m", "xeon platinum 8170", 165, 52),
    ("Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz", "xeon platinum 8259cl", "xeon platinum 8260", 165, 48),
    ("Intel(R) Xeon(R) Platinum 8124M CPU @ 3.00GHz", "xeon platinum 8124m", "xeon gold 6154", 200, 36),
    ("Intel(R) Xeon(R) Platinum 8488C", "xeon platinum 8488c", "xeon platinum 8468", 350, 96),
    ("Intel(R) Xeon(R) Platinum 8480+", "xeon platinum 8480+", None, 350, 112),
    ("Intel(R) Xeon(R) Platinum 8592+", "xeon platinum 8592+", None, 350, 128),
    ("Intel(R) Xeon(R) Gold 6348 CPU @ 2.60GHz", "xeon gold 6348", None, 235, 56),
    ("Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz", "xeon gold 6130", None, 125, 32),
    ("Intel(R) Xeon(R) Silver 4214R CPU @ 2.40GHz", "xeon silver 4214r", None, 100, 24),
    ("Intel(R) Xeon(R) Bronze 3106 CPU @ 1.70GHz", "xeon bronze 3106", None, 85, 8),
    ("Intel(R) Xeon(R) 6980P", "xeon 6980p", None, 500, 256),
    ("Intel(R) Xeon(R) 6780E", "xeon 6780e", None, 330, 144),
    ("Intel(R) Xeon(R) CPU E5-2673 v4 @ 2.30GHz", "xeon e5-2673 v4", "xeon e5-2698 v4", 135, 40),
    ("Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz", "xeon e5-2686 v4", "xeon e5-2697 v4", 145, 36),
    ("12th Gen Intel(R) Core(TM) i7-12700K", "core i7-12700k", None, 125, 20),
    ("12th Gen Intel(R) Core(TM) i7-1260P", "core i7-1260p", None, 28, 16),
    ("Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz", "core i7-8550u", None, 15, 8),
    ("Intel(R) Core(TM) Ultra 7 155H", "core ultra 7 155h", None, 28, 22),
    ("AMD Ryzen 9 5950X 16-Core Processor", "ryzen 9 5950x", None, 105, 32),
    ("AMD Ryzen 7 PRO 4750U with Radeon Graphics", "ryzen 7 4750u", None, 15, 16),
    ("AMD Ryzen Threadripper 3990X 64-Core Processor", "ryzen threadripper 3990x", None, 280, 128),
]


@pytest.mark.parametrize(("name", "key", "base", "tdp", "threads"), REAL_NAMES)
def test_real_model_strings_match_their_row_and_cloud_parts_their_base(name: str, key: str, base: str | None,
                                                                       tdp: float, threads: int) -> None:
    entry = lookup_tdp(name)
    assert entry is not None, name
    assert (entry.key, entry.alias_of, entry.tdp_w, entry.threads) == (key, base, tdp, threads)
    assert entry.source in SOURCES
    if base is not None:
        assert entry.note  # the mapping is stated


@pytest.mark.parametrize("name", ["Intel(R) Xeon(R) Processor", "AMD EPYC Processor", "AMD EPYC 7999",
                                  "Intel(R) Xeon(R) Platinum 8480", "QEMU Virtual CPU version 2.5+", ""])
def test_unknown_or_hidden_models_match_nothing(name: str) -> None:
    # "8480" without "+" is not the 8480+; a hidden SKU is not guessed
    assert lookup_tdp(name) is None


def test_the_table_is_complete_for_current_server_generations() -> None:
    generations = {e.generation for e in load_table()}
    for needed in ("Naples", "Rome", "Milan", "Genoa", "Bergamo", "Turin", "Skylake-SP", "Cascade Lake",
                   "Ice Lake-SP", "Sapphire Rapids", "Emerald Rapids", "Granite Rapids", "Sierra Forest"):
        assert any(needed in g for g in generations), needed
    keys = [e.key for e in load_table()]
    assert len(keys) == len(set(keys)) and len(keys) > 300
    for e in load_table():
        assert e.tdp_w > 0 and e.threads >= e.cores > 0 and e.source in SOURCES
        assert lookup_tdp(e.key) == e  # every row is reachable by its own key (longest match wins)


def test_a_bad_table_is_refused_naming_the_row() -> None:
    head = "model,tdp_w,cores,threads,generation,source,alias_of,note\n"
    with pytest.raises(ConfigError, match="row 2: source 'vendor'"):
        parse_table(head + "epyc 1,10,1,2,g,vendor,,\n")
    with pytest.raises(ConfigError, match="alias_of 'epyc 2'"):
        parse_table(head + "epyc 1,10,1,2,g,amd-epyc,,\nepyc 1b,,,,,,epyc 2,cloud\n")
    with pytest.raises(ConfigError, match="threads >= cores"):
        parse_table(head + "epyc 1,10,4,2,g,amd-epyc,,\n")


@pytest.mark.skipif(not HAS_CODECARBON, reason="codecarbon is not installed (pip install codecarbon)")
def test_published_parts_agree_with_codecarbons_cpu_power_csv() -> None:
    """Oracle: codecarbon's MIT-licensed table, scraped from the same vendor pages, on every model in both."""
    import codecarbon

    path = Path(codecarbon.__file__).parent / "data" / "hardware" / "cpu_power.csv"
    theirs: dict[str, float] = {}
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                theirs[" ".join(row["Name"].lower().replace("amd ", "").replace("intel ", "").split())] = \
                    float(row["TDP"])
            except ValueError:
                continue
    both = [(e.key, e.tdp_w, theirs[e.key]) for e in load_table() if e.alias_of is None and e.key in theirs]
    differ = {k: (ours, cc) for k, ours, cc in both if ours != cc}
    assert len(both) >= 300
    # Intel's Processor Base Power is 125 W; codecarbon has the 190 W Maximum Turbo Power
    assert differ == {"core i7-12700k": (125.0, 190.0)}


def test_cpu_power_says_which_figure_and_basis() -> None:
    vm = cpu_power("AMD EPYC 7B13 64-Core Processor", 4)
    assert vm.basis == "per-package" and vm.table_key == "epyc 7b13" and vm.tdp_w == pytest.approx(280 * 4 / 128)
    assert "charged as epyc 7763" in vm.source and "amd.com" in vm.source
    assert (vm.package_tdp_w, vm.package_threads) == (280.0, 128)
    hidden = cpu_power("Intel(R) Xeon(R) Processor", 2,
                       identity=CpuIdentity("Intel(R) Xeon(R) Processor", "GenuineIntel", 6, 207))
    assert hidden.basis == "per-logical-cpu" and hidden.tdp_w == 2 * DEFAULT_W_PER_THREAD
    assert "Emerald Rapids" in hidden.source and "--cpu-tdp-w" in hidden.source
    given = cpu_power("anything", 2, override_tdp_w=50)
    assert given.basis == "given" and given.table_key is None


def test_cpu_identity_reads_family_and_model(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\n"
                    "model name\t: AMD EPYC 7B13\n\nprocessor\t: 1\nmodel name\t: other\n")
    ident = cpu_identity(info)
    assert ident == CpuIdentity("AMD EPYC 7B13", "AuthenticAMD", 25, 1)


# ====================================================================== codecarbon rules
@pytest.mark.skipif(not HAS_CODECARBON, reason="codecarbon is not installed (pip install codecarbon)")
@pytest.mark.parametrize("arm", [False, True])
def test_codecarbon_ram_rule_equals_codecarbons_own_function(arm: bool) -> None:
    """Oracle: codecarbon's RAM._calculate_ram_power, on 0..4096 GiB in 0.25 GiB steps and every boundary."""
    from codecarbon.external.ram import RAM

    ram = RAM()
    ram.is_arm_cpu = arm
    sizes = np.concatenate([np.arange(0, 4096.25, 0.25), [2, 4, 8, 16, 16.01, 32, 64, 64.5, 128, 128.5, 1e4]])
    expected = np.array([ram._calculate_ram_power(float(g)) for g in sizes])
    np.testing.assert_allclose(codecarbon_ram_w(sizes, arm=arm), expected, rtol=0, atol=1e-9)


def _samples(tree_cpu: list[float], busy: list[float], rss: int = 500_000_000) -> list[Sample]:
    return [Sample(t_s=float(i), tree_cpu_s=c, rss_bytes=rss, machine_busy_s=b)
            for i, (c, b) in enumerate(zip(tree_cpu, busy, strict=True))]


def test_cpu_rules_by_hand() -> None:
    # 4 logical CPUs, 100 W; second 1: tree 1 CPU s (u = 0.25), machine 2 CPU s (L = 0.5); second 2: idle
    samples = _samples([0.0, 1.0, 1.0], [10.0, 12.0, 12.0])
    rules = {"linear": [100 * (0.12 + 0.88 * 0.25), 12.0], "codecarbon-process": [25.0, 0.0],
             "codecarbon-machine": [100 * (0.1 + 0.9 * 0.125), 10.0]}
    for rule, watts in rules.items():
        model = PowerModel(100.0, 4, cpu_rule=rule, machine_cpus=4)
        np.testing.assert_allclose(profile_from_samples(samples, model).cpu_w, watts, err_msg=rule)
    ram = PowerModel(100.0, 4, ram_rule="codecarbon-process")
    assert profile_from_samples(samples, ram).ram_w.tolist() == [10.0, 10.0]  # 0.47 GiB: codecarbon's 10 W floor
    machine = PowerModel(100.0, 4, ram_rule="codecarbon-machine", machine_ram_bytes=256 * 1024 ** 3)
    assert profile_from_samples(samples, machine).ram_w.tolist() == [5 * 4 + 4.5 * 4] * 2  # 256 GiB: 8 x 32 GiB


def test_bad_rules_are_refused_naming_the_field() -> None:
    with pytest.raises(InputError, match="cpu_rule 'cubic' is unknown"):
        MeasureOptions(cpu_rule="cubic")
    with pytest.raises(InputError, match="ram_rule 'dimm'"):
        PowerModel(10.0, 1, ram_rule="dimm")
    with pytest.raises(InputError, match="machine's installed RAM"):
        PowerModel(10.0, 1, ram_rule="codecarbon-machine")
    with pytest.raises(InputError, match="machine's busy CPU time"):
        profile_from_samples([Sample(0.0, 0.0, 0), Sample(1.0, 0.5, 0)],
                             PowerModel(10.0, 1, cpu_rule="codecarbon-machine"))


# ====================================================================== measure reports the figure
def test_measure_result_names_the_figure_and_the_rules() -> None:
    result = run_measured([sys.executable, "-c", "pass"], interval_s=0.1, gpu=False, method="model",
                          cpu_tdp_w=40.0, cpu_rule="codecarbon-process", ram_rule="codecarbon-process")
    summary = result.summary()
    assert list(summary) == list(SUMMARY_FIELDS)
    assert (summary["cpu_tdp_basis"], summary["cpu_rule"], summary["ram_rule"]) == \
        ("given", "codecarbon-process", "codecarbon-process")
    assert summary["cpu_tdp_w"] == 40.0 and "--cpu-tdp-w" in summary["cpu_tdp_source"]
    # codecarbon's RAM floor: at least 10 W over the run
    assert result.ram_kwh * 3.6e6 == pytest.approx(10.0 * result.duration_s, rel=1e-9)


def test_cli_measure_prints_the_cpu_figure_and_accepts_the_rules() -> None:
    from greenci.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["measure", "--no-gpu", "--method", "model", "--interval-s", "0.1",
                              "--cpu-rule", "codecarbon-process", "--ram-rule", "codecarbon-process",
                              "--report", "json", "--", sys.executable, "-c", "pass"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output[out.output.index("{"):])
    assert doc["cpu_rule"] == "codecarbon-process" and doc["cpu_tdp_basis"] in ("per-package", "per-logical-cpu")
    table = runner.invoke(app, ["measure", "--no-gpu", "--method", "model", "--", sys.executable, "-c", "pass"])
    assert table.exit_code == 0 and "CPU figure" in table.output
    bad = runner.invoke(app, ["measure", "--ram-rule", "dimm", "--", sys.executable, "-c", "pass"])
    assert bad.exit_code == 2 and "--ram-rule 'dimm' is unknown" in bad.output
