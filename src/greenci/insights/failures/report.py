"""The failure-prediction report: a Markdown page and small PNGs (ROC curves, t-SNE maps, loss curves).

Why files: the comparison is read later and side by side (the closing note, docs/failures/). Every
page and figure of a synthetic history says SYNTHETIC. A figure that cannot be drawn (no matplotlib)
is named in the page instead of failing the report: the table is the main result.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

TSNE_MAX_NODES = 1500
FILES = ("report.md", "roc.png", "losses.png")


def _label(result: Any) -> str:
    return " — SYNTHETIC" if result.synthetic else ""


def _fmt(x: Any, spec: str) -> str:
    return format(x, spec) if isinstance(x, (int, float)) and math.isfinite(x) else "—"


def tsne_points(embeddings: np.ndarray, mask: np.ndarray, *, seed: int, max_nodes: int = TSNE_MAX_NODES
                ) -> tuple[np.ndarray, np.ndarray]:
    """2-D t-SNE of the embeddings of up to ``max_nodes`` nodes of ``mask`` (a seeded sample): (ids, points)."""
    from sklearn.manifold import TSNE

    ids = np.flatnonzero(mask)
    if ids.size > max_nodes:
        ids = np.sort(np.random.default_rng(seed).choice(ids, max_nodes, replace=False))
    perplexity = float(min(30.0, max(2.0, (ids.size - 1) / 3)))
    pts = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(embeddings[ids])
    return ids, pts


def write_report(result: Any, out: Path, *, seed: int = 0, energy: Any = None) -> list[Path]:
    """Write ``report.md`` and the PNGs into ``out``; return the paths written."""
    from greenci.outputs import write_text
    from greenci.usecases.failures import comparison_rows, summary

    out.mkdir(parents=True, exist_ok=True)
    figures: list[Path] = []
    missing: list[str] = []
    try:
        import matplotlib

        matplotlib.use("Agg")
        figures += _plots(result, out, seed)
    except ImportError as exc:
        missing.append(f"figures not drawn ({exc}): pip install 'greenci[plot]'")
    doc = summary(result)
    lab = _label(result)
    lines = [f"# CI failure prediction on the job graph{lab}", ""]
    if result.synthetic:
        lines += ["**SYNTHETIC history: generated, not real CI runs. No finding here is about real CI.**", ""]
    sp = doc["split"]
    lines += [
        f"History: {doc['source']}: {doc['nodes']:,} runs/jobs; edges: "
        + ", ".join(f"{v:,} {k}" for k, v in doc["edges"].items()) + f"; {doc['features']} node features.",
        "",
        f"Time-ordered split (weeks start Monday 00:00 UTC): train {sp['train']['weeks']} weeks "
        f"({sp['train']['labelled']:,} runs, {sp['train']['failures']:,} failures), validation from {doc['val_start']} "
        f"{sp['val']['weeks']} weeks ({sp['val']['labelled']:,} runs, {sp['val']['failures']:,} failures), test from "
        f"{doc['test_start']} {sp['test']['weeks']} weeks ({sp['test']['labelled']:,} runs, "
        f"{sp['test']['failures']:,} failures). The F1 threshold and the GNN epoch are chosen on validation.",
        "",
        f"**Verdict:** {doc['verdict']}",
        "",
        "| model | test AUC | test F1 | precision | recall | threshold | val AUC | best epoch | seconds | "
        "energy kWh | energy method |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in comparison_rows(result):
        lines.append(f"| {r['model']} | {_fmt(r['test_auc'], '.3f')} | {_fmt(r['test_f1'], '.3f')} | "
                     f"{_fmt(r['precision'], '.3f')} | {_fmt(r['recall'], '.3f')} | {_fmt(r['threshold'], '.3f')} | "
                     f"{_fmt(r['val_auc'], '.3f')} | {r['best_epoch'] if r['best_epoch'] is not None else '—'} | "
                     f"{_fmt(r['seconds'], '.1f')} | {_fmt(r['energy_kwh'], '.3g')} | {r['energy_method']} |")
    n_test, f_test = sp["test"]["labelled"], sp["test"]["failures"]
    if n_test:
        rate = f_test / n_test
        lines += ["", f"Reference: flagging every test run as failed gives F1 {2 * rate / (1 + rate):.3f}; a random "
                      "score gives AUC 0.5."]
    if energy is not None:
        lines += ["", f"Energy of the whole run (reading, graph, training, report): {energy.describe()}."]
    lines += ["", "## Figures", ""]
    lines += [f"![{p.stem}]({p.name})" for p in figures] or ["(none)"]
    lines += ["", "## Notes", ""] + [f"- {n}" for n in (*doc["notes"], *missing)]
    lines += ["", "Features: " + ", ".join(result.feature_names), ""]
    written = [write_text(out / "report.md", "\n".join(lines) + "\n")]
    return [Path(p) for p in written] + figures


def _plots(result: Any, out: Path, seed: int) -> list[Path]:
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    lab = _label(result)
    paths: list[Path] = []
    test = result.split.test & result.nodes.labelled
    y = result.labels[test]
    fig, ax = plt.subplots(figsize=(4.2, 4.0), dpi=80)
    for o in result.outcomes:
        fpr, tpr, _ = roc_curve(y, o.probabilities[test])
        ax.plot(fpr, tpr, label=f"{o.name} AUC {o.scores.auc:.3f}")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC on the test weeks{lab}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    paths.append(_save(fig, out / "roc.png"))
    gnns = [o for o in result.outcomes if o.losses]
    if gnns:
        fig, ax = plt.subplots(figsize=(4.2, 3.2), dpi=80)
        for o in gnns:
            ax.plot(np.arange(1, len(o.losses) + 1), o.losses, label=o.name)
        ax.set(xlabel="epoch", ylabel="weighted BCE (training weeks)", title=f"GNN training loss{lab}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(_save(fig, out / "losses.png"))
    nodes = result.nodes
    energy = nodes.energy_kwh
    use_energy = bool(np.isfinite(energy[test]).mean() > 0.5) if test.any() else False
    for o in result.outcomes:
        if o.embeddings is None:
            continue
        ids, pts = tsne_points(o.embeddings, result.split.test & nodes.labelled, seed=seed)
        fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.8), dpi=80)
        failed = result.labels[ids].astype(bool)
        axes[0].scatter(pts[~failed, 0], pts[~failed, 1], s=4, c="#4c9a2a", label="not failed")
        axes[0].scatter(pts[failed, 0], pts[failed, 1], s=4, c="#c0392b", label="failed")
        axes[0].legend(fontsize=7, markerscale=3)
        axes[0].set_title("by outcome", fontsize=9)
        values = np.log10(energy[ids] * 1000) if use_energy else np.log10(np.maximum(nodes.duration_s[ids], 1))
        sc = axes[1].scatter(pts[:, 0], pts[:, 1], s=4, c=values, cmap="viridis")
        fig.colorbar(sc, ax=axes[1], label="log10 energy Wh" if use_energy else "log10 duration s")
        axes[1].set_title("by energy" if use_energy else "by duration (energy not measured in this history)",
                          fontsize=9)
        for a in axes:
            a.set_xticks([])
            a.set_yticks([])
        fig.suptitle(f"t-SNE of {o.name.upper()} node embeddings, test weeks ({ids.size} runs){lab}", fontsize=10)
        fig.tight_layout()
        paths.append(_save(fig, out / f"tsne_{o.name}.png"))
    return paths


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from greenci.outputs import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


__all__ = ["FILES", "TSNE_MAX_NODES", "tsne_points", "write_report"]
