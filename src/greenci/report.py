"""Tables and figures for people: rich tables and matplotlib (Agg) plots, never used by the core."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from greenci.errors import ConfigError
from greenci.grid import IntensityGrid, RegionSummary
from greenci.outputs import atomic_path

SYNTHETIC_NOTE = "synthetic data (greenci's built-in model), not a measurement of any grid"


def summary_json(summaries: Sequence[RegionSummary], sources: Sequence[str], synthetic: bool) -> dict[str, Any]:
    """The JSON document of ``greenci intensity summary``."""
    regions = []
    for s in summaries:
        row = asdict(s)
        row["greenest_hours_utc"] = list(s.greenest_hours_utc)
        regions.append(row)
    doc: dict[str, Any] = {"regions": regions, "sources": list(sources), "synthetic": synthetic}
    if synthetic:
        doc["note"] = SYNTHETIC_NOTE
    return doc


def summary_table(summaries: Sequence[RegionSummary], synthetic: bool) -> Any:
    """A rich table of region summaries."""
    from rich.table import Table

    title = "Carbon intensity by region (gCO2eq/kWh)"
    table = Table(title=title + (" — SYNTHETIC" if synthetic else ""),
                  caption=SYNTHETIC_NOTE if synthetic else None)
    for col in ("region", "start", "end", "step", "slots", "mean", "min", "max", "gaps", "greenest h (UTC)"):
        table.add_column(col, justify="left" if col in ("region", "start", "end") else "right")
    for s in summaries:
        table.add_row(
            s.region, s.start[:16], s.end[:16], f"{s.step_s // 60} min", str(s.slots),
            f"{s.mean_g_per_kwh:.0f}", f"{s.min_g_per_kwh:.0f}", f"{s.max_g_per_kwh:.0f}",
            f"{100 * s.gap_share:.1f} %", " ".join(f"{h:02d}" for h in s.greenest_hours_utc),
        )
    return table


def key_value_table(title: str, rows: Sequence[tuple[str, str]], caption: str | None = None) -> Any:
    """A two-column rich table."""
    from rich.table import Table

    table = Table(title=title, show_header=False, caption=caption)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    for k, v in rows:
        table.add_row(k, v)
    return table


def plot_grid(grid: IntensityGrid, path: Path, title: str | None = None) -> Path:
    """Line plot of every region of a grid to a PNG; synthetic grids say so in the title."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError("plotting needs matplotlib: pip install 'greenci[plot]'") from exc
    import numpy as np

    times = grid.times.astype("datetime64[s]").astype(object)
    fig, ax = plt.subplots(figsize=(11, 5), dpi=110)
    for region, row in zip(grid.regions, grid.values, strict=True):
        ax.step(times, row, where="post", label=region, linewidth=0.9)
    label = title or "Carbon intensity"
    if grid.synthetic:
        label += " — SYNTHETIC (greenci model, not real data)"
    ax.set_title(label)
    ax.set_ylabel(f"gCO2eq/kWh ({grid.signal})")
    ax.set_xlabel("time (UTC)")
    if len(grid.regions) <= 16:
        ax.legend(ncol=max(1, int(np.ceil(len(grid.regions) / 8))), fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp)
    finally:
        plt.close(fig)
    return path
