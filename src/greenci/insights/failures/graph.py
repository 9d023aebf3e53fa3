"""The CI job graph: runs or jobs as nodes, typed edges between them (retry, needs, same-commit).

Why a graph: a run's outcome is not independent of its neighbours. A retried run points at the attempt
that failed before it, the jobs of one run wait for each other (``needs``), and the runs of one commit
share its code. The graph neural networks of :mod:`greenci.insights.failures.models` pass messages along
these edges; the gradient-boosting baseline sees only each node's own features.

Edges (arrays first, vectorised; :func:`to_networkx` makes the ``networkx.DiGraph``):

``retry``
    A later attempt points to the attempt just before it: same repository, workflow (its id where known),
    commit and job name, ordered by ``run_attempt`` where the history has it, then by submission time.
    GHAminer runs have no ``run_attempt``, so this is inferred from "same commit, later run". Scheduled
    runs are left out: a timer firing twice on an unchanged commit is no retry.
``needs``
    ``need -> job`` inside one run (GitHub jobs, Zuul buildsets): the job was queued only once ``need`` had
    ended, :func:`greenci.scheduling.chains.inferred_needs`; pairs across attempts of one run are dropped.
``same-commit``
    ``earlier -> later`` between runs of one commit (repository and commit), each node linked to at most
    ``k`` of the runs just before it, so a commit with hundreds of runs stays sparse.

A pair linked by two kinds keeps the first of retry, needs, same-commit. For message passing,
:func:`causal_edges` turns every edge to point from the earlier node to the later one: a node hears only
of runs submitted before it, so no edge carries what happened after (a retry made later would otherwise
tell the model that the earlier run failed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from greenci.errors import InputError
from greenci.insights.failures.history import JobNodes

if TYPE_CHECKING:
    import networkx as nx

EDGE_KINDS = ("retry", "needs", "same-commit")
DEFAULT_SAME_COMMIT_K = 3


@dataclass(frozen=True, eq=False)
class JobEdges:
    """Typed edges as aligned arrays: ``src[i] -> dst[i]`` of kind ``EDGE_KINDS[kind[i]]``."""

    src: np.ndarray
    dst: np.ndarray
    kind: np.ndarray

    def __len__(self) -> int:
        return len(self.src)

    def count(self, name: str) -> int:
        return int((self.kind == EDGE_KINDS.index(name)).sum())


def _group_codes(*columns: np.ndarray) -> np.ndarray:
    """One integer per distinct tuple of the columns (vectorised)."""
    import pandas as pd

    frame = pd.DataFrame({f"c{i}": np.asarray(c).astype(str) for i, c in enumerate(columns)})
    return frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy(dtype=np.int64)


def retry_order(nodes: JobNodes) -> tuple[np.ndarray, np.ndarray]:
    """Retry groups and each node's rank in its group (0 = first attempt); -1 for nodes of no group."""
    n = len(nodes)
    eligible = (nodes.commit != "") & (nodes.event != "schedule")
    group = np.full(n, -1, dtype=np.int64)
    rank = np.zeros(n, dtype=np.int64)
    idx = np.flatnonzero(eligible)
    if idx.size == 0:
        return group, rank
    group[idx] = _group_codes(nodes.repo[idx], nodes.workflow_id[idx], nodes.commit[idx], nodes.job_name[idx])
    attempt = np.where(np.isfinite(nodes.attempt), nodes.attempt, 0.0)
    order = idx[np.lexsort((nodes.submitted_s[idx], attempt[idx], group[idx]))]
    g = group[order]
    starts = np.r_[True, g[1:] != g[:-1]]
    first_pos = np.maximum.accumulate(np.where(starts, np.arange(order.size), 0))
    rank[order] = np.arange(order.size) - first_pos
    return group, rank


def retry_counts(nodes: JobNodes) -> np.ndarray:
    """Earlier attempts of each node: its rank among retries, or ``run_attempt - 1`` when that is larger."""
    _, rank = retry_order(nodes)
    known = np.where(np.isfinite(nodes.attempt), nodes.attempt - 1.0, 0.0)
    return np.maximum(rank.astype(np.float64), known)


