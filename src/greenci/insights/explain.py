"""SHAP and LIME wrappers with plain results, and their figures (matplotlib, Agg).

Why wrappers: both libraries return shapes that differ by model type and version (a list per class,
an (n, k, classes) array, a scalar or per-class base value). These functions return one shape each,
so callers and tests do not depend on library versions:

- :func:`shap_values` -> :class:`ShapResult` with ``values`` of shape (rows, features) in the model's
  output units (log-odds for a classifier's positive class, target units for a regressor);
- :func:`lime_explain` -> :class:`LimeResult` with ``weights`` largest first, each named by its feature
  and the rule LIME learnt (``x1 > 0.75``); a fixed ``random_state`` makes it reproducible.

SHAP uses ``shap.TreeExplainer`` (exact and fast on tree ensembles). Remember what both explain: the
model, not the world. A feature that the model leans on is not shown to cause anything.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LimeResult", "LimeWeight", "ShapResult", "lime_explain", "plain", "plot_correlation", "plot_lime",
           "plot_shap_global", "plot_shap_local", "save_figure", "shap_values"]


@dataclass(frozen=True, eq=False)
class ShapResult:
    """SHAP values of ``data`` (rows x features) and the base value they add up from."""

    values: np.ndarray
    base_value: float
    feature_names: tuple[str, ...]
    data: np.ndarray

    @property
    def global_importance(self) -> np.ndarray:
        """Mean |SHAP| per feature, shape (features,)."""
        return np.abs(self.values).mean(axis=0)

    @property
    def ranking(self) -> tuple[str, ...]:
        """Feature names, most important first."""
        order = np.argsort(-self.global_importance, kind="stable")
        return tuple(self.feature_names[i] for i in order)

    def direction(self) -> dict[str, float]:
        """Correlation of each feature's value with its SHAP value: + means "more of it, higher output"."""
        out = {}
        for j, name in enumerate(self.feature_names):
            x, s = self.data[:, j], self.values[:, j]
            out[name] = float(np.corrcoef(x, s)[0, 1]) if x.std() > 0 and s.std() > 0 else 0.0
        return out

    def local(self, row: int, top: int | None = None) -> list[tuple[str, float, float]]:
        """(feature, value, SHAP) of one row, largest |SHAP| first."""
        order = np.argsort(-np.abs(self.values[row]), kind="stable")[:top]
        return [(self.feature_names[j], float(self.data[row, j]), float(self.values[row, j])) for j in order]


def shap_values(model: Any, X: np.ndarray, feature_names: Sequence[str]) -> ShapResult:
    """Tree SHAP of a fitted tree ensemble on rows ``X``."""
    try:
        with warnings.catch_warnings():  # shap's import touches matplotlib colour-map APIs being deprecated
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            import shap
    except ImportError as exc:
        from greenci.insights import missing_extra

        raise missing_extra("SHAP explanations", exc) from None
    X = np.asarray(X, dtype=float)
    explainer = shap.TreeExplainer(model)
    raw = explainer.shap_values(X, check_additivity=False)
    if isinstance(raw, list):
        raw = raw[-1]
    values = np.asarray(raw, dtype=float)
    if values.ndim == 3:
        values = values[:, :, -1]
    base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    return ShapResult(values=values.reshape(X.shape), base_value=float(base[-1]),
                      feature_names=tuple(feature_names), data=X)


@dataclass(frozen=True)
class LimeWeight:
    """One term of LIME's local linear model."""

    feature: str
    rule: str
    weight: float


@dataclass(frozen=True, eq=False)
class LimeResult:
    """LIME's explanation of one row: weights largest |weight| first, the local fit and the model's output."""

    row: np.ndarray
    weights: tuple[LimeWeight, ...]
    intercept: float
    local_prediction: float
    prediction: float
    score: float


