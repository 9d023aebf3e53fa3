"""Burnout risk per person-week: a transparent weighted score, and a trained model when labels exist.

Why a transparent default: without labelled outcomes no model can be validated, and a maintainer must
be able to see *why* a week scores high. The default score is:

1. each indicator is z-scored across all person-weeks of the run, ``z = (x - mean) / sd``
   (``churn`` on ``log1p`` because a single vendored commit would dominate raw line counts; a constant
   or absent indicator has z = 0; z is clipped to [-3, 3] so one outlier cannot decide alone);
2. ``logit = sum(weight_i * z_i)`` with the weights below;
3. ``risk = 1 / (1 + exp(-logit))``: 0.5 is the community's average person-week, 0.73 means the
   weighted indicators sit one standard deviation above average (level ``high``), 0.62 half of one
   (``elevated``).

=======================  ======  ==========================================================
indicator                weight  why
=======================  ======  ==========================================================
``late_night``            0.25   night work is the most cited early sign of overload
``weekend``               0.20   no recovery days
``commits``               0.15   sustained high output
``churn``                 0.10   large rework (log-scaled)
``context_switching``     0.10   many areas per day fragment attention
``review_load``           0.10   reviews are invisible work
``meeting_hours``         0.05   only from a given calendar, else 0
``negative_sentiment``    0.05   minus the mean VADER score of the person's texts
=======================  ======  ==========================================================

``open_prs`` and ``communication`` are reported and used by the trained model, with weight 0 in the
score: volume of conversation is not strain by itself. Each weight times its z is the indicator's
contribution; for this linear score these contributions are exactly the SHAP values in logit space,
so "top factors" are an exact decomposition, not an approximation.

With a labels file (``person,week,label``), a gradient-boosting classifier is trained on the
indicators with stratified k-fold cross-validation; its out-of-fold AUC and F1 are reported beside the
transparent score's on the same rows, and each person's latest week is explained with SHAP
(TreeExplainer) and LIME.
"""

from __future__ import annotations

import math
import os
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from greenci.errors import DataFormatError, InputError
from greenci.insights.indicators import INDICATORS, IndicatorTable, PersonWeek

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ELEVATED_AT", "HIGH_AT", "MIN_PER_CLASS", "WEIGHTS", "Factor", "Labels", "PersonExplanation",
           "RiskModel", "RiskScore", "WeekView", "community_view", "explain_people", "feature_matrix",
           "latest_by_person", "read_labels", "train_risk_model", "transparent_scores"]

WEIGHTS: dict[str, float] = {
    "late_night": 0.25,
    "weekend": 0.20,
    "commits": 0.15,
    "churn": 0.10,
    "context_switching": 0.10,
    "review_load": 0.10,
    "meeting_hours": 0.05,
    "negative_sentiment": 0.05,
}
LOG_SCALED = frozenset({"churn"})
Z_CLIP = 3.0
HIGH_AT = 1.0 / (1.0 + math.exp(-1.0))  # weighted indicators one sd above average
ELEVATED_AT = 1.0 / (1.0 + math.exp(-0.5))
MIN_PER_CLASS = 10


@dataclass(frozen=True)
class Factor:
    """One indicator's part in a score: raw value, z-score and weight x z."""

    indicator: str
    value: float
    z: float
    contribution: float


@dataclass(frozen=True)
class RiskScore:
    """Transparent risk of one person-week, with every indicator's contribution (largest first)."""

    person: str
    week: str
    risk: float
    logit: float
    factors: tuple[Factor, ...]

    @property
    def level(self) -> str:
        return "high" if self.risk >= HIGH_AT else "elevated" if self.risk >= ELEVATED_AT else "typical"

    def top_factors(self, n: int = 3) -> tuple[Factor, ...]:
        """The indicators that raise this score most (positive contributions only)."""
        return tuple(f for f in self.factors if f.contribution > 0)[:n]


def _raw_value(row: PersonWeek, name: str) -> float:
    return -row.sentiment if name == "negative_sentiment" else float(getattr(row, name))


def _scaled(name: str, value: float) -> float:
    """The value that is z-scored: log1p for heavy-tailed indicators (churn)."""
    return math.log1p(max(value, 0.0)) if name in LOG_SCALED and math.isfinite(value) else value


