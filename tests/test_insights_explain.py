"""SHAP and LIME on a case with a known driver: y rises strongly with x1 and ignores x2."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from greenci.errors import ConfigError
from greenci.insights.explain import (
    lime_explain,
    plot_correlation,
    plot_lime,
    plot_shap_global,
    plot_shap_local,
    shap_values,
)

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def known_driver() -> tuple[object, object, np.ndarray, np.ndarray]:
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, size=(300, 2))
    y = 5.0 * X[:, 0] + rng.normal(0, 0.05, 300)
    reg = GradientBoostingRegressor(n_estimators=60, max_depth=2, random_state=0).fit(X, y)
    clf = GradientBoostingClassifier(n_estimators=60, max_depth=2, random_state=0).fit(X, (X[:, 0] > 0.5).astype(int))
    return reg, clf, X, y


def test_shap_ranks_the_driver_first_with_a_positive_sign(known_driver) -> None:
    reg, _, X, _ = known_driver
    res = shap_values(reg, X, ["x1", "x2"])
    assert res.values.shape == (300, 2) and res.data.shape == (300, 2) and res.global_importance.shape == (2,)
    assert res.ranking == ("x1", "x2")
    assert res.global_importance[0] > 10 * res.global_importance[1]
    assert np.corrcoef(X[:, 0], res.values[:, 0])[0, 1] > 0.95
    assert res.direction()["x1"] > 0.95
    # SHAP is additive: base + sum of contributions = the model's prediction
    np.testing.assert_allclose(res.base_value + res.values.sum(axis=1), reg.predict(X), atol=1e-6)
    i = int(np.argmax(X[:, 0]))
    (name, value, contribution), _ = res.local(i)
    assert name == "x1" and value == X[i, 0] and contribution > 0


def test_shap_of_a_classifier_is_in_log_odds_of_the_positive_class(known_driver) -> None:
    _, clf, X, _ = known_driver
    res = shap_values(clf, X, ["x1", "x2"])
    assert res.values.shape == (300, 2) and res.ranking[0] == "x1"
    logit = np.log(clf.predict_proba(X)[:, 1] / clf.predict_proba(X)[:, 0])
    np.testing.assert_allclose(res.base_value + res.values.sum(axis=1), logit, atol=1e-5)


def test_lime_top_factor_of_a_high_x1_row_is_x1_and_positive(known_driver) -> None:
    reg, clf, X, _ = known_driver
    i = int(np.argmax(X[:, 0]))
    res = lime_explain(reg.predict, X, X[i], ["x1", "x2"], num_features=2, num_samples=1500, random_state=0)
    assert len(res.weights) == 2 and res.row.shape == (2,)
    assert res.weights[0].feature == "x1" and res.weights[0].weight > 0 and "x1" in res.weights[0].rule
    assert abs(res.weights[1].weight) < 0.1 * res.weights[0].weight
    again = lime_explain(reg.predict, X, X[i], ["x1", "x2"], num_features=2, num_samples=1500, random_state=0)
    assert again.weights == res.weights, "a fixed random_state makes LIME reproducible"
    cls = lime_explain(clf.predict_proba, X, X[i], ["x1", "x2"], mode="classification", num_features=2,
                       num_samples=1500)
    assert cls.weights[0].feature == "x1" and cls.weights[0].weight > 0 and cls.prediction > 0.9


def test_figures_are_written(known_driver, tmp_path: Path) -> None:
    reg, _, X, _ = known_driver
    res = shap_values(reg, X, ["x1", "x2"])
    lres = lime_explain(reg.predict, X, X[0], ["x1", "x2"], num_samples=500)
    paths = [plot_shap_global(res, tmp_path / "g.png"), plot_shap_local(res, 0, tmp_path / "l.png"),
             plot_lime(lres, tmp_path / "lime.png"),
             plot_correlation(np.corrcoef(X.T), ["x1", "x2"], tmp_path / "c.png")]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_missing_library_names_the_extra(known_driver, monkeypatch: pytest.MonkeyPatch) -> None:
    reg, _, X, _ = known_driver
    monkeypatch.setitem(sys.modules, "shap", None)
    with pytest.raises(ConfigError, match=r"pip install 'greenci\[insights\]'"):
        shap_values(reg, X, ["x1", "x2"])
    monkeypatch.setitem(sys.modules, "lime.lime_tabular", None)
    with pytest.raises(ConfigError, match="insights"):
        lime_explain(reg.predict, X, X[0], ["x1", "x2"])
    monkeypatch.setitem(sys.modules, "vaderSentiment.vaderSentiment", None)
    from greenci.insights.sentiment import sentiment_scorer

    with pytest.raises(ConfigError, match="insights"):
        sentiment_scorer()
