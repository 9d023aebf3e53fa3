"""Failure prediction on the job graph: a GCN, a GAT and a gradient-boosting baseline, one time split.

Why these three on one split: the question is whether the graph (retries, needs, runs of one commit)
adds anything over each run's own features. All models see the same features and the same
time-ordered split (:func:`time_split`): train on the earliest weeks, choose the epoch and the F1
threshold on the next weeks (validation), report on the last weeks (test).

No leak from the future:

* the GNNs are trained on the subgraph of training-week nodes only (test and validation nodes are not in
  the tensors at all), with labels outside the training weeks masked to -1 (:func:`training_labels`);
* validation runs on the subgraph of nodes before the test weeks; only the final prediction sees the
  whole graph, whose edges all point from earlier to later nodes (:func:`~.graph.causal_edges`), so a
  test node's score depends on itself and on runs submitted before it, never on labels;
* features are fitted on the training weeks (:mod:`~.features`).

Class imbalance: the GNN loss weights failures by negatives/positives of the training nodes; the
baseline uses ``class_weight="balanced"``. PyTorch and PyTorch Geometric are imported only when a GNN is
trained (``greenci[ml]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from greenci.errors import ConfigError, InputError

MODELS = ("gcn", "gat", "gbdt")
GNN_MODELS = ("gcn", "gat")
WEEK_S = 7 * 86400
MONDAY_OFFSET_S = 3 * 86400  # 1970-01-01 was a Thursday: weeks here start on Monday 00:00 UTC
ML_HINT = "pip install 'greenci[ml]'"


@dataclass(frozen=True)
class Split:
    """Time-ordered masks over the nodes and the week boundaries (epoch seconds) between them."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    val_start_s: int
    test_start_s: int
    weeks: tuple[int, int, int]  # weeks of history in train, val, test

    @property
    def before_test(self) -> np.ndarray:
        return self.train | self.val


def week_index(submitted_s: np.ndarray) -> np.ndarray:
    return (np.asarray(submitted_s, dtype=np.int64) + MONDAY_OFFSET_S) // WEEK_S


def time_split(submitted_s: np.ndarray, *, test_weeks: int, val_weeks: int) -> Split:
    """Last ``test_weeks`` calendar weeks (Monday-based, UTC) are test, the ``val_weeks`` before them
    validation, all earlier weeks training."""
    if test_weeks < 1 or val_weeks < 1:
        raise InputError(f"--test-weeks {test_weeks} and --val-weeks {val_weeks} must each be at least 1",
                         field="test_weeks")
    week = week_index(submitted_s)
    if week.size == 0:
        raise InputError("the history holds no runs", field="history")
    last = int(week.max())
    test_from = last - test_weeks + 1
    val_from = test_from - val_weeks
    span = last - int(week.min()) + 1
    if int(week.min()) >= val_from:
        raise InputError(f"the history spans {span} week(s): --test-weeks {test_weeks} and --val-weeks {val_weeks} "
                         "leave no week to train on: lower them or give a longer history", field="test_weeks")
    return Split(train=week < val_from, val=(week >= val_from) & (week < test_from), test=week >= test_from,
                 val_start_s=int(val_from * WEEK_S - MONDAY_OFFSET_S),
                 test_start_s=int(test_from * WEEK_S - MONDAY_OFFSET_S),
                 weeks=(val_from - int(week.min()), val_weeks, test_weeks))


def check_split(labels: np.ndarray, labelled: np.ndarray, split: Split) -> None:
    """Each part needs labelled nodes of both outcomes, or AUC and training mean nothing."""
    for name, mask in (("training", split.train), ("validation", split.val), ("test", split.test)):
        y = labels[mask & labelled]
        if y.size == 0 or y.all() or not y.any():
            what = "no labelled run" if y.size == 0 else ("only failures" if y.all() else "no failure")
            raise InputError(f"the {name} weeks hold {what} ({y.size} labelled runs): AUC needs both outcomes; "
                             "change --test-weeks/--val-weeks or give a longer history", field="test_weeks")