def transparent_scores(table: IndicatorTable, weights: Mapping[str, float] | None = None) -> list[RiskScore]:
    """The weighted z-score risk of every person-week (see the module docstring)."""
    w = dict(WEIGHTS if weights is None else weights)
    unknown = [k for k in w if k not in (*INDICATORS, "negative_sentiment")]
    if unknown:
        raise InputError(f"weights name unknown indicator(s) {', '.join(unknown)}: use "
                         f"{', '.join((*INDICATORS, 'negative_sentiment'))}")
    columns = {name: [_raw_value(r, name) for r in table.rows] for name in w}
    zs = {name: _zscores([_scaled(name, v) for v in values]) for name, values in columns.items()}
    out = []
    for i, r in enumerate(table.rows):
        factors = [Factor(name, columns[name][i], zs[name][i], w[name] * zs[name][i]) for name in w]
        factors.sort(key=lambda f: -f.contribution)
        logit = sum(f.contribution for f in factors)
        out.append(RiskScore(r.person, r.week, 1.0 / (1.0 + math.exp(-logit)), logit, tuple(factors)))
    return out


def _zscores(values: Sequence[float]) -> list[float]:
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < 2:
        return [0.0] * len(values)
    mean = sum(finite) / len(finite)
    sd = math.sqrt(sum((v - mean) ** 2 for v in finite) / len(finite))
    if sd == 0:
        return [0.0] * len(values)
    return [max(-Z_CLIP, min(Z_CLIP, (v - mean) / sd)) if math.isfinite(v) else 0.0 for v in values]


def latest_by_person(scores: Sequence[RiskScore]) -> list[RiskScore]:
    """Each person's most recent week, highest risk first."""
    last: dict[str, RiskScore] = {}
    for s in scores:
        if s.person not in last or s.week > last[s.person].week:
            last[s.person] = s
    return sorted(last.values(), key=lambda s: (-s.risk, s.person))


@dataclass(frozen=True)
class WeekView:
    """The community in one week: who was active and how risk is spread."""

    week: str
    people: int
    mean_risk: float
    max_risk: float
    elevated: int
    high: int


def community_view(scores: Sequence[RiskScore]) -> list[WeekView]:
    """One row per week, oldest first."""
    by_week: dict[str, list[RiskScore]] = defaultdict(list)
    for s in scores:
        by_week[s.week].append(s)
    out = []
    for week in sorted(by_week):
        items = by_week[week]
        risks = [s.risk for s in items]
        out.append(WeekView(week, len(items), sum(risks) / len(risks), max(risks),
                            sum(1 for s in items if s.level == "elevated"), sum(1 for s in items if s.level == "high")))
    return out


# ---------------------------------------------------------------------------------------- labels and model
class Labels(dict[int, int]):
    """Row index in an indicator table -> label (0/1), and how many rows of the file matched no person-week."""

    def __init__(self, labels: Mapping[int, int], *, source: str = "", rows: int = 0, unmatched: int = 0) -> None:
        super().__init__(labels)
        self.source, self.rows, self.unmatched = source, rows, unmatched

    @property
    def note(self) -> str | None:
        """What to tell the user about labels that were not used."""
        if not self.unmatched:
            return None
        return (f"{self.unmatched} of the {self.rows} labels in {self.source} match no person-week of the repositories "
                "(another e-mail, a week without activity, or another salt): they are not used")


def read_labels(path: str | os.PathLike[str], table: IndicatorTable) -> Labels:
    """Row index in ``table`` -> label (0/1) from a CSV ``person,week,label``.

    ``person`` is an e-mail or login (pseudonymised the same way as the table) or an id as shown;
    ``week`` is ``2024-W09`` or any date in that week; ``label`` is 1/0, true/false or yes/no. Every
    cell must be filled; a person-week labelled twice must have the same label both times. Labels
    that match no person-week of the table are counted (:attr:`Labels.unmatched`), not used.
    """
    from greenci.insights.csvfiles import read_table

    name = os.fspath(path)
    cols, records = read_table(name, field="labels", what="a labels file", required=("person", "week", "label"))
    index = {(r.person, r.week): k for k, r in enumerate(table.rows)}
    out: dict[int, int] = {}
    first_row: dict[int, int] = {}
    unmatched = 0
    for line, cells in records:
        person, week, label = (cells[cols[c]] for c in ("person", "week", "label"))
        if not person.strip():
            raise DataFormatError("person is empty: write the e-mail or login of the person", path=name, row=line,
                                  column="person")
        value = _label(label, name, line)
        when = _week(week, name, line)
        shown = table.person_for(person)
        k = index.get((shown, when)) if shown is not None else None
        if k is None:
            unmatched += 1
            continue
        if k in out and out[k] != value:
            raise DataFormatError(f"labels {person.strip()!r} in {when} {value}, but row {first_row[k]} labels the "
                                  f"same person-week {out[k]}: keep one label per person and week", path=name,
                                  row=line, column="label")
        out[k] = value
        first_row.setdefault(k, line)
    if not records:
        raise DataFormatError("has a header but no labels: add one row person,week,label per labelled week",
                              path=name)
    if not out:
        raise InputError(f"labels {name}: none of its {len(records)} labels matches a person-week of the repository: "
                         "give person as the e-mail (or login) used in commits and week as 2024-W09, or give the "
                         "salt that made the pseudonyms of an earlier run", field="labels")
    return Labels(out, source=name, rows=len(records), unmatched=unmatched)


