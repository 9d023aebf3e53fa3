"""Job graph, time split and failure models (issue 20, items 1-2) and ``greenci insights failures``."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import typer
from cli_shell import shell
from typer.testing import CliRunner

from greenci.cli.insights import register
from greenci.errors import ConfigError, InputError
from greenci.insights.failures.graph import EDGE_KINDS, build_edges, causal_edges, retry_counts, to_networkx
from greenci.insights.failures.history import nodes_from_columns
from greenci.insights.failures.synthetic import synthetic_history, write_ghaminer_csv
from greenci.shared_data import find_shared_data

runner = CliRunner()
H = 3600


def _app() -> typer.Typer:
    return shell(register)


def _hand_made():
    """Commit A: push run 0, a retry 1 of the same workflow, a lint run 2; commit B: run 3, a scheduled run 4,
    a scheduled run 5 on the same commit (no retry); jobs 6 -> 7 of one run (7 queued after 6 ended)."""
    return nodes_from_columns(
        8, ids=[str(i) for i in range(8)], repo=["r"] * 8,
        workflow_id=["ci", "ci", "lint", "ci", "nightly", "nightly", "build", "build"],
        job_name=["", "", "", "", "", "", "compile", "test"],
        commit=["A", "A", "A", "B", "B", "B", "C", "C"],
        run_id=["", "", "", "", "", "", "99", "99"],
        event=["push", "push", "push", "push", "schedule", "schedule", "push", "push"],
        submitted_s=[0, 2 * H, 10, 5 * H, 6 * H, 30 * H, 40 * H, 40 * H + 700],
        duration_s=[600.0] * 6 + [600.0, 300.0],
        conclusion=["failure", "success", "success", "success", "success", "success", "success", "failure"],
    )


def test_retry_needs_and_same_commit_edges_on_a_hand_made_history() -> None:
    nodes = _hand_made()
    edges = build_edges(nodes, same_commit_k=1)
    got = {(int(s), int(d), EDGE_KINDS[k]) for s, d, k in zip(edges.src, edges.dst, edges.kind, strict=True)}
    # the retry points from the later attempt to the earlier one; schedule runs are never retries
    assert {e for e in got if e[2] == "retry"} == {(1, 0, "retry")}
    assert {e for e in got if e[2] == "needs"} == {(6, 7, "needs")}
    # same-commit, k=1: each run <- the run of its commit just before it (0 -> 2 -> 1 by time; pair 2->1 kept)
    assert {e for e in got if e[2] == "same-commit"} == {(0, 2, "same-commit"), (2, 1, "same-commit"),
                                                         (3, 4, "same-commit"), (4, 5, "same-commit")}
    assert retry_counts(nodes).tolist() == [0, 1, 0, 0, 0, 0, 0, 0]
    # message passing runs from earlier to later only: the retry edge is turned around
    causal = causal_edges(edges, nodes.submitted_s)
    assert (nodes.submitted_s[causal[0]] <= nodes.submitted_s[causal[1]]).all()
    assert {(0, 1), (6, 7)} <= set(map(tuple, causal.T.tolist()))
    graph = to_networkx(nodes, edges)
    assert graph.number_of_nodes() == 8 and graph.edges[1, 0]["kind"] == "retry"
    assert graph.nodes[1]["retry_count"] == 1 and graph.nodes[0]["failed"] is True


def test_same_commit_edges_are_capped_at_k() -> None:
    n = 10
    nodes = nodes_from_columns(n, repo=["r"] * n, commit=["X"] * n, workflow_id=[f"w{i}" for i in range(n)],
                               event=["pull_request"] * n, submitted_s=np.arange(n) * 60, duration_s=np.ones(n))
    for k in (0, 1, 3):
        edges = build_edges(nodes, same_commit_k=k)
        assert edges.count("same-commit") == sum(n - j for j in range(1, k + 1))
        assert np.bincount(edges.dst, minlength=n).max() <= k
    with pytest.raises(InputError, match="same_commit_k"):
        build_edges(nodes, same_commit_k=-1)


def test_split_never_trains_on_test_weeks_and_test_features_cannot_reach_training() -> None:
    pytest.importorskip("torch_geometric")
    from greenci.insights.failures.features import fit_features, transform
    from greenci.insights.failures.models import fit_gnn, time_split, training_labels

    nodes = synthetic_history(120, weeks=10, seed=1)
    split = time_split(nodes.submitted_s, test_weeks=3, val_weeks=2)
    assert not (split.train & split.test).any() and not (split.train & split.val).any()
    assert (split.train | split.val | split.test).all()
    assert nodes.submitted_s[split.train].max() < split.val_start_s <= nodes.submitted_s[split.val].min()
    assert nodes.submitted_s[split.val].max() < split.test_start_s <= nodes.submitted_s[split.test].min()
    y = training_labels(nodes.failed.astype(int), nodes.labelled, split)
    assert (y[~split.train] == -1).all() and (y[split.train] >= 0).all()
    x = transform(nodes, fit_features(nodes, split.train))
    edges = causal_edges(build_edges(nodes), nodes.submitted_s)
    kwargs = dict(seed=0, epochs=15, hidden=16)
    clean = fit_gnn("gcn", x, edges, y, split.train, **kwargs)
    poisoned = x.copy()
    poisoned[~split.train] = np.nan  # if any node outside the training weeks were used, the loss would be NaN
    dirty = fit_gnn("gcn", poisoned, edges, y, split.train, **kwargs)
    assert np.isfinite(dirty.losses).all()
    assert dirty.losses == clean.losses


@pytest.mark.parametrize("kind", ["gcn", "gat"])
def test_training_lowers_the_loss(kind: str) -> None:
    pytest.importorskip("torch_geometric")
    from greenci.insights.failures.features import fit_features, transform
    from greenci.insights.failures.models import fit_gnn, time_split, training_labels

    nodes = synthetic_history(150, weeks=10, seed=2)
    split = time_split(nodes.submitted_s, test_weeks=3, val_weeks=2)
    x = transform(nodes, fit_features(nodes, split.train))
    y = training_labels(nodes.failed.astype(int), nodes.labelled, split)
    fit = fit_gnn(kind, x, causal_edges(build_edges(nodes), nodes.submitted_s), y, split.train, seed=0, epochs=40,
                  hidden=32)
    assert np.mean(fit.losses[-5:]) < 0.8 * np.mean(fit.losses[:5])
    again = fit_gnn(kind, x, causal_edges(build_edges(nodes), nodes.submitted_s), y, split.train, seed=0, epochs=40,
                    hidden=32)
    assert again.losses == fit.losses  # fixed seed, same run


def test_best_threshold_matches_brute_force() -> None:
    from sklearn.metrics import f1_score

    from greenci.insights.failures.models import best_threshold

    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.3
    p = np.round(np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1), 2)  # ties included
    t = best_threshold(y, p)
    brute = max(f1_score(y, p >= c) for c in np.unique(p))
    assert f1_score(y, p >= t) == pytest.approx(brute)


def test_split_refuses_too_short_a_history() -> None:
    from greenci.insights.failures.models import time_split

    with pytest.raises(InputError, match="leave no week to train on"):
        time_split(np.arange(0, 5 * 7 * 86400, 86400), test_weeks=4, val_weeks=2)


def test_cli_synthetic_demo_end_to_end(tmp_path) -> None:
    pytest.importorskip("torch_geometric")
    out = tmp_path / "report"
    result = runner.invoke(_app(), ["insights", "failures", "--synthetic-demo", "--test-weeks", "4", "--val-weeks",
                                    "3", "--epochs", "30", "--models", "gcn,gbdt", "-o", str(out),
                                    "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["synthetic"] is True
    assert [m["model"] for m in doc["models"]] == ["gcn", "gbdt"]
    assert all(0.5 < m["test_auc"] <= 1 and m["energy_kwh"] >= 0 and m["energy_method"] for m in doc["models"])
    report = (out / "report.md").read_text()
    assert "SYNTHETIC" in report and "| gbdt |" in report and "Verdict" in report
    assert {p.name for p in out.glob("*.png")} == {"roc.png", "losses.png", "tsne_gcn.png"}


def test_cli_reads_a_synthetic_ghaminer_file(tmp_path) -> None:
    path = write_ghaminer_csv(synthetic_history(200, weeks=12, seed=3), tmp_path / "synthetic_runs.csv")
    result = runner.invoke(_app(), ["insights", "failures", str(path), "--models", "gbdt", "--test-weeks", "3",
                                    "--val-weeks", "2"])
    assert result.exit_code == 0, result.output
    assert "retry" in result.stdout and "gbdt" in result.stdout and "Energy of this run" in result.stdout


@pytest.mark.parametrize(("args", "says"), [
    (["--models", "gcn,svm"], "--models gcn,svm"),
    (["--test-weeks", "0"], "--test-weeks 0"),
    (["--test-weeks", "30"], "leave no week to train on"),
])
def test_cli_bad_input_exits_2_naming_the_problem(tmp_path, args: list[str], says: str) -> None:
    path = write_ghaminer_csv(synthetic_history(60, weeks=6, seed=4), tmp_path / "synthetic_runs.csv")
    result = runner.invoke(_app(), ["insights", "failures", str(path), *args])
    assert result.exit_code == 2
    assert says in result.output


def test_cli_without_a_history_exits_2(tmp_path) -> None:
    result = runner.invoke(_app(), ["insights", "failures"])
    assert result.exit_code == 2 and "HISTORY" in result.output
    missing = runner.invoke(_app(), ["insights", "failures", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "nope.csv" in missing.output


def test_without_torch_the_command_says_which_extra(monkeypatch, tmp_path) -> None:
    from greenci.insights.failures.models import require_torch

    monkeypatch.setitem(sys.modules, "torch", None)  # as if PyTorch were not installed
    with pytest.raises(ConfigError, match=r"pip install 'greenci\[ml\]'"):
        require_torch()
    path = write_ghaminer_csv(synthetic_history(60, weeks=6, seed=4), tmp_path / "synthetic_runs.csv")
    result = runner.invoke(_app(), ["insights", "failures", str(path)])
    assert result.exit_code == 2
    assert "pip install 'greenci[ml]'" in result.output


def test_importing_the_cli_loads_no_model_library() -> None:
    import subprocess

    code = ("import sys, greenci, greenci.cli.insights, greenci.cli.insights_failures, greenci.insights.failures; "
            "print([m for m in ('torch', 'torch_geometric', 'sklearn', 'networkx', 'matplotlib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.shared
def test_shared_runs_build_a_graph_with_retries_and_commits() -> None:
    data = find_shared_data()
    if data is None:
        pytest.skip("shared data (../shared/data) is absent: set GREENCI_SHARED to run this test")
    from greenci.insights.failures.history import read_history

    files = sorted((data / "jobs" / "github-actions" / "gha-dashboard").glob("builds_features_*.csv"))
    nodes = read_history(files)
    assert len(nodes) > 10_000
    assert (nodes.commit != "").mean() > 0.99 and np.isfinite(nodes.workflow_size).mean() > 0.9
    edges = build_edges(nodes)
    assert edges.count("retry") > 100 and edges.count("same-commit") > 1000 and edges.count("needs") == 0
    assert 0.1 < nodes.failed.mean() < 0.3
