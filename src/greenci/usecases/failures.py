"""Use case: compare GCN, GAT and gradient boosting at flagging CI failures on a run history's job graph.

What the CLI and the benchmark call. It reads the history (or takes synthetic nodes), builds the job
graph, fits the features on the training weeks, trains each model on the same time-ordered split and
scores it on the held-out test weeks. Each model's training and prediction is metered
(:class:`~greenci.insights.selfenergy.SelfEnergy`, which uses ``greenci.energy.measure()`` when it can),
so the comparison says what each model cost.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from greenci.errors import InputError
from greenci.insights.failures.graph import DEFAULT_SAME_COMMIT_K, EDGE_KINDS, build_edges, causal_edges
from greenci.insights.failures.history import JobNodes
from greenci.insights.failures.models import GNN_MODELS, MODELS, Scores, Split

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class FailureRequest:
    """What to compare and how. ``history`` files, or ``nodes`` given directly (the synthetic demo)."""

    history: tuple[PathLike, ...] = ()
    models: tuple[str, ...] = MODELS
    test_weeks: int = 8
    val_weeks: int = 4
    seed: int = 0
    same_commit_k: int = DEFAULT_SAME_COMMIT_K
    epochs: int = 150
    hidden: int = 64
    records: tuple[PathLike, ...] = ()

    def __post_init__(self) -> None:
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or not self.models:
            raise InputError(f"--models {','.join(self.models) or '(empty)'}: use one or more of {', '.join(MODELS)} "
                             "separated by commas", field="models")
        if len(set(self.models)) != len(self.models):
            raise InputError(f"--models {','.join(self.models)} names a model twice", field="models")
        if not 0 <= self.seed < 2**32:
            raise InputError(f"--seed {self.seed} must be a whole number from 0 to {2**32 - 1}", field="seed")
        if not 8 <= self.hidden <= 512 or self.hidden % 8:
            raise InputError(f"hidden {self.hidden} must be a multiple of 8 from 8 to 512", field="hidden")


@dataclass(frozen=True, eq=False)
class ModelOutcome:
    """One model's test scores, its cost and (GNNs) its training curve and node embeddings."""

    name: str
    scores: Scores
    energy: Any  # greenci.insights.selfenergy.EnergyUse
    seconds: float
    probabilities: np.ndarray
    losses: tuple[float, ...] = ()
    best_epoch: int | None = None
    embeddings: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class FailureComparison:
    """Everything the report shows: the graph, the split, and one outcome per model."""

    nodes: JobNodes
    edge_counts: dict[str, int]
    split: Split
    labels: np.ndarray
    outcomes: tuple[ModelOutcome, ...]
    feature_names: tuple[str, ...]
    dropped_features: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def synthetic(self) -> bool:
        return self.nodes.synthetic

    def counts(self, mask: np.ndarray) -> tuple[int, int]:
        """(labelled runs, failures) under ``mask``."""
        m = mask & self.nodes.labelled
        return int(m.sum()), int(self.labels[m].sum())

    def verdict(self) -> str:
        """One plain sentence: does a GNN beat the baseline on test AUC?"""
        by = {o.name: o for o in self.outcomes}
        if "gbdt" not in by or not any(k in by for k in GNN_MODELS):
            return "no GNN-versus-baseline comparison (run gbdt and at least one of gcn, gat)"
        base = by["gbdt"].scores
        lines = []
        for k in GNN_MODELS:
            if k in by:
                s = by[k].scores
                gap = s.auc - base.auc
                word = "beats" if gap > 0.005 else ("ties with" if abs(gap) <= 0.005 else "does NOT beat")
                lines.append(f"{k.upper()} {word} the gradient-boosting baseline on test AUC ({s.auc:.3f} vs "
                             f"{base.auc:.3f}, {gap:+.3f}; F1 {s.f1:.3f} vs {base.f1:.3f})")
        text = "; ".join(lines) + "."
        gnn_val = max(by[k].scores.val_auc for k in GNN_MODELS if k in by)
        gnn_test = max(by[k].scores.auc for k in GNN_MODELS if k in by)
        if (gnn_test > base.auc) != (gnn_val > base.val_auc):
            text += (f" On the validation weeks the order is the other way (baseline val AUC {base.val_auc:.3f}, best "
                     f"GNN {gnn_val:.3f}): one seed and one split, so read a gap this small as no clear winner.")
        return text