def build_edges(nodes: JobNodes, *, same_commit_k: int = DEFAULT_SAME_COMMIT_K) -> JobEdges:
    """All typed edges of ``nodes`` (rules in the module docstring)."""
    if same_commit_k < 0:
        raise InputError(f"same_commit_k {same_commit_k} must be 0 or more (0: no same-commit edges)",
                         field="same_commit_k")
    parts: list[tuple[np.ndarray, np.ndarray, int]] = []
    # retry: later -> the attempt just before it
    group, rank = retry_order(nodes)
    idx = np.flatnonzero(group >= 0)
    if idx.size:
        attempt = np.where(np.isfinite(nodes.attempt), nodes.attempt, 0.0)
        order = idx[np.lexsort((nodes.submitted_s[idx], attempt[idx], group[idx]))]
        same = group[order][1:] == group[order][:-1]
        parts.append((order[1:][same], order[:-1][same], 0))
    # needs: inside one run, same attempt
    from greenci.scheduling.chains import inferred_needs

    need, job = inferred_needs(nodes.run_id, nodes.submitted_s, nodes.duration_s)
    if need.size:
        a = np.where(np.isfinite(nodes.attempt), nodes.attempt, 0.0)
        keep = a[need] == a[job]
        parts.append((need[keep], job[keep], 1))
    # same-commit: each node <- up to k runs of its commit just before it
    idx = np.flatnonzero(nodes.commit != "")
    if idx.size and same_commit_k:
        cg = _group_codes(nodes.repo[idx], nodes.commit[idx])
        by_time = np.lexsort((nodes.submitted_s[idx], cg))
        order, cgo = idx[by_time], cg[by_time]
        for k in range(1, same_commit_k + 1):
            if order.size <= k:
                break
            same = cgo[k:] == cgo[:-k]
            parts.append((order[:-k][same], order[k:][same], 2))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return JobEdges(empty, empty.copy(), empty.copy())
    src = np.concatenate([p[0] for p in parts]).astype(np.int64)
    dst = np.concatenate([p[1] for p in parts]).astype(np.int64)
    kind = np.concatenate([np.full(p[0].size, p[2], dtype=np.int64) for p in parts])
    src, dst, kind = src[src != dst], dst[src != dst], kind[src != dst]
    # one edge per ordered pair: the first kind wins (parts are in EDGE_KINDS order, stable)
    _, first = np.unique(src * max(len(nodes), 1) + dst, return_index=True)
    first = np.sort(first)
    return JobEdges(src[first], dst[first], kind[first])


def causal_edges(edges: JobEdges, submitted_s: np.ndarray) -> np.ndarray:
    """Message-passing edges ``(2, m)``: every typed edge turned to run from the earlier node to the later.

    Two nodes submitted at the same second keep the edge as built. Duplicate pairs are merged.
    """
    sub = np.asarray(submitted_s)
    flip = sub[edges.src] > sub[edges.dst]
    src = np.where(flip, edges.dst, edges.src)
    dst = np.where(flip, edges.src, edges.dst)
    pairs = np.unique(np.stack([src, dst], axis=1), axis=0) if src.size else np.zeros((0, 2), dtype=np.int64)
    return pairs.T.astype(np.int64)


def to_networkx(nodes: JobNodes, edges: JobEdges, features: dict[str, np.ndarray] | None = None) -> nx.DiGraph:
    """The job graph as a ``networkx.DiGraph``: node attributes from ``nodes`` (and ``features``), typed edges."""
    import networkx as nx

    graph = nx.DiGraph()
    attrs = {"repo": nodes.repo, "workflow": nodes.workflow, "commit": nodes.commit, "event": nodes.event,
             "submitted_s": nodes.submitted_s, "duration_s": nodes.duration_s, "conclusion": nodes.conclusion,
             "failed": nodes.failed, "retry_count": retry_counts(nodes), **(features or {})}
    names = list(attrs)
    columns = [np.asarray(attrs[k]).tolist() for k in names]
    graph.add_nodes_from((i, dict(zip(names, row, strict=True))) for i, row in enumerate(zip(*columns, strict=True)))
    graph.add_edges_from((int(s), int(d), {"kind": EDGE_KINDS[k]})
                         for s, d, k in zip(edges.src, edges.dst, edges.kind, strict=True))
    return graph


__all__ = ["DEFAULT_SAME_COMMIT_K", "EDGE_KINDS", "JobEdges", "build_edges", "causal_edges", "retry_counts",
           "retry_order", "to_networkx"]
