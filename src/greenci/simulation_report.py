"""Tables, JSON, CSV/Parquet and figures of a :class:`~greenci.simulation.SimulationResult`."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from greenci.errors import ConfigError, InputError
from greenci.outputs import atomic_path, write_text
from greenci.simulation import SimulationResult


def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def provenance(result: SimulationResult) -> list[str]:
    """What the reader must know about where the numbers come from."""
    lines = []
    lines.append("intensity: SYNTHETIC (greenci model)" if result.synthetic_intensity
                 else "intensity: real data")
    lines.append("CI runs: SYNTHETIC (seeded generator)" if result.synthetic_jobs else "CI runs: real history")
    lines.append(f"decisions on forecast '{result.forecast}', emissions accounted on actual intensity"
                 + (" (perfect forecast: an oracle)" if result.forecast == "perfect" else ""))
    est = result.estimator
    if est.get("jobs_estimated"):
        lines.append(f"duration estimate (earlier runs only): MAE {est['mae_s'] / 60:.1f} min, "
                     f"{100 * est['under_share']:.1f} % of runs under-estimated, median estimate/actual "
                     f"{est['median_ratio']:.2f}, on {int(est['jobs_estimated']):,} runs with history or a "
                     "user estimate")
    late = {s.name: s.late_on_capped_runtime for s in result.strategies if s.late_on_capped_runtime}
    if late:
        lines.append("deadline misses count runs whose runtime is known; runs whose recorded runtime was implausible "
                     "and capped ended late too, shown apart as '+N capped' ("
                     + ", ".join(f"{k}: {v}" for k, v in late.items()) + "): their true runtime is unknown")
    for name, pe in result.pool_energy.items():
        lines += [f"pools under {name}: {n}" for n in pe.notes]
    return lines + list(result.notes)


def simulation_json(result: SimulationResult, reference: dict[str, float] | None = None,
                    generated: dict[str, float] | None = None) -> dict[str, Any]:
    """The JSON document of ``greenci simulate``; ``generated``: reductions of the generated-run reproduction."""
    rows = []
    for s in result.strategies:
        row = asdict(s)
        for k in ("emissions_g", "reduction_vs_round_robin", "wait_p50_s", "wait_p95_s", "wait_max_s", "expected_g"):
            row[k] = _num(row[k])
        if reference and s.name in reference:
            row["study_reduction"] = reference[s.name]
        if generated and s.name in generated:
            row["generated_runs_reduction"] = generated[s.name]
        rows.append(row)
    doc: dict[str, Any] = {
        "strategies": rows, "regions": list(result.regions), "jobs": result.jobs,
        "span": {"first_arrival": result.span[0], "last_arrival": result.span[1]},
        "forecast": result.forecast, "synthetic_intensity": result.synthetic_intensity,
        "synthetic_jobs": result.synthetic_jobs, "notes": provenance(result),
        "duration_estimator": {k: _num(v) for k, v in result.estimator.items()},
        "timeline": timeline_json(result),
        "repositories": [{"repo": repo, "jobs": result.jobs_by_repo[repo],
                          "emissions_g": {k: _num(v) for k, v in per.items()},
                          "reduction_vs_round_robin": _reductions(per)}
                         for repo, per in result.by_repo.items()],
    }
    if result.pools is not None:
        doc["pools"] = pools_json(result)
        for row in rows:
            if row["name"] in result.pool_energy:
                row["pool"] = pool_row(result, row["name"])
    return doc


def pools_json(result: SimulationResult) -> dict[str, Any]:
    """The pools a replay assumed (only when it was given pools)."""
    if result.pools is None:
        raise InputError("this replay was given no pools: replay with pools (simulate --pools FILE)", field="pools")
    return {"source": result.pools.source, "synthetic": result.pools.source == "synthetic",
            "regions": {p.region: {"runners": p.runners, "idle_w": p.idle_w, "busy_w": p.busy_w,
                                   "start_s": p.start_s, "start_kwh": p.start_kwh, "min_runners": p.min_runners}
                        for p in result.pools.pools},
            "unlimited_regions": [r for r in result.regions if result.pools.get(r) is None]}


def pool_row(result: SimulationResult, name: str) -> dict[str, Any]:
    """One strategy's pool energy: node-hours busy and idle, kWh, gCO2eq, peak jobs vs runners, waits."""
    pe = result.pool_energy[name]
    s = result.by_name(name)
    return {"busy_node_h": pe.busy_node_h, "idle_node_h": pe.idle_node_h, "energy_kwh": pe.total_kwh,
            "emissions_g": _num(pe.total_g), "wait_p50_s": _num(s.wait_p50_s), "wait_p95_s": _num(s.wait_p95_s),
            "overbooked": any(pe.overbooked.values()),
            "by_region": {r: {k: (_num(v) if isinstance(v, float) else v) for k, v in row.items()}
                          for r, row in pe.by_region().items()}}