def _label(text: str, path: str, line: int) -> int:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "y", "1.0"):
        return 1
    if t in ("0", "false", "no", "n", "0.0"):
        return 0
    raise DataFormatError(f"{text!r} is not a label: write 1 (strained) or 0", path=path, row=line, column="label")


def _week(text: str, path: str, line: int) -> str:
    """``2024-W09``, or the ISO week of a date (``2024-02-28``, or a date-time as written)."""
    from datetime import datetime

    from greenci.insights import PLAUSIBLE_YEARS

    t = text.strip()
    try:
        m = re.fullmatch(r"(\d{4})-W(\d{2})", t)
        if m:
            day = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        else:
            day = datetime.fromisoformat(t).date() if len(t) > 10 else date.fromisoformat(t)
    except ValueError:
        raise DataFormatError(f"{text!r} is not a week: write 2024-W09 or a date in that week", path=path,
                              row=line, column="week") from None
    if not PLAUSIBLE_YEARS[0] <= day.year <= PLAUSIBLE_YEARS[1]:
        raise DataFormatError(f"{text!r} is not a plausible week (years {PLAUSIBLE_YEARS[0]} to {PLAUSIBLE_YEARS[1]}): "
                              "correct the year", path=path, row=line, column="week")
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def feature_matrix(table: IndicatorTable) -> tuple[np.ndarray, tuple[str, ...]]:
    """Model inputs: every indicator with data (meeting hours only with a calendar); no text -> sentiment 0."""
    import numpy as np

    names = tuple(n for n in INDICATORS if n != "meeting_hours" or table.has_calendar)
    if not table.has_sentiment:
        names = tuple(n for n in names if n != "sentiment")
    X = np.array([[float(getattr(r, n)) for n in names] for r in table.rows], dtype=float).reshape(-1, len(names))
    X[~np.isfinite(X)] = 0.0
    return X, names


@dataclass(frozen=True, eq=False)
class RiskModel:
    """A classifier trained on labelled person-weeks, and its cross-validated quality."""

    model: Any
    feature_names: tuple[str, ...]
    columns: tuple[int, ...]
    X: Any
    y: Any
    rows: tuple[int, ...]
    folds: int
    auc: float
    f1: float
    transparent_auc: float
    transparent_f1: float

    @property
    def positives(self) -> int:
        return int(self.y.sum())

    def as_dict(self) -> dict[str, Any]:
        return {"model": type(self.model).__name__, "features": list(self.feature_names), "examples": len(self.rows),
                "positives": self.positives, "folds": self.folds, "auc": self.auc, "f1": self.f1,
                "transparent_auc": self.transparent_auc, "transparent_f1": self.transparent_f1}


