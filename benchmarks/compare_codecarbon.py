"""greenci and codecarbon side by side on one CPU-bound run: with their defaults, then with matched rules.

Run: ``python benchmarks/compare_codecarbon.py [--seconds 10] [--country DEU]`` (needs codecarbon).

One busy loop runs in this process for ``--seconds``. While it runs, three greenci measurements (nested
``greenci.energy.measure`` blocks: the engine of ``greenci measure``) and three codecarbon
``OfflineEmissionsTracker`` s (``measure_power_secs=1``) watch the same process, so every pair sees the
same work over the same seconds:

* **defaults**: greenci as shipped (its CPU table or 4 W per logical CPU, ``linear`` CPU rule with a 12 %
  idle share, 0.375 W/GB of resident memory) against codecarbon as shipped (``tracking_mode="machine"``:
  its own TDP lookup, ``TDP x (0.1 + 0.9 L^3)`` on the machine's load, its DIMM model on installed RAM);
* **matched, process**: both given greenci's CPU figure (``--cpu-tdp-w`` / ``force_cpu_power``), greenci
  with ``--cpu-rule codecarbon-process --ram-rule codecarbon-process``, codecarbon in process mode;
* **matched, machine**: the same figure, ``--cpu-rule codecarbon-machine --ram-rule codecarbon-machine``
  against codecarbon in its default machine mode.

A matched pair must agree within 5 % on CPU, RAM and total kWh: the table says OK or NOT OK (a benchmark
prints; it never asserts). Ratios are greenci / codecarbon. Nothing here is synthetic: it is this machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import warnings
from contextlib import ExitStack
from typing import Any

from rich.console import Console
from rich.table import Table

from greenci.energy import MeasureResult, measure
from greenci.energy.cpu_tdp import cpu_power

TOLERANCE = 0.05


def busy(seconds: float) -> None:
    """A CPU-bound loop on one thread for ``seconds`` of wall time."""
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x = (x * 1103515245 + 12345) % 2147483648


def run(seconds: float, country: str) -> tuple[dict[str, MeasureResult], dict[str, Any], float]:
    from codecarbon import OfflineEmissionsTracker

    tdp_w = cpu_power().tdp_w
    greenci_opts: dict[str, dict[str, Any]] = {
        "defaults": {},
        "matched, process": {"cpu_tdp_w": tdp_w, "cpu_rule": "codecarbon-process", "ram_rule": "codecarbon-process"},
        "matched, machine": {"cpu_tdp_w": tdp_w, "cpu_rule": "codecarbon-machine", "ram_rule": "codecarbon-machine"},
    }
    cc_opts: dict[str, dict[str, Any]] = {
        "defaults": {},
        "matched, process": {"tracking_mode": "process", "force_cpu_power": tdp_w},
        "matched, machine": {"tracking_mode": "machine", "force_cpu_power": tdp_w},
    }
    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    common = {"country_iso_code": country, "measure_power_secs": 1, "log_level": "error", "save_to_file": False,
              "allow_multiple_runs": True}
    results: dict[str, MeasureResult] = {}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cwd = os.getcwd()
        os.chdir(tmp)  # codecarbon reads .codecarbon.config and writes lock files in the working directory
        try:
            trackers = {name: OfflineEmissionsTracker(output_dir=tmp, project_name=name, **common, **opts)
                        for name, opts in cc_opts.items()}
            for t in trackers.values():
                t.start()
            with ExitStack() as stack:
                blocks = {name: stack.enter_context(measure(gpu=False, method="model", interval_s=1.0, **opts))
                          for name, opts in greenci_opts.items()}
                busy(seconds)
                for t in trackers.values():
                    t.stop()
        finally:
            os.chdir(cwd)
    for name, block in blocks.items():
        assert block.result is not None
        results[name] = block.result
    return results, {name: t.final_emissions_data for name, t in trackers.items()}, tdp_w


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


def report(results: dict[str, MeasureResult], cc: dict[str, Any], tdp_w: float, seconds: float) -> bool:
    console = Console(width=150)
    table = Table(title=f"greenci vs codecarbon, one {seconds:g} s busy loop on this machine (kWh; ratio = "
                        "greenci / codecarbon)")
    for col in ("settings", "part", "greenci kWh", "codecarbon kWh", "ratio", "greenci mean W", "codecarbon mean W",
                "check"):
        table.add_column(col, justify="left" if col in ("settings", "part", "check") else "right")
    all_ok = True
    for name, ours in results.items():
        theirs = cc[name]
        for part, ours_kwh, field in (("CPU", ours.cpu_kwh, "cpu_energy"), ("RAM", ours.ram_kwh, "ram_energy"),
                                      ("total", ours.energy_kwh, "energy_consumed")):
            their_kwh = float(getattr(theirs, field))
            their_w = their_kwh * 3.6e6 / theirs.duration if theirs.duration > 0 else float("nan")
            r = _ratio(ours_kwh, their_kwh)
            check = "-"
            if name != "defaults":
                ok = abs(r - 1.0) <= TOLERANCE
                all_ok &= ok
                check = "OK" if ok else "NOT OK"
            table.add_row(name, part, f"{ours_kwh:.3e}", f"{their_kwh:.3e}", f"{r:.2f}",
                          f"{ours_kwh * 3.6e6 / ours.duration_s:.2f}", f"{their_w:.2f}", check)
    console.print(table)
    d = results["defaults"]
    c = cc["defaults"]
    console.print(f"greenci default CPU figure: {d.cpu_tdp_w:g} W ({d.cpu_tdp_basis}): {d.cpu_tdp_source}")
    console.print(f"codecarbon default: cpu_model {c.cpu_model!r}, cpu_count {c.cpu_count}, ram_total_size "
                  f"{c.ram_total_size:.1f} GB, tracking_mode {c.tracking_mode}, cpu_power {c.cpu_power:.2f} W, "
                  f"ram_power {c.ram_power:.2f} W")
    console.print(f"matched runs: CPU figure {tdp_w:g} W on both sides; durations greenci "
                  f"{d.duration_s:.2f} s, codecarbon {c.duration:.2f} s; machine load during the run is shared "
                  "with whatever else runs here (machine mode charges it)")
    console.print(f"matched within {TOLERANCE:.0%}: {'OK' if all_ok else 'NOT OK'}")
    return all_ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="wall seconds of the busy loop")
    parser.add_argument("--country", default="DEU", help="codecarbon's country_iso_code (offline mode)")
    args = parser.parse_args()
    try:
        import codecarbon  # noqa: F401
    except ImportError:
        raise SystemExit("codecarbon is not installed: pip install codecarbon") from None
    results, cc, tdp_w = run(args.seconds, args.country)
    report(results, cc, tdp_w, args.seconds)


if __name__ == "__main__":
    main()