def pool_table(result: SimulationResult) -> Any:
    """Per strategy: the pools' node-hours, kWh and kgCO2eq, waits, and where jobs overbooked a pool."""
    from rich.table import Table

    if result.pools is None:
        raise InputError("this replay was given no pools: replay with pools (simulate --pools FILE)", field="pools")
    title = f"Runner pools ({result.pools.source}): busy and idle nodes"
    if result.pools.source == "synthetic" or result.synthetic_intensity or result.synthetic_jobs:
        title += " — SYNTHETIC input"
    table = Table(title=title, caption="overbooked: most jobs at once / runners, where above the pool's runners")
    for c in ("strategy", "node-h busy", "node-h idle", "pool kWh", "pool kgCO2eq", "wait P50", "wait P95",
              "overbooked"):
        table.add_column(c, justify="left" if c in ("strategy", "overbooked") else "right")
    for s in result.strategies:
        pe = result.pool_energy.get(s.name)
        if pe is None:
            continue
        hot = [f"{r} {int(m)}/{int(c)}" for r, m, c in zip(pe.regions, pe.max_concurrent, pe.capacity, strict=True)
               if m > c]
        table.add_row(s.name, f"{pe.busy_node_h:,.1f}", f"{pe.idle_node_h:,.1f}", f"{pe.total_kwh:,.2f}",
                      f"{pe.total_g / 1000:,.3f}", _dur(s.wait_p50_s), _dur(s.wait_p95_s),
                      ", ".join(hot) if hot else "no")
    return table


def _timeline_index(n: int, points: int) -> np.ndarray:
    """At most ``points`` evenly spaced slot indices, always including the last."""
    if n <= points:
        return np.arange(n)
    return np.unique(np.r_[np.linspace(0, n - 1, points).round().astype(np.int64), n - 1])


def timeline_json(result: SimulationResult, points: int = 400) -> dict[str, Any]:
    """Running jobs and cumulative emissions per strategy (Figure 2), thinned to at most ``points`` instants."""
    tl = result.timeline
    idx = _timeline_index(tl.times.size, points)
    return {
        "time_utc": [str(t) + "Z" for t in tl.times[idx].astype("datetime64[s]")],
        "running": {k: v[idx].tolist() for k, v in tl.running.items()},
        "cumulative_g": {k: [float(x) for x in v[idx]] for k, v in tl.cumulative_g.items()},
        "full_resolution": bool(idx.size == tl.times.size),
    }


def timeline_table(result: SimulationResult, points: int = 17) -> Any:
    """Figure 2 as a table: running jobs and cumulative kgCO2eq per strategy at a few instants."""
    from rich.table import Table

    tl = result.timeline
    idx = _timeline_index(tl.times.size, points)
    table = Table(title="Timeline (Figure 2; figure2.png with -o): jobs running at the instant / kgCO2eq of all "
                        "jobs started by the end of that slot")
    table.add_column("time (UTC)")
    for name in tl.running:
        table.add_column(name, justify="right")
    for i in idx:
        table.add_row(str(tl.times[i])[:16], *[f"{tl.running[n][i]:,} / {tl.cumulative_g[n][i] / 1000:,.1f}"
                                               for n in tl.running])
    return table