def training_labels(labels: np.ndarray, labelled: np.ndarray, split: Split) -> np.ndarray:
    """Labels a model may train on: 0/1 for labelled training-week nodes, -1 everywhere else."""
    return np.where(split.train & labelled, np.asarray(labels, dtype=np.int64), -1)


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability threshold with the highest F1 on (validation) labels ``y`` (vectorised sweep)."""
    y = np.asarray(y, dtype=bool)
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    tp = np.cumsum(ys)
    fp = np.cumsum(~ys)
    last = np.r_[ps[1:] != ps[:-1], True]  # a threshold between distinct scores
    f1 = 2 * tp / (tp + fp + ys.sum())
    f1 = np.where(last, f1, -1.0)
    k = int(np.argmax(f1))
    return float(ps[k])


@dataclass(frozen=True)
class Scores:
    """Test metrics of one model with the threshold chosen on validation."""

    auc: float
    f1: float
    precision: float
    recall: float
    threshold: float
    val_auc: float


def score(y_val: np.ndarray, p_val: np.ndarray, y_test: np.ndarray, p_test: np.ndarray) -> Scores:
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    t = best_threshold(y_val, p_val)
    pred = p_test >= t
    return Scores(auc=float(roc_auc_score(y_test, p_test)), f1=float(f1_score(y_test, pred, zero_division=0)),
                  precision=float(precision_score(y_test, pred, zero_division=0)),
                  recall=float(recall_score(y_test, pred, zero_division=0)), threshold=t,
                  val_auc=float(roc_auc_score(y_val, p_val)))


# ---------------------------------------------------------------------------------------------- baseline
def fit_gbdt(x: np.ndarray, train_labels: np.ndarray, *, seed: int) -> Any:
    """HistGradientBoostingClassifier on the labelled training nodes (``train_labels`` >= 0) only."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rows = train_labels >= 0
    model = HistGradientBoostingClassifier(class_weight="balanced", random_state=seed, max_iter=200,
                                           learning_rate=0.05, early_stopping=False)
    return model.fit(x[rows], train_labels[rows])


# ---------------------------------------------------------------------------------------------- GNNs
def require_torch() -> None:
    """Import PyTorch and PyTorch Geometric, or say which extra installs them."""
    try:
        import torch  # noqa: F401
        import torch_geometric  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"the GCN and GAT models need PyTorch and PyTorch Geometric ({exc}): {ML_HINT}, "
                          "or run --models gbdt") from None


