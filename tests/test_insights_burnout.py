"""The transparent score (hand-computed), the labelled model (CV, refusal) and per-person explanations."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from greenci.errors import InputError
from greenci.insights.burnout import (
    HIGH_AT,
    WEIGHTS,
    community_view,
    explain_people,
    latest_by_person,
    read_labels,
    train_risk_model,
    transparent_scores,
)
from greenci.insights.indicators import Identities, IndicatorTable, PersonWeek


def _table(rows: list[PersonWeek], **kw: object) -> IndicatorTable:
    ids = Identities.create(salt="s", reveal=True)
    return IndicatorTable(rows=tuple(rows), _people={r.person: r.person for r in rows}, _identities=ids,
                          **kw)  # type: ignore[arg-type]


def test_weights_are_documented_and_sum_to_one() -> None:
    assert WEIGHTS == {"late_night": 0.25, "weekend": 0.2, "commits": 0.15, "churn": 0.1, "context_switching": 0.1,
                       "review_load": 0.1, "meeting_hours": 0.05, "negative_sentiment": 0.05}
    assert math.isclose(sum(WEIGHTS.values()), 1.0)


def test_identical_weeks_score_one_half() -> None:
    rows = [PersonWeek(p, "2024-W10", commits=3, churn=50, late_night=1) for p in "abc"]
    assert [s.risk for s in transparent_scores(_table(rows))] == [0.5, 0.5, 0.5]


def test_score_is_weighted_z_scores_through_a_logistic() -> None:
    # two person-weeks that differ only in late-night commits: z = +1 and -1 (population sd)
    rows = [PersonWeek("a", "2024-W10", commits=2, late_night=4), PersonWeek("b", "2024-W10", commits=2, late_night=0)]
    a, b = transparent_scores(_table(rows))
    assert a.logit == pytest.approx(0.25) and b.logit == pytest.approx(-0.25)
    assert a.risk == pytest.approx(1 / (1 + math.exp(-0.25)))
    assert a.top_factors()[0].indicator == "late_night" and a.top_factors()[0].z == pytest.approx(1.0)
    assert b.top_factors() == (), "nothing raises b's score"
    assert sum(f.contribution for f in a.factors) == pytest.approx(a.logit)


def test_negative_sentiment_and_missing_values() -> None:
    rows = [PersonWeek("a", "2024-W10", sentiment=-0.8), PersonWeek("b", "2024-W10", sentiment=0.8),
            PersonWeek("c", "2024-W10")]  # c: no text, NaN -> z 0
    a, b, c = transparent_scores(_table(rows))
    assert a.factors[0].indicator == "negative_sentiment" and a.factors[0].contribution == pytest.approx(0.05)
    assert c.logit == pytest.approx(0.0)


def test_outliers_are_clipped_at_three_sd() -> None:
    rows = [PersonWeek(f"p{i}", "2024-W10", weekend=0) for i in range(99)] + [PersonWeek("x", "2024-W10", weekend=50)]
    x = transparent_scores(_table(rows))[-1]
    assert next(f for f in x.factors if f.indicator == "weekend").z == 3.0


def test_latest_week_and_community_view() -> None:
    rows = [PersonWeek("a", "2024-W09", late_night=5, weekend=3, commits=20), PersonWeek("a", "2024-W10"),
            PersonWeek("b", "2024-W09"), PersonWeek("b", "2024-W10"), PersonWeek("c", "2024-W10")]
    scores = transparent_scores(_table(rows))
    assert [s.week for s in latest_by_person(scores)] == ["2024-W10"] * 3
    view = community_view(scores)
    assert [(v.week, v.people) for v in view] == [("2024-W09", 2), ("2024-W10", 3)]
    assert view[0].max_risk >= HIGH_AT and view[0].high == 1


def _labelled(n_people: int = 12, weeks: int = 8, seed: int = 0) -> tuple[IndicatorTable, dict[int, int]]:
    """Strain (label 1) is driven by late-night commits; other indicators are noise."""
    rng = np.random.default_rng(seed)
    rows, labels = [], {}
    for p in range(n_people):
        for w in range(weeks):
            strained = rng.random() < 0.35
            late = int(rng.integers(4, 9)) if strained else int(rng.integers(0, 3))
            rows.append(PersonWeek(f"person{p:02d}", f"2024-W{w + 10:02d}", commits=int(rng.integers(1, 15)),
                                   churn=int(rng.integers(10, 500)), late_night=late,
                                   weekend=int(rng.integers(0, 3)), review_load=int(rng.integers(0, 5)),
                                   communication=int(rng.integers(0, 10)), sentiment=float(rng.uniform(-0.5, 0.5))))
            labels[len(rows) - 1] = int(strained)
    return _table(rows), labels


def test_model_is_cross_validated_and_explained() -> None:
    table, labels = _labelled()
    model = train_risk_model(table, labels, n_estimators=40)
    assert model.folds == 5 and len(model.rows) == len(labels)
    assert model.auc > 0.9 and model.f1 > 0.8
    assert 0.0 <= model.transparent_auc <= 1.0 and model.transparent_auc > 0.7, "late night carries the top weight"
    expl = explain_people(model, table, top=3, lime_samples=500)
    assert len(expl) == 12 and all(1 <= len(e.shap) <= 3 and len(e.lime) <= 3 for e in expl)
    top = expl[0]
    assert top.probability > 0.5
    assert top.shap[0][0] == "late_night" and top.shap[0][2] > 0, "SHAP: late night raises the risk"
    assert top.lime[0][0] == "late_night" and top.lime[0][2] > 0, "LIME: late night raises the risk"


def test_too_few_labels_of_a_class_are_refused() -> None:
    table, labels = _labelled()
    few = {k: v for k, v in labels.items() if v == 0 or k < 20}
    assert 0 < sum(few.values()) < 10
    with pytest.raises(InputError, match=r"strained and \d+ other person-weeks: training needs at least 10"):
        train_risk_model(table, few)


def test_labels_file_matches_raw_identities_and_dates(tmp_path: Path) -> None:
    ids = Identities.create(salt="s")
    alice = ids.pseudonym("alice@example.org")
    table = IndicatorTable(rows=(PersonWeek(alice, "2024-W10"), PersonWeek(alice, "2024-W11")),
                           _people={"alice@example.org": alice}, _identities=ids)
    path = tmp_path / "labels.csv"
    path.write_text(f"person,week,label\nAlice@Example.org,2024-03-06,yes\n{alice},2024-W11,0\n"
                    "nobody@example.org,2024-W10,1\n", encoding="utf-8")
    assert read_labels(path, table) == {0: 1, 1: 0}
    path.write_text("person,week,label\nnobody@example.org,2024-W10,1\n", encoding="utf-8")
    with pytest.raises(InputError, match="none of its 1 labels matches"):
        read_labels(path, table)


def _alice_table() -> tuple[IndicatorTable, str]:
    ids = Identities.create(salt="s")
    alice = ids.pseudonym("alice@example.org")
    table = IndicatorTable(rows=(PersonWeek(alice, "2024-W10"), PersonWeek(alice, "2024-W11")),
                           _people={"alice@example.org": alice}, _identities=ids)
    return table, alice


@pytest.mark.parametrize(("body", "match"), [
    ("alice@example.org,2024-W10\n", r"labels\.csv row 2: has 2 cells but the header names 3"),
    ("alice@example.org,2024-W10,1\nalice@example.org,2024-03-05,0\n",
     r"row 3 column 'label': labels 'alice@example.org' in 2024-W10 0, but row 2 labels the same person-week 1"),
    ("alice@example.org,2024-W99,1\n", r"row 2 column 'week': '2024-W99' is not a week"),
    ("alice@example.org,1066-W10,1\n", r"row 2 column 'week': '1066-W10' is not a plausible week"),
    ("alice@example.org,2024-03-05garbage,1\n", r"row 2 column 'week'"),
    (" ,2024-W10,1\n", r"row 2 column 'person': person is empty"),
    ("alice@example.org,2024-W10,nan\n", r"row 2 column 'label': 'nan' is not a label"),
    ("", r"has a header but no labels"),
])
def test_labels_are_read_strictly(tmp_path: Path, body: str, match: str) -> None:
    from greenci.errors import DataFormatError

    table, _ = _alice_table()
    path = tmp_path / "labels.csv"
    path.write_text("person,week,label\n" + body, encoding="utf-8")
    with pytest.raises(DataFormatError, match=match):
        read_labels(path, table)


def test_labels_that_match_nobody_are_counted_and_noted(tmp_path: Path) -> None:
    table, _ = _alice_table()
    path = tmp_path / "labels.csv"
    path.write_text("person,week,label\nalice@example.org,2024-W10,1\nalice@example.org,2024-W10,1\n"
                    "nobody@example.org,2024-W10,1\nalice@example.org,2024-W30,0\n", encoding="utf-8")
    labels = read_labels(path, table)
    assert labels == {0: 1} and labels.unmatched == 2 and labels.rows == 4
    assert labels.note is not None and "2 of the 4 labels" in labels.note and str(path) in labels.note
    path.write_bytes("person,week,label\ncafé@example.org,2024-W10,1\n".encode("latin-1"))
    with pytest.raises(InputError, match="is not UTF-8"):
        read_labels(path, table)
    with pytest.raises(InputError, match="labels .*missing.csv: no such file") as info:
        read_labels(tmp_path / "missing.csv", table)
    assert info.value.field == "labels"