def _reductions(per: dict[str, float]) -> dict[str, float | None]:
    base = per.get("round-robin")
    if not base:
        return {}
    return {k: _num(1.0 - v / base) for k, v in per.items()}


def simulation_table(result: SimulationResult, reference: dict[str, float] | None = None,
                     generated: dict[str, float] | None = None) -> Any:
    """A rich table: one row per strategy, the study's figure beside greenci's where one exists."""
    from rich.table import Table

    synthetic = result.synthetic_intensity or result.synthetic_jobs
    table = Table(title=f"{result.jobs:,} runs x {len(result.regions)} regions"
                  + (" — SYNTHETIC input" if synthetic else ""),
                  caption="\n".join(provenance(result)))
    cols = ["strategy", "emissions kgCO2eq", "vs round-robin"]
    if reference:
        cols.append("study (paper)")
    if generated:
        cols.append("generated runs")
    cols += ["deadline misses", "wait P50", "wait P95", "wait max", "shifted"]
    chains = any(s.needs_broken is not None for s in result.strategies)
    if chains:
        cols.append("needs broken")
    for c in cols:
        table.add_column(c, justify="left" if c == "strategy" else "right")
    for s in result.strategies:
        cells = [s.name, f"{s.emissions_g / 1000:,.2f}", _pct(-s.reduction_vs_round_robin)]
        if reference:
            cells.append(_pct(-reference[s.name]) if s.name in reference else "")
        if generated:
            cells.append(_pct(-generated[s.name]) if s.name in generated else "")
        misses = str(s.deadline_misses) + (f" (+{s.late_on_capped_runtime} capped)" if s.late_on_capped_runtime else "")
        cells += [misses, _dur(s.wait_p50_s), _dur(s.wait_p95_s), _dur(s.wait_max_s),
                  f"{s.shifted_jobs:,}"]
        if chains:
            cells.append("-" if s.needs_broken is None else f"{s.needs_broken:,}")
        table.add_row(*cells)
    return table


def repo_table(result: SimulationResult) -> Any:
    """Reduction vs round-robin per repository and strategy."""
    from rich.table import Table

    table = Table(title="Per repository: change vs round-robin")
    table.add_column("repository")
    table.add_column("runs", justify="right")
    names = [s.name for s in result.strategies if s.name != "round-robin"]
    for n in names:
        table.add_column(n, justify="right")
    for repo, per in sorted(result.by_repo.items(), key=lambda kv: -result.jobs_by_repo[kv[0]]):
        red = _reductions(per)
        table.add_row(repo, f"{result.jobs_by_repo[repo]:,}", *[_pct(-(red.get(n) or 0.0)) for n in names])
    return table


def load_table(result: SimulationResult) -> Any:
    """Jobs per region and strategy."""
    from rich.table import Table

    table = Table(title="Jobs per region")
    table.add_column("region")
    for s in result.strategies:
        table.add_column(s.name, justify="right")
    for r in result.regions:
        table.add_row(r, *[f"{s.jobs_by_region[r]:,}" for s in result.strategies])
    return table


def _pct(share: float) -> str:
    value = 100 * share
    return "0.00 %" if abs(value) < 0.005 else f"{value:+.2f} %"


