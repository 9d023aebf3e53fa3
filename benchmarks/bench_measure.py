"""``greenci measure``: sampler overhead, and a cross-check against codecarbon on the same run.

Run: ``python benchmarks/bench_measure.py [--seconds 5] [--country DEU] [--no-codecarbon]``. Prints two tables.

1. **Overhead** = CPU seconds of greenci's sampler thread / CPU seconds of the measured command, for a
   CPU-bound command (one busy process) and a build-like one (many short-lived processes), at the
   default 1 s interval and at 0.1 s. Target: below 1 % at the default interval.
2. **Cross-check**: one run of the CPU-bound command measured at once by greenci and by codecarbon's
   ``OfflineEmissionsTracker`` (``measure_power_secs=1``, ``save_to_file=False``, log level error), in
   both of its tracking modes, with codecarbon given greenci's CPU power (``force_cpu_power``) so the
   two differ by their models only, not by their TDP tables. Ratios are greenci / codecarbon.

Why the numbers differ (see the printed notes): codecarbon's process mode charges ``TDP x load`` with
no idle floor; its machine mode charges the whole machine (``TDP x (0.1 + 0.9 load^3)`` and all
installed RAM); greenci charges the tree ``TDP x (0.12 + 0.88 u)`` and 0.375 W/GB of its resident memory.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
import warnings
from typing import Any

from greenci.energy import MeasureResult, run_measured

BUSY = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass\n"
SHORT = ("import subprocess, sys\n"
         "for _ in range({n}): subprocess.run([sys.executable, '-c', 'sum(range(200000))'])\n")
OPTS: dict[str, Any] = {"gpu": False}


def processes_on_machine() -> int:
    try:
        return sum(1 for e in os.scandir("/proc") if e.name.isdigit())
    except OSError:
        return -1


def overhead_rows(seconds: float) -> list[tuple[str, float, MeasureResult]]:
    rows = []
    workloads = [(f"CPU-bound, 1 process, {seconds:g} CPU s", [sys.executable, "-c", BUSY.format(s=seconds)]),
                 ("build-like, 60 short processes", [sys.executable, "-c", SHORT.format(n=60)])]
    for name, argv in workloads:
        for interval in (1.0, 0.1):
            rows.append((name, interval, run_measured(argv, interval_s=interval, **OPTS)))
    return rows


def print_overhead(rows: list[tuple[str, float, MeasureResult]]) -> None:
    print(f"\nSampler overhead ({processes_on_machine()} processes on this machine; /proc scanned per sample)")
    head = f"{'workload':<34} {'interval':>8} {'wall s':>7} {'cmd CPU s':>9} {'sampler CPU s':>13} {'overhead':>9} " \
           f"{'samples':>7}"
    print(head)
    print("-" * len(head))
    for name, interval, r in rows:
        print(f"{name:<34} {interval:>7g}s {r.duration_s:>7.2f} {r.cpu_seconds:>9.2f} {r.sampler_cpu_s:>13.4f} "
              f"{100 * r.overhead_share:>8.2f}% {r.samples:>7d}")
    worst = max(100 * r.overhead_share for _, i, r in rows if i == 1.0)
    print(f"worst overhead at the default 1 s interval: {worst:.2f} % (target < 1 %)")


def cross_check(seconds: float, country: str) -> None:
    try:
        from codecarbon import OfflineEmissionsTracker
    except ImportError:
        print("\ncodecarbon is not installed: pip install codecarbon (a dev dependency) for the cross-check")
        return
    probe = run_measured([sys.executable, "-c", "pass"], interval_s=1.0, **OPTS)
    tdp_w = probe.cpu_tdp_w
    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    common = {"country_iso_code": country, "measure_power_secs": 1, "log_level": "error", "save_to_file": False,
              "force_cpu_power": tdp_w}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cwd = os.getcwd()
        os.chdir(tmp)  # codecarbon looks for .codecarbon.config and lock files in the working directory
        try:
            trackers = {mode: OfflineEmissionsTracker(tracking_mode=mode, output_dir=tmp, project_name=f"bench-{mode}",
                                                      **common) for mode in ("process", "machine")}
            for t in trackers.values():
                t.start()
            ours = run_measured([sys.executable, "-c", BUSY.format(s=seconds)], interval_s=1.0, **OPTS)
            for t in trackers.values():
                t.stop()
        finally:
            os.chdir(cwd)
    data = {mode: t.final_emissions_data for mode, t in trackers.items()}
    print(f"\nCross-check on one run: {seconds:g} CPU s busy loop, {ours.duration_s:.1f} s wall, "
          f"{ours.logical_cpus} logical CPUs, CPU power {tdp_w:g} W for both ({ours.cpu_tdp_source})")
    head = f"{'kWh':<10} {'greenci':>12} {'cc process':>12} {'ratio':>7} {'cc machine':>12} {'ratio':>7}"
    print(head)
    print("-" * len(head))
    for label, ours_kwh, field in (("CPU", ours.cpu_kwh, "cpu_energy"), ("RAM", ours.ram_kwh, "ram_energy"),
                                   ("total", ours.energy_kwh, "energy_consumed")):
        p, m = getattr(data["process"], field), getattr(data["machine"], field)
        print(f"{label:<10} {ours_kwh:>12.3e} {p:>12.3e} {_ratio(ours_kwh, p):>7} {m:>12.3e} {_ratio(ours_kwh, m):>7}")
    u = ours.cpu_seconds / (ours.duration_s * ours.logical_cpus)
    print(f"CPU ratio the two process models predict at this load (u = {u:.2f}): greenci (0.12 + 0.88 u) / "
          f"codecarbon-process u = {(0.12 + 0.88 * u) / u:.2f}; codecarbon also charges 0 W for its first 1 s "
          "interval, and RAM >= 10 W (two 5 W DIMMs) however little the process holds")
    print(f"greenci method: {ours.method} ({ours.method_note})")
    print(f"codecarbon: cpu_power {data['process'].cpu_power:.2f} W (process) / {data['machine'].cpu_power:.2f} W "
          f"(machine), ram_power {data['process'].ram_power:.2f} W / {data['machine'].ram_power:.2f} W; "
          f"greenci mean CPU {ours.cpu_kwh * 3.6e6 / ours.duration_s:.2f} W, RAM "
          f"{ours.ram_kwh * 3.6e6 / ours.duration_s:.3f} W ({ours.peak_rss_bytes / 1e6:.0f} MB resident)")


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 and math.isfinite(a / b) else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="CPU seconds of the busy workload")
    parser.add_argument("--country", default="DEU", help="codecarbon's country_iso_code (offline)")
    parser.add_argument("--no-codecarbon", action="store_true", help="skip the cross-check")
    args = parser.parse_args()
    print_overhead(overhead_rows(args.seconds))
    if not args.no_codecarbon:
        cross_check(args.seconds, args.country)


if __name__ == "__main__":
    main()