def _net(kind: str, n_in: int, hidden: int, dropout: float) -> Any:
    import torch
    from torch_geometric.nn import GATConv, GCNConv

    class Net(torch.nn.Module):
        """Two graph layers (hidden, hidden/2) with linear skips and a linear head; the second layer's output
        is the embedding."""

        def __init__(self) -> None:
            super().__init__()
            if kind == "gcn":
                self.conv1, self.conv2 = GCNConv(n_in, hidden), GCNConv(hidden, hidden // 2)
            else:
                heads = 4
                self.conv1 = GATConv(n_in, hidden // heads, heads=heads, dropout=dropout)
                self.conv2 = GATConv(hidden, hidden // 2, heads=1, dropout=dropout)
            # a linear skip of each node's own input per layer: GCN normalisation would otherwise average a
            # node's own features away among its neighbours' (the residual variant of both papers)
            self.skip1, self.skip2 = torch.nn.Linear(n_in, hidden), torch.nn.Linear(hidden, hidden // 2)
            self.head = torch.nn.Linear(hidden // 2, 1)
            self.dropout = dropout

        def embed(self, x: Any, edge_index: Any) -> Any:
            h = torch.relu(self.conv1(x, edge_index) + self.skip1(x))
            h = torch.nn.functional.dropout(h, p=self.dropout, training=self.training)
            return torch.relu(self.conv2(h, edge_index) + self.skip2(h))

        def forward(self, x: Any, edge_index: Any) -> Any:
            return self.head(self.embed(x, edge_index)).squeeze(-1)

    return Net()


def _subgraph(edge_index: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Node ids kept (sorted) and the edges between them, renumbered 0..k-1."""
    ids = np.flatnonzero(keep)
    new = np.full(keep.size, -1, dtype=np.int64)
    new[ids] = np.arange(ids.size)
    inside = keep[edge_index[0]] & keep[edge_index[1]] if edge_index.size else np.zeros(0, dtype=bool)
    return ids, new[edge_index[:, inside]] if edge_index.size else np.zeros((2, 0), dtype=np.int64)


@dataclass(frozen=True, eq=False)
class GnnFit:
    """A trained GNN and what its training did: loss per epoch, the epoch kept (best validation AUC)."""

    kind: str
    model: Any
    losses: tuple[float, ...]
    best_epoch: int
    val_auc: float


def fit_gnn(kind: str, x: np.ndarray, edge_index: np.ndarray, train_labels: np.ndarray, train_nodes: np.ndarray,
            *, val_labels: np.ndarray | None = None, val_nodes: np.ndarray | None = None, seed: int = 0,
            epochs: int = 150, hidden: int = 64, dropout: float = 0.3, lr: float = 0.01,
            eval_every: int = 5) -> GnnFit:
    """Train a ``gcn`` or ``gat`` on the subgraph of ``train_nodes`` (nothing else enters the tensors).

    ``train_labels`` is -1 where a node may not be learnt from. With ``val_labels`` (-1 outside validation)
    and ``val_nodes`` (the nodes the validation forward may see: those before the test weeks), the weights
    of the epoch with the best validation AUC are kept; otherwise the last epoch's.
    """
    if kind not in GNN_MODELS:
        raise InputError(f"model {kind!r} is not a GNN: use one of {', '.join(GNN_MODELS)}", field="models")
    if epochs < 1:
        raise InputError(f"--epochs {epochs} must be at least 1", field="epochs")
    require_torch()
    import torch
    from sklearn.metrics import roc_auc_score

    torch.manual_seed(seed)
    np.random.seed(seed)
    ids, sub_edges = _subgraph(np.asarray(edge_index, dtype=np.int64), np.asarray(train_nodes, dtype=bool))
    y = np.asarray(train_labels)[ids]
    rows = np.flatnonzero(y >= 0)
    if rows.size == 0:
        raise InputError("no labelled node in the training weeks", field="train")
    pos = float((y[rows] == 1).sum())
    neg = float(rows.size - pos)
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32)[ids])
    et = torch.as_tensor(sub_edges, dtype=torch.long)
    yt = torch.as_tensor(y[rows], dtype=torch.float32)
    rt = torch.as_tensor(rows, dtype=torch.long)
    model = _net(kind, x.shape[1], hidden, dropout)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=5e-4)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(neg / max(pos, 1.0)))
    val = None
    if val_labels is not None and val_nodes is not None:
        vids, vedges = _subgraph(np.asarray(edge_index, dtype=np.int64), np.asarray(val_nodes, dtype=bool))
        vy = np.asarray(val_labels)[vids]
        vrows = np.flatnonzero(vy >= 0)
        if vrows.size and 0 < vy[vrows].sum() < vrows.size:
            val = (torch.as_tensor(np.asarray(x, dtype=np.float32)[vids]), torch.as_tensor(vedges, dtype=torch.long),
                   vrows, vy[vrows])
    losses: list[float] = []
    best = (-1.0, 0, None)
    for epoch in range(1, epochs + 1):
        model.train()
        optimiser.zero_grad()
        loss = loss_fn(model(xt, et)[rt], yt)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
        if val is not None and (epoch % eval_every == 0 or epoch == epochs):
            model.eval()
            with torch.no_grad():
                p = model(val[0], val[1]).numpy()[val[2]]
            auc = float(roc_auc_score(val[3], p))
            if auc > best[0]:
                best = (auc, epoch, {k: v.clone() for k, v in model.state_dict().items()})
    if best[2] is not None:
        model.load_state_dict(best[2])
    model.eval()
    return GnnFit(kind=kind, model=model, losses=tuple(losses), best_epoch=best[1] or epochs, val_auc=best[0])


def predict_gnn(fit: GnnFit, x: np.ndarray, edge_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Failure probability and embedding of every node on the whole (causal) graph."""
    import torch

    fit.model.eval()
    with torch.no_grad():
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
        et = torch.as_tensor(np.asarray(edge_index, dtype=np.int64), dtype=torch.long)
        emb = fit.model.embed(xt, et)
        p = torch.sigmoid(fit.model.head(emb).squeeze(-1))
    return p.numpy().astype(np.float64), emb.numpy()


__all__ = ["GNN_MODELS", "ML_HINT", "MODELS", "GnnFit", "Scores", "Split", "best_threshold", "check_split",
           "fit_gbdt", "fit_gnn", "predict_gnn", "require_torch", "score", "time_split", "training_labels",
           "week_index"]