def _dur(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def write_outputs(result: SimulationResult, outdir: Path, reference: dict[str, float] | None = None) -> list[Path]:
    """summary.json, strategies.csv, pools.csv (given pools), timeline.csv, placements (Parquet or CSV), figure2.png."""
    import json

    import pandas as pd

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    doc = simulation_json(result, reference)
    written.append(write_text(outdir / "summary.json", json.dumps(doc, indent=2, allow_nan=False) + "\n"))
    flat = pd.DataFrame([{k: v for k, v in row.items() if not isinstance(v, dict)} for row in doc["strategies"]])
    with atomic_path(outdir / "strategies.csv") as tmp:
        flat.to_csv(tmp, index=False)
    written.append(outdir / "strategies.csv")
    if result.pool_energy:
        synthetic = result.synthetic_intensity or result.synthetic_jobs or (
            result.pools is not None and result.pools.source == "synthetic")
        pool_rows = [{"strategy": name, "region": r, **row, "synthetic_input": synthetic}
                     for name, pe in result.pool_energy.items() for r, row in pe.by_region().items()]
        with atomic_path(outdir / "pools.csv") as tmp:
            pd.DataFrame(pool_rows).to_csv(tmp, index=False)
        written.append(outdir / "pools.csv")
    tl = result.timeline
    frame = {"time_utc": pd.to_datetime(tl.times).strftime("%Y-%m-%dT%H:%M:%SZ")}
    for name in tl.running:
        frame[f"running:{name}"] = tl.running[name]
        frame[f"cumulative_g:{name}"] = tl.cumulative_g[name]
    with atomic_path(outdir / "timeline.csv") as tmp:
        pd.DataFrame(frame).to_csv(tmp, index=False)
    written.append(outdir / "timeline.csv")
    if result.placements:
        from greenci.scheduling.eligibility import REASONS

        parts = []
        for name, p in result.placements.items():
            parts.append(pd.DataFrame({
                "strategy": name, "job": np.arange(p.region.size), "region": np.asarray(result.regions)[p.region],
                "start_utc": pd.to_datetime(p.start_s.astype(np.int64), unit="s", utc=True),
                "expected_g": p.expected_g, "emissions_g": result.emissions_by_job[name],
                "reason": np.asarray(REASONS, dtype=object)[p.reason],
            }))
        placements = pd.concat(parts, ignore_index=True)
        try:
            import pyarrow  # noqa: F401 - Parquet needs it; without it the placements go to CSV

            with atomic_path(outdir / "placements.parquet") as tmp:
                placements.to_parquet(tmp, index=False)
            written.append(outdir / "placements.parquet")
        except ImportError:
            with atomic_path(outdir / "placements.csv") as tmp:
                placements.to_csv(tmp, index=False)
            written.append(outdir / "placements.csv")
    try:
        written.append(plot_timelines(result, outdir / "figure2.png"))
    except ConfigError:
        pass  # no matplotlib: the CSVs hold the same numbers
    return written


def plot_timelines(result: SimulationResult, path: Path) -> Path:
    """Running jobs and accumulated emissions over time, one panel pair per strategy (the study's Figure 2)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError("plotting needs matplotlib: pip install 'greenci[plot]'") from exc
    tl = result.timeline
    names = list(tl.running)
    times = tl.times.astype("datetime64[s]").astype(object)
    fig, axes = plt.subplots(len(names), 1, figsize=(11, 1.7 * len(names) + 1), sharex=True, dpi=100,
                             squeeze=False)
    top = max(float(v[-1]) for v in tl.cumulative_g.values()) / 1000 or 1.0
    for ax, name in zip(axes[:, 0], names, strict=True):
        ax.fill_between(times, tl.running[name], step="post", alpha=0.5, color="tab:blue")
        ax.set_ylabel("jobs", fontsize=8)
        ax.set_title(name, fontsize=9, loc="left")
        twin = ax.twinx()
        twin.plot(times, tl.cumulative_g[name] / 1000, color="tab:red", linewidth=1.2)
        twin.set_ylim(0, top * 1.05)
        twin.set_ylabel("kgCO2eq", fontsize=8, color="tab:red")
    label = "Running jobs (blue) and accumulated emissions (red)"
    if result.synthetic_intensity or result.synthetic_jobs:
        label += " — SYNTHETIC input"
    fig.suptitle(label, fontsize=10)
    fig.autofmt_xdate()
    fig.tight_layout()
    try:
        with atomic_path(Path(path)) as tmp:
            fig.savefig(tmp)
    finally:
        plt.close(fig)
    return Path(path)