def train_risk_model(table: IndicatorTable, labels: Mapping[int, int], *, scores: Sequence[RiskScore] | None = None,
                     n_splits: int = 5, seed: int = 0, n_estimators: int = 100,
                     min_per_class: int = MIN_PER_CLASS) -> RiskModel:
    """Gradient boosting on the labelled rows: stratified k-fold AUC and F1, then a fit on all of them."""
    import numpy as np

    try:
        from sklearn.ensemble import GradientBoostingClassifier
        from sklearn.metrics import f1_score, roc_auc_score
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
    except ImportError as exc:
        from greenci.insights import missing_extra

        raise missing_extra("the burnout model", exc) from None
    rows = tuple(sorted(labels))
    y = np.array([labels[k] for k in rows], dtype=int)
    pos, neg = int(y.sum()), int(len(y) - y.sum())
    if min(pos, neg) < min_per_class:
        raise InputError(f"labels give {pos} strained and {neg} other person-weeks: training needs at least "
                         f"{min_per_class} of each class; label more weeks, or use the transparent score alone "
                         "(without labels)", field="labels")
    X_all, all_names = feature_matrix(table)
    keep = [j for j in range(X_all.shape[1]) if np.ptp(X_all[list(rows), j]) > 0]  # constants explain nothing
    if not keep:
        raise InputError("labels: every indicator is constant over the labelled weeks: there is nothing to learn "
                         "from; label weeks that differ", field="labels")
    names = tuple(all_names[j] for j in keep)
    X = X_all[np.ix_(list(rows), keep)]
    folds = min(n_splits, pos, neg)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    model = GradientBoostingClassifier(n_estimators=n_estimators, max_depth=2, learning_rate=0.1, random_state=seed)
    oof = cross_val_predict(model, X, y, cv=cv, method="predict_proba")[:, 1]
    scores = list(scores) if scores is not None else transparent_scores(table)
    risk = np.array([scores[k].risk for k in rows])
    model.fit(X, y)
    return RiskModel(model=model, feature_names=names, columns=tuple(keep), X=X, y=y, rows=rows, folds=folds,
                     auc=float(roc_auc_score(y, oof)), f1=float(f1_score(y, oof >= 0.5, zero_division=0)),
                     transparent_auc=float(roc_auc_score(y, risk)),
                     transparent_f1=float(f1_score(y, risk >= 0.5, zero_division=0)))


@dataclass(frozen=True)
class PersonExplanation:
    """Why the model rates a person's latest week as it does: top SHAP and LIME factors."""

    person: str
    week: str
    probability: float
    shap: tuple[tuple[str, float, float], ...]
    lime: tuple[tuple[str, str, float], ...]


def explain_people(risk_model: RiskModel, table: IndicatorTable, *, people: Sequence[str] | None = None,
                   top: int = 3, seed: int = 0, lime_samples: int = 1000) -> list[PersonExplanation]:
    """SHAP (TreeExplainer) and LIME top factors of each person's latest week, highest probability first.

    SHAP values are in log-odds (positive raises the risk); LIME weights are in probability of the
    strained class around that week.
    """
    from greenci.insights.explain import lime_explain, shap_values

    X_all = feature_matrix(table)[0][:, list(risk_model.columns)]
    names = risk_model.feature_names
    latest: dict[str, int] = {}
    for k, r in enumerate(table.rows):
        if people is not None and r.person not in people:
            continue
        if r.person not in latest or r.week > table.rows[latest[r.person]].week:
            latest[r.person] = k
    if not latest:
        return []
    idx = sorted(latest.values())
    proba = risk_model.model.predict_proba(X_all[idx])[:, 1]
    shap_res = shap_values(risk_model.model, X_all[idx], names)
    out = []
    for j, k in enumerate(idx):
        lime_res = lime_explain(risk_model.model.predict_proba, risk_model.X, X_all[k], names, mode="classification",
                                num_features=top, num_samples=lime_samples, random_state=seed)
        out.append(PersonExplanation(
            person=table.rows[k].person, week=table.rows[k].week, probability=float(proba[j]),
            shap=tuple(t for t in shap_res.local(j, top) if abs(t[2]) > 1e-9),
            lime=tuple((w.feature, w.rule, w.weight) for w in lime_res.weights[:top] if abs(w.weight) > 1e-9)))
    out.sort(key=lambda e: (-e.probability, e.person))
    return out


def plot_community(view: Sequence[WeekView], path: str | os.PathLike[str], title: str = "Community over time") -> str:
    """Mean and max risk per week (lines) over the number of active people (bars)."""
    from pathlib import Path

    from greenci.insights.explain import load_pyplot, plain, save_figure

    plt = load_pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.8))
    x = list(range(len(view)))
    ax2 = ax.twinx()
    ax2.bar(x, [v.people for v in view], color="#d5dbdb", label="active people")
    ax2.set_ylabel("active people")
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.plot(x, [v.mean_risk for v in view], color="#2874a6", label="mean risk")
    ax.plot(x, [v.max_risk for v in view], color="#c0392b", linestyle="--", label="max risk")
    ax.axhline(HIGH_AT, color="#c0392b", linewidth=0.6, alpha=0.5)
    ax.set_ylim(0, 1)
    ax.set_ylabel("risk (0.5 = community average)")
    step = max(1, len(view) // 12)
    ax.set_xticks(x[::step], [v.week for v in view][::step], rotation=45, ha="right", fontsize=7)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(plain(title), fontsize=10)
    fig.tight_layout()
    return str(save_figure(fig, Path(path)))