def lime_explain(predict: Callable[[np.ndarray], np.ndarray], training: np.ndarray, row: np.ndarray,
                 feature_names: Sequence[str], *, mode: str = "regression", num_features: int = 5,
                 num_samples: int = 2000, random_state: int = 0) -> LimeResult:
    """LIME tabular explanation of ``row`` (for classification: of the last class, e.g. 'strained')."""
    try:
        from lime.lime_tabular import LimeTabularExplainer
    except ImportError as exc:
        from greenci.insights import missing_extra

        raise missing_extra("LIME explanations", exc) from None
    if mode not in ("regression", "classification"):
        from greenci.errors import InputError

        raise InputError(f"mode {mode!r} must be 'regression' or 'classification'")
    training = np.asarray(training, dtype=float)
    row = np.asarray(row, dtype=float)
    explainer = LimeTabularExplainer(training, feature_names=list(feature_names), mode=mode,
                                     discretize_continuous=True, random_state=random_state)
    if mode == "classification":
        label = int(np.asarray(predict(row.reshape(1, -1))).shape[1]) - 1
        exp = explainer.explain_instance(row, predict, labels=(label,), num_features=num_features,
                                         num_samples=num_samples)
        prediction = float(np.asarray(predict(row.reshape(1, -1)))[0, label])
        local_pred = float(np.atleast_1d(exp.local_pred)[0])
        intercept = float(exp.intercept[label])
    else:
        label = 1
        exp = explainer.explain_instance(row, predict, num_features=num_features, num_samples=num_samples)
        prediction = float(np.asarray(predict(row.reshape(1, -1))).ravel()[0])
        local_pred = float(np.atleast_1d(exp.local_pred)[0])
        intercept = float(exp.intercept[label] if isinstance(exp.intercept, dict) else exp.intercept)
    weights = []
    for (j, w), (rule, _) in zip(exp.as_map()[label], exp.as_list(label=label), strict=True):
        weights.append(LimeWeight(feature=str(feature_names[j]), rule=str(rule), weight=float(w)))
    weights.sort(key=lambda t: -abs(t.weight))
    return LimeResult(row=row, weights=tuple(weights), intercept=intercept, local_prediction=local_pred,
                      prediction=prediction, score=float(exp.score))


# ---------------------------------------------------------------------------------------------- figures
def load_pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        from greenci.insights import missing_extra

        raise missing_extra("figures", exc) from None
    return plt


def plain(text: str) -> str:
    """Text that matplotlib draws as written: a ``$`` in a column name must not start mathtext."""
    return str(text).replace("$", r"\$")


def save_figure(fig: Any, path: Path) -> Path:
    """Save ``fig`` whole under ``path`` (temporary name with the same suffix, then a rename) and close it."""
    from greenci.outputs import atomic_path

    plt = load_pyplot()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120)
    finally:
        plt.close(fig)
    return Path(path)


def _bars(path: Path, labels: Sequence[str], values: Sequence[float], title: str, xlabel: str,
          signed: bool) -> Path:
    plt = load_pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(labels) + 1.6))
    ypos = np.arange(len(labels))[::-1]
    colors = ["#c0392b" if v > 0 else "#2874a6" for v in values] if signed else "#117a65"
    ax.barh(ypos, values, color=colors)
    ax.set_yticks(ypos, [plain(x) for x in labels])
    ax.set_xlabel(xlabel)
    ax.set_title(plain(title), fontsize=10)
    if signed:
        ax.axvline(0, color="black", linewidth=0.8)
    fig.tight_layout()
    return save_figure(fig, Path(path))


def plot_shap_global(result: ShapResult, path: Path, title: str = "Global feature importance (mean |SHAP|)",
                     top: int = 15) -> Path:
    """Bar chart of mean |SHAP| per feature, most important on top."""
    imp = result.global_importance
    order = np.argsort(-imp, kind="stable")[:top]
    return _bars(path, [result.feature_names[j] for j in order], [float(imp[j]) for j in order], title,
                 "mean |SHAP value|", signed=False)


def plot_shap_local(result: ShapResult, row: int, path: Path, title: str | None = None, top: int = 12) -> Path:
    """Signed SHAP bars of one row (red raises the output, blue lowers it)."""
    items = result.local(row, top)
    labels = [f"{name} = {value:.4g}" for name, value, _ in items]
    return _bars(path, labels, [s for _, _, s in items],
                 title or f"Local SHAP, row {row} (base value {result.base_value:.4g})", "SHAP value", signed=True)


def plot_lime(result: LimeResult, path: Path, title: str = "LIME local explanation") -> Path:
    """Signed LIME weights of one row, labelled by the learnt rule."""
    return _bars(path, [w.rule for w in result.weights], [w.weight for w in result.weights], title,
                 "LIME weight", signed=True)


def plot_correlation(matrix: np.ndarray, names: Sequence[str], path: Path, title: str = "Correlation") -> Path:
    """Heat map of a correlation matrix with the values written in the cells."""
    plt = load_pyplot()
    n = len(names)
    fig, ax = plt.subplots(figsize=(0.7 * n + 2.5, 0.6 * n + 2))
    im = ax.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(n), [plain(x) for x in names], rotation=45, ha="right")
    ax.set_yticks(range(n), [plain(x) for x in names])
    for i in range(n):
        for j in range(n):
            if np.isfinite(matrix[i, j]):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if abs(matrix[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(plain(title), fontsize=10)
    fig.tight_layout()
    return save_figure(fig, Path(path))