def compare_failure_models(request: FailureRequest, nodes: JobNodes | None = None) -> FailureComparison:
    """Read, build the graph, split by weeks, train and score every requested model (see module doc)."""
    from greenci.insights.failures.features import fit_features, transform
    from greenci.insights.failures.models import check_split, require_torch, score, time_split, training_labels
    from greenci.insights.selfenergy import SelfEnergy

    if any(m in GNN_MODELS for m in request.models):
        require_torch()  # before any reading: a missing extra is said at once
    if nodes is None:
        if not request.history:
            raise InputError("give at least one HISTORY file or folder of CI runs", field="history")
        from greenci.insights.failures.history import attach_records, read_history

        nodes = read_history(request.history)
        if request.records:
            from greenci.energy.records import read_records

            nodes = attach_records(nodes, [r for p in request.records for r in read_records(p)])
    labelled = nodes.labelled
    if not labelled.any():
        raise InputError("the history has no conclusion for any run (success, failure, ...): the failure model "
                         "needs outcomes; GHAminer, GitHub REST and Zuul histories have them", field="history")
    labels = nodes.failed.astype(np.int64)
    split = time_split(nodes.submitted_s, test_weeks=request.test_weeks, val_weeks=request.val_weeks)
    check_split(labels, labelled, split)
    edges = build_edges(nodes, same_commit_k=request.same_commit_k)
    message_edges = causal_edges(edges, nodes.submitted_s)
    spec = fit_features(nodes, split.train)
    x = transform(nodes, spec)
    y_train = training_labels(labels, labelled, split)
    y_val = np.where(split.val & labelled, labels, -1)
    val_rows, test_rows = split.val & labelled, split.test & labelled
    outcomes = []
    for name in request.models:
        t0 = time.perf_counter()
        meter = SelfEnergy()
        with meter:
            outcome = _run_model(name, x, message_edges, y_train, y_val, split, request)
        p = outcome["p"]
        s = score(labels[val_rows], p[val_rows], labels[test_rows], p[test_rows])
        outcomes.append(ModelOutcome(name=name, scores=s, energy=meter.result, seconds=time.perf_counter() - t0,
                                     probabilities=p, losses=outcome.get("losses", ()),
                                     best_epoch=outcome.get("best_epoch"), embeddings=outcome.get("emb")))
    other = ~np.isin(np.char.lower(nodes.conclusion.astype(str)), ("success", "failure", "timed_out",
                                                                   "startup_failure", ""))
    notes = list(nodes.notes) + [
        f"label: failure = conclusion failure, timed_out or startup_failure; {int(other.sum()):,} runs with another "
        "conclusion (cancelled, skipped, ...) count as not failed",
        "features include each run's own duration, known only once it has ended: the models flag failed runs from "
        "what they look like, they do not forecast outcomes before a run starts",
        "GNN messages flow only from earlier to later runs; the GNNs train on the training-week subgraph alone",
    ]
    if spec.dropped:
        notes.append("features unknown for every training run, left out: " + ", ".join(spec.dropped))
    return FailureComparison(nodes=nodes, edge_counts={k: edges.count(k) for k in EDGE_KINDS}, split=split,
                             labels=labels, outcomes=tuple(outcomes), feature_names=spec.names,
                             dropped_features=spec.dropped, notes=tuple(notes))


def _run_model(name: str, x: np.ndarray, edge_index: np.ndarray, y_train: np.ndarray, y_val: np.ndarray,
               split: Split, request: FailureRequest) -> dict[str, Any]:
    from greenci.insights.failures.models import fit_gbdt, fit_gnn, predict_gnn

    if name == "gbdt":
        model = fit_gbdt(x, y_train, seed=request.seed)
        return {"p": model.predict_proba(x)[:, 1].astype(np.float64)}
    fit = fit_gnn(name, x, edge_index, y_train, split.train, val_labels=y_val, val_nodes=split.before_test,
                  seed=request.seed, epochs=request.epochs, hidden=request.hidden)
    p, emb = predict_gnn(fit, x, edge_index)
    return {"p": p, "emb": emb, "losses": fit.losses, "best_epoch": fit.best_epoch}


def comparison_rows(result: FailureComparison) -> list[dict[str, Any]]:
    """One plain dict per model for tables and JSON."""
    rows = []
    for o in result.outcomes:
        s = o.scores
        rows.append({"model": o.name, "test_auc": s.auc, "test_f1": s.f1, "precision": s.precision,
                     "recall": s.recall, "threshold": s.threshold, "val_auc": s.val_auc,
                     "best_epoch": o.best_epoch, "seconds": o.seconds, "energy_kwh": o.energy.energy_kwh,
                     "energy_method": o.energy.method})
    return rows


def summary(result: FailureComparison) -> dict[str, Any]:
    """The run's facts for tables and JSON: nodes, edges, the split and its label counts."""
    sp = result.split
    parts = {}
    for name, mask, weeks in (("train", sp.train, sp.weeks[0]), ("val", sp.val, sp.weeks[1]),
                              ("test", sp.test, sp.weeks[2])):
        n, f = result.counts(mask)
        parts[name] = {"weeks": int(weeks), "runs": int(mask.sum()), "labelled": n, "failures": f}
    return {"synthetic": result.synthetic, "source": result.nodes.source, "nodes": len(result.nodes),
            "edges": result.edge_counts, "features": len(result.feature_names), "split": parts,
            "val_start": _iso(sp.val_start_s), "test_start": _iso(sp.test_start_s), "verdict": result.verdict(),
            "notes": list(result.notes)}


def _iso(s: int) -> str:
    return np.datetime_as_string(np.datetime64(int(s), "s"), unit="s") + "Z"


def parse_models(text: str) -> tuple[str, ...]:
    """``"gcn,gat,gbdt"`` -> ``("gcn", "gat", "gbdt")`` (checked by :class:`FailureRequest`)."""
    return tuple(m.strip().lower() for m in text.split(",") if m.strip())


__all__ = ["FailureComparison", "FailureRequest", "ModelOutcome", "compare_failure_models", "comparison_rows",
           "parse_models", "summary"]
