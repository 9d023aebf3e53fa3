"""The comparison of PPO with LTS, greenci and the oracle on a held-out period: a record, Markdown and a PNG."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenci.insights.control.baselines import MethodResult


@dataclass(frozen=True)
class ControlReport:
    """What one evaluation found, with the provenance every number needs."""

    methods: tuple[MethodResult, ...]
    regions: tuple[str, ...]
    jobs: int
    train_span: tuple[str, str]  # intensity slots the model was trained on (UTC, ISO)
    eval_span: tuple[str, str]  # intensity slots of the held-out period
    forecast: str
    synthetic_intensity: bool
    synthetic_jobs: bool
    jobs_source: str
    jobs_span: tuple[str, str] = ("", "")  # first and last arrival of the held-out jobs
    energy: dict[str, Any] = field(default_factory=dict)
    tuned: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def by_name(self, name: str) -> MethodResult:
        for m in self.methods:
            if m.name == name:
                return m
        raise KeyError(name)

    def label(self) -> str:
        parts = [p for p, on in (("synthetic intensity", self.synthetic_intensity),
                                 ("synthetic jobs", self.synthetic_jobs)) if on]
        return f" ({', '.join(parts)})" if parts else ""

    def as_dict(self) -> dict[str, Any]:
        return {"methods": [m.as_dict() for m in self.methods], "regions": list(self.regions), "jobs": self.jobs,
                "train_span": list(self.train_span), "eval_span": list(self.eval_span), "forecast": self.forecast,
                "synthetic_intensity": self.synthetic_intensity, "synthetic_jobs": self.synthetic_jobs,
                "jobs_source": self.jobs_source, "jobs_span": list(self.jobs_span),
                "energy_of_this_run": self.energy, "tuned": self.tuned,
                "notes": list(self.notes)}


def table_rows(report: ControlReport) -> list[list[str]]:
    """One row per method: name, kg, reduction, misses, delayed-attended, shifted, P95 wait, decided on."""
    rows = []
    for m in report.methods:
        red = "—" if math.isnan(m.reduction_vs_round_robin) else f"{100 * m.reduction_vs_round_robin:.1f} %"
        rows.append([m.name, f"{m.emissions_g / 1000:.2f}", red, str(m.deadline_misses), str(m.delayed_attended),
                     str(m.shifted_jobs), f"{m.wait_p95_s / 3600:.2f}", m.decided_on])
    return rows


HEADERS = ["method", "kgCO2eq", "reduction vs round-robin", "deadline misses", "delayed runs someone waits for",
           "shifted jobs", "wait P95 (h)", "decided on"]


def verdict(report: ControlReport) -> str:
    """Plain words: does PPO beat greenci's heuristic on the held-out period?"""
    try:
        ppo = report.by_name("ppo")
    except KeyError:
        return "PPO was not evaluated."
    heuristics = [m for m in report.methods if m.name.startswith("greenci")]
    if not heuristics:
        return "No greenci heuristic was evaluated beside PPO."
    best = min(heuristics, key=lambda m: m.emissions_g)
    gap = 1.0 - ppo.emissions_g / best.emissions_g if best.emissions_g > 0 else float("nan")
    if ppo.emissions_g < best.emissions_g:
        return (f"PPO emits {100 * gap:.1f} % less than {best.name} on the held-out period "
                f"({ppo.delayed_attended} delayed runs someone waits for vs {best.delayed_attended}).")
    return (f"PPO does NOT beat greenci's heuristic: it emits {100 * -gap:.1f} % more than {best.name} on the "
            "held-out period.")


def markdown(report: ControlReport, figure: str | None = None) -> str:
    lines = [f"# Carbon-aware control: PPO vs LTS, greenci and the oracle{report.label()}", "",
             f"- Jobs: {report.jobs:,} ({report.jobs_source}); regions: {', '.join(report.regions)}",
             f"- Trained on intensity {report.train_span[0]} .. {report.train_span[1]}; evaluated on jobs arriving "
             f"{report.jobs_span[0]} .. {report.jobs_span[1]}, on the grid {report.eval_span[0]} .. "
             f"{report.eval_span[1]} (forecast history included; never seen in training or tuning)",
             f"- Decisions read the forecast {report.forecast} issued at each job's arrival; every method is "
             "accounted on actual intensity and true durations (greenci's accounting); capacity: unlimited runners",
             "", "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(report)]
    lines += ["", f"**{verdict(report)}**", ""]
    if report.tuned:
        lines.append("Tuned on the training year (Optuna, SQLite study):")
        lines += [f"- {name}: " + ", ".join(f"{k} = {v:.4g}" for k, v in params.items())
                  for name, params in report.tuned.items()]
        lines.append("")
    if figure:
        lines += [f"![emissions per method]({figure})", ""]
    lines += [f"- {n}" for n in report.notes]
    if report.energy:
        lines += ["", f"Energy of this run: {report.energy.get('energy_kwh', float('nan')):.3g} kWh "
                      f"({report.energy.get('method', '')})"]
    return "\n".join(lines) + "\n"


def plot(report: ControlReport, path: Path) -> Path:
    """Bar chart of kgCO2eq per method (labelled synthetic where it is)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = [m.name for m in report.methods]
    ax.bar(names, [m.emissions_g / 1000 for m in report.methods], color="#4a7")
    ax.set_ylabel("kgCO2eq (actual)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Held-out {report.eval_span[0][:10]} .. {report.eval_span[1][:10]}{report.label()}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(report: ControlReport, folder: Path, *, stem: str = "report") -> list[Path]:
    """``folder/report.md`` and ``folder/emissions.png``."""
    from greenci.outputs import write_text

    folder.mkdir(parents=True, exist_ok=True)
    png = plot(report, folder / "emissions.png")
    md = write_text(folder / f"{stem}.md", markdown(report, png.name))
    return [Path(md), png]
