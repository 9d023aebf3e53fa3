"""Node features of the job graph, fitted on the training weeks only.

Why fitted: medians that fill unknown values, the scaling of numbers and the categories kept for one-hot
columns are all learnt from the training nodes, so nothing of the validation or test weeks shapes the
inputs (a category first seen in the test weeks falls into ``other``).

Numbers (log1p where they span orders of magnitude): duration, queue wait, CPU seconds, memory, network
and disk IO, energy (Wh), retry count, workflow size, default branch, hour of week (as sine/cosine of
the week and of the day). A number unknown for some training nodes gets a ``<name>_known`` indicator and
its unknown values the training median; a number unknown for every training node is left out and named
in ``dropped``. Categories (top ``top_k`` of the training nodes, plus ``other``): event, runner, matrix
leg, test framework, repository, workflow.

The run's own duration is known only once it has ended: the models flag failures of finished runs from
what they look like, they do not forecast an outcome before the run starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from greenci.errors import InputError
from greenci.insights.failures.graph import retry_counts
from greenci.insights.failures.history import JobNodes

NUMERIC = ("log_duration_s", "log_queue_s", "log_cpu_s", "log_memory_mb", "log_network_bytes", "log_disk_bytes",
           "log_energy_wh", "retry_count", "log_workflow_size", "default_branch", "week_sin", "week_cos",
           "day_sin", "day_cos")
CATEGORICAL = ("event", "runner", "matrix_leg", "test_framework", "repo", "workflow")
DEFAULT_TOP_K = 12
WEEK_S = 7 * 86400


def hour_of_week(submitted_s: np.ndarray) -> np.ndarray:
    """Hours since Monday 00:00 UTC (0..167); 1970-01-01 was a Thursday."""
    return ((np.asarray(submitted_s, dtype=np.int64) // 3600) + 72) % 168


def raw_numbers(nodes: JobNodes) -> np.ndarray:
    """The :data:`NUMERIC` columns before filling and scaling, (n, len(NUMERIC)); NaN = unknown."""
    how = hour_of_week(nodes.submitted_s).astype(np.float64)
    hod = how % 24
    with np.errstate(invalid="ignore"):
        cols = [
            np.log1p(np.maximum(nodes.duration_s, 0)), np.log1p(np.maximum(nodes.queue_s, 0)),
            np.log1p(np.maximum(nodes.cpu_s, 0)), np.log1p(np.maximum(nodes.memory_mb, 0)),
            np.log1p(np.maximum(nodes.network_bytes, 0)), np.log1p(np.maximum(nodes.disk_bytes, 0)),
            np.log1p(np.maximum(nodes.energy_kwh, 0) * 1000.0), retry_counts(nodes),
            np.log1p(np.maximum(nodes.workflow_size, 0)), nodes.default_branch.astype(np.float64),
            np.sin(2 * np.pi * how / 168), np.cos(2 * np.pi * how / 168),
            np.sin(2 * np.pi * hod / 24), np.cos(2 * np.pi * hod / 24),
        ]
    return np.stack(cols, axis=1)


@dataclass(frozen=True)
class FeatureSpec:
    """What was learnt from the training nodes: kept numbers, fill values, scaling, kept categories."""

    numeric: tuple[str, ...]
    indicators: tuple[str, ...]
    fill: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    categories: tuple[tuple[str, tuple[str, ...]], ...]
    dropped: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        cats = tuple(f"{c}={v}" for c, values in self.categories for v in (*values, "other"))
        return (*self.numeric, *(f"{n}_known" for n in self.indicators), *cats)


def fit_features(nodes: JobNodes, train: np.ndarray, *, top_k: int = DEFAULT_TOP_K) -> FeatureSpec:
    """Learn the feature transform from the nodes where ``train`` is True."""
    train = np.asarray(train, dtype=bool)
    if train.shape != (len(nodes),) or not train.any():
        raise InputError("the training mask selects no node: give a history with runs before the test weeks",
                         field="train")
    if top_k < 1:
        raise InputError(f"top_k {top_k} must be at least 1", field="top_k")
    raw = raw_numbers(nodes)[train]
    known = np.isfinite(raw)
    keep = known.any(axis=0)
    numeric = tuple(n for n, k in zip(NUMERIC, keep, strict=True) if k)
    dropped = tuple(n for n, k in zip(NUMERIC, keep, strict=True) if not k)
    raw, known = raw[:, keep], known[:, keep]
    fill = np.array([np.median(raw[known[:, j], j]) for j in range(raw.shape[1])])
    indicators = tuple(n for n, partial in zip(numeric, ~known.all(axis=0), strict=True) if partial)
    filled = np.where(known, raw, fill[None, :])
    mean, std = filled.mean(axis=0), filled.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    categories = []
    for name in CATEGORICAL:
        values, counts = np.unique(getattr(nodes, name)[train].astype(str), return_counts=True)
        order = np.lexsort((values, -counts))
        kept = tuple(str(v) for v in values[order][:top_k] if v != "")
        if kept:
            categories.append((name, kept))
    return FeatureSpec(numeric=numeric, indicators=indicators, fill=tuple(map(float, fill)),
                       mean=tuple(map(float, mean)), std=tuple(map(float, std)), categories=tuple(categories),
                       dropped=dropped)


def transform(nodes: JobNodes, spec: FeatureSpec) -> np.ndarray:
    """The (n, len(spec.names)) float32 feature matrix of all nodes under ``spec``."""
    import pandas as pd

    raw_all = raw_numbers(nodes)
    pos = [NUMERIC.index(n) for n in spec.numeric]
    raw = raw_all[:, pos]
    known = np.isfinite(raw)
    filled = np.where(known, raw, np.asarray(spec.fill)[None, :])
    scaled = (filled - np.asarray(spec.mean)[None, :]) / np.asarray(spec.std)[None, :]
    ind = np.stack([known[:, spec.numeric.index(n)] for n in spec.indicators], axis=1).astype(np.float64) \
        if spec.indicators else np.zeros((len(nodes), 0))
    blocks = [scaled, ind]
    for name, kept in spec.categories:
        values = getattr(nodes, name).astype(str)
        code = pd.Categorical(values, categories=list(kept)).codes.astype(np.int64)
        code = np.where(code < 0, len(kept), code)
        blocks.append(np.eye(len(kept) + 1)[code])
    return np.concatenate(blocks, axis=1).astype(np.float32)


__all__ = ["CATEGORICAL", "DEFAULT_TOP_K", "NUMERIC", "FeatureSpec", "fit_features", "hour_of_week", "raw_numbers",
           "transform"]
