"""What drives CI energy: correlation, then a model, then SHAP (global, local) and LIME (local).

Why this order: correlations are cheap and honest about pairs; a model captures joint and non-linear
effects; SHAP and LIME then say what the model leans on, for all runs and for one run. Each step is
shown, so a surprising explanation can be checked against the plain correlations.

Input: a table of CI runs, one row a run (CSV or Parquet). Default columns (rename yours or pass
``features=``/``target=``):

========================  ===================================================================
``energy_kwh``            the target: energy of the run, ideally from ``greenci measure``
``tests``                 tests executed
``builds``                build steps or artefacts built
``deployments``           deployments made by the run (0/1 or a count)
``cpu_seconds``           CPU time used
``memory_gb``             peak (or mean) memory
``network_mb``            data transferred
``renewable_pct``         renewable share of the grid during the run, %
``low_carbon_pct``        low-carbon share (renewables + nuclear), %
``intensity_g_per_kwh``   carbon intensity of the grid during the run
``productivity``          a productivity measure (e.g. changes merged per run)
========================  ===================================================================

Grid features from real files (``join_grid``): when the table has ``started_at`` (UTC) and ``region``,
the renewable and low-carbon share and the direct carbon intensity are taken from Electricity Maps
hourly exports (``Renewable Percentage``, ``Low Carbon Percentage``, ``Carbon Intensity gCO₂eq/kWh
(direct)``; the region is the zone folder, the file prefix or the ``Zone Id``), or, for regions only
covered there, from lets-wait-awhile files: ``{fr,gb}_production.csv`` (MW per source: share =
biomass + geothermal + hydro run-of-river + hydro reservoir + marine + other renewable + solar + wind,
over all domestic generation except pumped storage; imports left out) and ``*_ci.csv`` (intensity).
A value covers its slot ``[t, t + step)``; runs outside every file's span get NaN and are counted.
Joined columns replace columns of the same name in the table.

``synthetic_runs`` makes a labelled demo table whose energy is driven by CPU seconds (documented
coefficients), with no effect of the renewable share on kWh; everything made from it says "synthetic".
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from greenci.errors import DataFormatError, InputError
from greenci.jsonsafe import finite

if TYPE_CHECKING:
    import pandas as pd

    from greenci.insights.selfenergy import EnergyUse

__all__ = ["DEFAULT_FEATURES", "DEFAULT_TARGET", "OUTPUT_FILES", "ImpactReport", "JoinReport", "ModelTable",
           "analyse_impact", "impact_markdown", "join_grid", "model_table", "plausible_range", "read_runs",
           "synthetic_runs", "write_report"]

DEFAULT_TARGET = "energy_kwh"
DEFAULT_FEATURES = ("tests", "builds", "deployments", "cpu_seconds", "memory_gb", "network_mb", "renewable_pct",
                    "low_carbon_pct", "intensity_g_per_kwh", "productivity")
GRID_COLUMNS = ("renewable_pct", "low_carbon_pct", "intensity_g_per_kwh")
MIN_ROWS = 20
SHAP_MAX_ROWS = 2000
SYNTHETIC_LABEL = "SYNTHETIC demo data (greenci's generator, not real CI runs)"


# ---------------------------------------------------------------------------------------------- input
#: a number as written in a CSV cell (no ``nan``, ``inf``, hexadecimal or thousands separators)
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
#: no column of a run table holds a value this large in absolute terms (1e15 s is 30 million years)
ABSURD = 1e15
#: plausible ranges of the documented columns: (lowest, highest, what it is)
RANGES: dict[str, tuple[float, float, str]] = {
    "energy_kwh": (0.0, 1e5, "kWh of one CI run"),
    "tests": (0.0, 1e9, "a count of tests"),
    "builds": (0.0, 1e6, "a count of builds"),
    "deployments": (0.0, 1e6, "a count of deployments"),
    "cpu_seconds": (0.0, 1e10, "CPU seconds"),
    "memory_gb": (0.0, 1e6, "GB of memory"),
    "network_mb": (0.0, 1e10, "MB transferred"),
    "renewable_pct": (0.0, 100.0, "a percentage"),
    "low_carbon_pct": (0.0, 100.0, "a percentage"),
    "intensity_g_per_kwh": (0.0, 5000.0, "gCO2eq/kWh"),
    "productivity": (0.0, 1e6, "a count per run"),
}
_KINDS: tuple[tuple[str, tuple[float, float, str]], ...] = (
    (r"(?:^|_)(?:pct|percent|percentage|share)(?:_|$)", (0.0, 100.0, "a percentage")),
    (r"(?:^|_)(?:kwh|wh|mwh|joules?|energy)(?:_|$)", (0.0, ABSURD, "an energy")),
    (r"(?:^|_)(?:duration|seconds?|secs?|s|ms|minutes?|mins?|hours?|h|time)(?:_|$)", (0.0, ABSURD, "a duration")),
    (r"(?:^|_)(?:count|counts|total|num|n|number)(?:_|$)", (0.0, ABSURD, "a count")),
    (r"(?:^|_)(?:gb|mb|kb|bytes|memory)(?:_|$)", (0.0, ABSURD, "a size")),
)


def plausible_range(column: str) -> tuple[float, float, str]:
    """(lowest, highest, what) a value of ``column`` may take: documented columns, then by name, else finite."""
    import re

    name = column.strip().lower()
    if name in RANGES:
        return RANGES[name]
    for pattern, bounds in _KINDS:
        if re.search(pattern, name):
            return bounds
    return (-ABSURD, ABSURD, "a number")


def read_runs(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A table of CI runs from CSV or Parquet (told by the extension).

    A CSV file must be UTF-8 with one header line naming every column once; every row has as many cells
    as the header (trailing empty cells aside), an empty cell is a missing value. Columns whose cells are
    all plain numbers come back numeric, the others as text (checked when used). ``frame.attrs`` keeps
    the file (``source``) and the row number of each run in the file (``rows``) for error messages.
    """
    import pandas as pd

    name = os.fspath(path)
    if not Path(name).is_file():
        raise InputError(f"{name}: no such file: pass a CSV or Parquet table of CI runs")
    if name.lower().endswith((".parquet", ".pq")):
        try:
            frame = pd.read_parquet(name)
        except ImportError:
            from greenci.errors import ConfigError

            raise ConfigError("reading Parquet needs pyarrow: pip install 'greenci[parquet]'") from None
        except Exception as exc:  # noqa: BLE001 - pyarrow raises its own types for a damaged file
            raise DataFormatError(f"is not a readable Parquet table ({type(exc).__name__}: {str(exc)[:200]}): "
                                  "write it again with pandas or pyarrow", path=name) from None
        header = [str(c).strip() for c in frame.columns]
        _check_header(header, name)
        frame.columns = header
        rows: tuple[int, ...] = tuple(range(1, len(frame) + 1))
    else:
        header, records, rows = _read_csv_records(name)
        frame = pd.DataFrame(records, columns=header, dtype=object)
        for c in header:
            cells = frame[c].str.strip()
            blank = cells == ""
            if (~blank).any() and cells[~blank].str.fullmatch(_NUMBER).all():
                frame[c] = pd.to_numeric(cells.mask(blank))
            else:
                frame[c] = frame[c].mask(blank)
    frame.attrs["source"] = name
    frame.attrs["rows"] = rows
    return frame


def _read_csv_records(name: str) -> tuple[list[str], list[list[str]], tuple[int, ...]]:
    """Header, data records (each as wide as the header) and their row numbers in the file."""
    from greenci.insights.csvfiles import as_wide_as_header, read_records

    records = read_records(name, field="table", what="a table of CI runs")
    if not records:
        raise DataFormatError("is empty: a table of CI runs has a header line and one row per run", path=name)
    header = [c.strip() for c in records[0][1]]
    _check_header(header, name)
    wide = as_wide_as_header(records[1:], len(header), name)
    rows = [row for row, _ in wide]
    cells = [record for _, record in wide]
    if not cells:
        raise DataFormatError("has a header but no runs: add one row per CI run", path=name)
    return header, cells, tuple(rows)


def _check_header(header: list[str], name: str) -> None:
    """Unnamed columns (a saved index) become ``unnamed_1``...; a name given twice is refused."""
    for j, c in enumerate(header):
        if not c:
            header[j] = f"unnamed_{j + 1}"
    seen: set[str] = set()
    for c in header:
        if c in seen:
            raise DataFormatError(f"names column {c!r} twice: give each column its own name", path=name, row=1)
        seen.add(c)


def synthetic_runs(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A labelled synthetic table of CI runs with a known driver (CPU seconds) of energy.

    energy_kwh = 4e-6 x cpu_seconds + 2e-5 x memory_gb + 1e-6 x network_mb + noise (sd 1e-4), where
    cpu_seconds = 0.9 x tests + 240 x builds + 600 x deployments + gamma noise; the grid columns
    (renewable share, intensity) have no effect on kWh, by construction.
    """
    import pandas as pd

    if n < MIN_ROWS:
        raise InputError(f"n={n} synthetic runs is too few: use at least {MIN_ROWS}")
    rng = np.random.default_rng(seed)
    tests = rng.poisson(400, n)
    builds = rng.integers(1, 6, n)
    deployments = rng.binomial(1, 0.2, n)
    cpu = 0.9 * tests + 240.0 * builds + 600.0 * deployments + rng.gamma(2.0, 60.0, n)
    memory = rng.uniform(2.0, 16.0, n)
    network = rng.lognormal(4.0, 0.8, n) + 150.0 * deployments
    renewable = rng.uniform(5.0, 85.0, n)
    energy = np.clip(4e-6 * cpu + 2e-5 * memory + 1e-6 * network + rng.normal(0.0, 1e-4, n), 0.0, None)
    start = np.datetime64("2022-10-01T00:00:00") + (np.sort(rng.uniform(0, 30 * 24, n)) * 3600).astype("timedelta64[s]")
    return pd.DataFrame({
        "run_id": np.arange(1, n + 1),
        "started_at": pd.to_datetime(start).tz_localize("UTC"),
        "region": rng.choice(["DE-LU", "GB", "US-CAL-CISO"], n),
        "tests": tests, "builds": builds, "deployments": deployments, "cpu_seconds": np.round(cpu, 1),
        "memory_gb": np.round(memory, 2), "network_mb": np.round(network, 1), "renewable_pct": np.round(renewable, 1),
        "low_carbon_pct": np.round(np.clip(renewable + rng.uniform(0, 15, n), 0, 100), 1),
        "intensity_g_per_kwh": np.round(np.clip(520 - 4.5 * renewable + rng.normal(0, 25, n), 10, None), 1),
        "productivity": rng.poisson(1 + builds), "energy_kwh": energy, "synthetic": True,
    })


# ---------------------------------------------------------------------------------------------- grid join
@dataclass(frozen=True)
class JoinReport:
    """How the grid columns were joined: rows matched, rows without data, files used."""

    matched: int
    unmatched: int
    regions_without_files: tuple[str, ...]
    files: tuple[str, ...]


#: region names (lower case) -> [(file, frame of ``time`` + grid columns, step s)], best source first
GridFeatures = Callable[[set[str]], dict[str, list[tuple[str, "pd.DataFrame", int]]]]


def join_grid(frame: pd.DataFrame, features: GridFeatures, *, time_column: str = "started_at",
              region_column: str = "region") -> tuple[pd.DataFrame, JoinReport]:
    """Add renewable share, low-carbon share and intensity by run start and region (module docstring).

    ``features`` reads the grid columns of the regions asked for, e.g.
    ``functools.partial(greenci.sources.grid_features.read_grid_features, folder)``.
    """
    import pandas as pd

    for col, field_name, what in ((time_column, "time_column", "start time (UTC)"),
                                  (region_column, "region_column", "region")):
        if col not in frame.columns:
            raise InputError(f"{field_name} {col!r} is not a column of {_source(frame)} (found "
                             f"{', '.join(map(str, frame.columns))}): joining grid data needs each run's {what}; "
                             "name its column, or join no grid data", field=field_name)
    started = pd.to_datetime(frame[time_column], utc=True, errors="coerce", format="ISO8601")
    bad = started.isna() & frame[time_column].notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataFormatError(f"{frame[time_column].iloc[i]!r} is not a time: write ISO 8601 in UTC",
                              path=frame.attrs.get("source"), row=_row(frame, i), column=time_column)
    regions = frame[region_column].astype(str).str.strip()
    wanted = {r.lower() for r in regions.unique()}
    sources = features(wanted)
    out = frame.copy()
    for col in GRID_COLUMNS:
        out[col] = np.nan
    used: list[str] = []
    for region in sorted(set(regions)):
        mask = (regions == region).to_numpy()
        runs = pd.DataFrame({"t": started[mask].dt.tz_convert(None).astype("datetime64[ns]"),
                             "pos": np.flatnonzero(mask)})
        runs = runs.dropna(subset=["t"]).sort_values("t")
        for path, data, step_s in sources.get(region.lower(), []):
            merged = pd.merge_asof(runs, data, left_on="t", right_on="time", direction="backward",
                                   tolerance=pd.Timedelta(seconds=step_s) - pd.Timedelta(1, "ns"))
            took = False
            for col in GRID_COLUMNS:
                if col not in merged:
                    continue
                values = merged[col].to_numpy(dtype=float)
                pos = merged["pos"].to_numpy()
                current = out[col].to_numpy(dtype=float)[pos]
                fill = np.isnan(current) & ~np.isnan(values)
                if fill.any():
                    col_idx = out.columns.get_loc(col)
                    out.iloc[pos[fill], col_idx] = values[fill]
                    took = True
            if took:
                used.append(path)
    have = out[list(GRID_COLUMNS)].notna().any(axis=1)
    missing = tuple(sorted(r for r in set(regions) if r.lower() not in sources))
    return out, JoinReport(matched=int(have.sum()), unmatched=int((~have).sum()), regions_without_files=missing,
                           files=tuple(dict.fromkeys(used)))


# ---------------------------------------------------------------------------------------------- analysis
#: a cross-validated R² at or below this explains nothing: the model predicts no better than the mean
EXPLAINS_ABOVE_R2 = 0.0
#: below this R² the model is weak: its explanations are hints
WEAK_R2 = 0.3


@dataclass(frozen=True)
class ImpactReport:
    """Everything the impact analysis found, in plain values (JSON-ready via ``as_dict``)."""

    target: str
    features: tuple[str, ...]
    rows: int
    dropped_rows: int
    synthetic: bool
    source: str
    correlation_names: tuple[str, ...]
    pearson: tuple[tuple[float, ...], ...]
    spearman: tuple[tuple[float, ...], ...]
    model: str
    folds: int
    cv_r2: float
    cv_mae: float
    target_mean: float
    shap_ranking: tuple[tuple[str, float, float], ...]
    shap_base: float
    local_row: int
    local_target: float
    local_prediction: float
    shap_local: tuple[tuple[str, float, float], ...]
    lime_local: tuple[tuple[str, str, float], ...]
    lime_prediction: float
    lime_score: float
    figures: tuple[str, ...] = ()
    join: JoinReport | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def explanatory(self) -> bool:
        """Whether the model explains any of the target (cross-validated R² above 0): else SHAP and LIME
        describe a model that predicts no better than the mean, and their rankings mean nothing."""
        return math.isfinite(self.cv_r2) and self.cv_r2 > EXPLAINS_ABOVE_R2

    @property
    def warning(self) -> str | None:
        """What must be said beside any ranking: the model explains nothing, or little."""
        r2 = f"{self.cv_r2:.3f}" if math.isfinite(self.cv_r2) else "undefined"
        if not self.explanatory:
            return (f"the model does not explain {self.target}: cross-validated R² {r2} <= 0, it predicts no better "
                    "than the mean; the SHAP and LIME rankings describe noise, not what drives it")
        if self.cv_r2 < WEAK_R2:
            return (f"the model explains little of {self.target}: cross-validated R² {r2} < {WEAK_R2}; treat the "
                    "SHAP and LIME rankings as hints")
        return None

    def as_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["warning"] = self.warning
        doc["shap_ranking_explanatory"] = self.explanatory
        return finite(doc)




@dataclass(frozen=True, eq=False)
class ModelTable:
    """The numeric columns the model uses, complete rows only, and where each row came from."""

    data: pd.DataFrame
    positions: np.ndarray
    dropped: int
    total: int


def model_table(frame: pd.DataFrame, *, target: str = DEFAULT_TARGET, features: Sequence[str] | None = None,
                min_rows: int = MIN_ROWS) -> tuple[ModelTable, list[str]]:
    """The target and feature columns as checked numbers (plausible, finite), complete rows only.

    Every value must be a number in its column's plausible range (:func:`plausible_range`); an empty cell
    is a missing value, and a run with a missing value is left out and counted. Returns the table and the
    features used (the documented defaults present when ``features`` is None).
    """
    import pandas as pd

    source = _source(frame)
    found = ", ".join(map(str, frame.columns))
    if target not in frame.columns:
        raise InputError(f"target {target!r} is not a column of {source} (found {found}): name the column to explain",
                         field="target")
    if features is None:
        features = [c for c in DEFAULT_FEATURES if c in frame.columns and c != target]
        if not features:
            raise InputError(f"features: none of the default feature columns ({', '.join(DEFAULT_FEATURES)}) is in "
                             f"{source} (found {found}): name yours, comma-separated", field="features")
    features = list(dict.fromkeys(features))
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise InputError(f"features {', '.join(map(repr, missing))}: not column(s) of {source} (found {found}): "
                         "name columns of the table", field="features")
    if target in features:
        raise InputError(f"features include the target {target!r}: a column cannot explain itself; leave it out",
                         field="features")
    cols = [target, *features]
    data = pd.DataFrame({c: _numeric(frame, c) for c in cols})
    complete = data.notna().all(axis=1).to_numpy()
    positions = np.flatnonzero(complete)
    data = data.loc[complete].reset_index(drop=True)
    if len(data) < min_rows:
        raise InputError(f"only {len(data)} of {len(frame)} runs have the target and all features filled (in "
                         f"{source}): the impact model needs at least {min_rows}; fill the missing values or choose "
                         "other feature columns", field="features")
    return ModelTable(data, positions, int((~complete).sum()), len(frame)), features


def analyse_impact(frame: pd.DataFrame, *, out_dir: str | os.PathLike[str], target: str = DEFAULT_TARGET,
                   features: Sequence[str] | None = None, synthetic: bool = False, source: str = "",
                   local_row: int | None = None, seed: int = 0, n_estimators: int = 200, lime_samples: int = 2000,
                   join: JoinReport | None = None) -> ImpactReport:
    """Correlation matrix, a cross-validated gradient-boosting model, SHAP and LIME; figures into ``out_dir``.

    ``local_row`` is the 0-based position of the run to explain locally (default: the run with the
    highest target). Rows with a missing value in the target or a feature are left out and counted.
    Every input is checked before the model is fitted, and the figures are written (each whole, via a
    temporary name) only once everything is computed: a refused run writes nothing.
    """
    try:
        from sklearn.ensemble import GradientBoostingRegressor
        from sklearn.metrics import mean_absolute_error, r2_score
        from sklearn.model_selection import KFold, cross_val_predict
    except ImportError as exc:
        from greenci.insights import missing_extra

        raise missing_extra("the impact model", exc) from None
    from greenci.insights.explain import (
        lime_explain,
        plot_correlation,
        plot_lime,
        plot_shap_global,
        plot_shap_local,
        shap_values,
    )

    if not 0 <= seed < 2**32:
        raise InputError(f"seed {seed} must be a whole number from 0 to {2**32 - 1}", field="seed")
    table, features = model_table(frame, target=target, features=features)
    data, positions, dropped = table.data, table.positions, table.dropped
    cols = [target, *features]
    notes = []
    if dropped:
        notes.append(f"{dropped} of {len(frame)} runs left out: a value of the target or a feature is missing")
    if local_row is None:
        local = int(np.argmax(data[target].to_numpy(dtype=float)))
    else:
        where = np.flatnonzero(positions == local_row)
        if not 0 <= local_row < len(frame) or where.size == 0:
            raise InputError(f"row {local_row} is not a complete run: give a 0-based row between 0 and "
                             f"{len(frame) - 1} whose target and features are all filled", field="row")
        local = int(where[0])
    label = " — SYNTHETIC" if synthetic else ""

    pearson = data[cols].corr(method="pearson").to_numpy()
    spearman = data[cols].corr(method="spearman").to_numpy()
    constant = [c for c in cols if data[c].nunique() < 2]
    if constant:
        notes.append(f"{', '.join(constant)} take one value in every run: their correlations are undefined (null)")

    X = data[features].to_numpy(dtype=float)
    y = data[target].to_numpy(dtype=float)
    folds = max(2, min(5, len(y) // 10))
    model = GradientBoostingRegressor(n_estimators=n_estimators, max_depth=3, learning_rate=0.05, random_state=seed)
    pred = cross_val_predict(model, X, y, cv=KFold(n_splits=folds, shuffle=True, random_state=seed))
    model.fit(X, y)
    shap_idx = np.arange(len(y))
    if len(y) > SHAP_MAX_ROWS:
        rng = np.random.default_rng(seed)
        shap_idx = np.sort(np.union1d(rng.choice(len(y), SHAP_MAX_ROWS - 1, replace=False), [local]))
        notes.append(f"SHAP values computed on a random sample of {len(shap_idx)} of {len(y)} runs (seed {seed})")
    sres = shap_values(model, X[shap_idx], features)
    local_in_shap = int(np.flatnonzero(shap_idx == local)[0])
    direction = sres.direction()
    ranking = tuple((name, float(sres.global_importance[features.index(name)]), direction[name])
                    for name in sres.ranking)
    lres = lime_explain(model.predict, X, X[local], features, mode="regression",
                        num_features=min(6, len(features)), num_samples=lime_samples, random_state=seed)
    r2 = float(r2_score(y, pred)) if np.ptp(y) > 0 else math.nan
    if not math.isfinite(r2):
        notes.append(f"{target} takes one value in every run: R² is undefined and there is nothing to explain")
    caveat = "" if math.isfinite(r2) and r2 > EXPLAINS_ABOVE_R2 else " — NOT EXPLANATORY (R² <= 0)"

    out = Path(out_dir)
    figures = [
        plot_correlation(pearson, cols, out / "correlation.png", f"Pearson correlation{label}"),
        plot_shap_global(sres, out / "shap_global.png", f"What drives {target}: mean |SHAP|{label}{caveat}"),
        plot_shap_local(sres, local_in_shap, out / "shap_local.png",
                        f"Run {int(positions[local])}: SHAP (base {sres.base_value:.4g} {target}){label}{caveat}"),
        plot_lime(lres, out / "lime_local.png", f"Run {int(positions[local])}: LIME{label}{caveat}"),
    ]
    return ImpactReport(
        target=target, features=tuple(features), rows=len(y), dropped_rows=dropped, synthetic=synthetic,
        source=source, correlation_names=tuple(cols), pearson=_matrix(pearson), spearman=_matrix(spearman),
        model=f"GradientBoostingRegressor(n_estimators={n_estimators}, max_depth=3)", folds=folds,
        cv_r2=r2, cv_mae=float(mean_absolute_error(y, pred)), target_mean=float(y.mean()),
        shap_ranking=ranking, shap_base=sres.base_value, local_row=int(positions[local]), local_target=float(y[local]),
        local_prediction=float(model.predict(X[local:local + 1])[0]), shap_local=tuple(sres.local(local_in_shap)),
        lime_local=tuple((w.feature, w.rule, w.weight) for w in lres.weights), lime_prediction=lres.local_prediction,
        lime_score=lres.score, figures=tuple(str(f) for f in figures), join=join, notes=tuple(notes))


def _source(frame: pd.DataFrame) -> str:
    """The file a frame was read from, for messages ("the table" when it was made in memory)."""
    return str(frame.attrs.get("source") or "the table")


def _row(frame: pd.DataFrame, i: int) -> int:
    """The row number in the file of the run at position ``i`` (header = row 1)."""
    rows = frame.attrs.get("rows")
    return int(rows[i]) if rows is not None and len(rows) == len(frame) else i + 2


def _numeric(frame: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` as floats: every filled cell a number in the column's plausible range, else an error."""
    import pandas as pd

    col = frame[name]
    if col.dtype == bool:
        return col.astype(float)
    text = col.astype(str).str.strip()
    values = pd.to_numeric(col.map(lambda v: v.strip() if isinstance(v, str) else v), errors="coerce")
    values = values.astype(float)
    filled = col.notna() & (text != "")
    path = frame.attrs.get("source")
    bad = values.isna() & filled
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataFormatError(f"{col.iloc[i]!r} is not a number: write a plain number such as 12.5 (an empty cell "
                              "for a missing value)", path=path, row=_row(frame, i), column=name)
    lo, hi, what = plausible_range(name)
    v = values.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        wrong = filled.to_numpy() & (~np.isfinite(v) | (v < lo) | (v > hi))
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        x = v[i]
        why = ("is not a finite number" if not math.isfinite(x)
               else f"is negative: {what} cannot be" if x < 0 <= lo
               else f"is outside {lo:g} .. {hi:g}, implausible for {what}")
        cell = col.iloc[i] if isinstance(col.iloc[i], str) else f"{x:g}"
        raise DataFormatError(f"{cell!r} {why}; correct the value (or leave the cell empty)", path=path,
                              row=_row(frame, i), column=name)
    return values


def _matrix(m: np.ndarray) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in row) for row in m)


# ---------------------------------------------------------------------------------------------- report
def impact_markdown(report: ImpactReport, energy: EnergyUse | None = None) -> str:
    """The Markdown report: data, correlations, model quality, SHAP, LIME, caveats and this run's energy."""
    t = report.target
    lines = [f"# What drives `{t}` in CI runs" + (" — SYNTHETIC" if report.synthetic else ""), ""]
    if report.warning:
        lines += [f"> **Warning: {report.warning}.**", ""]
    if report.synthetic:
        lines += [f"> **{SYNTHETIC_LABEL}.** Energy is driven by CPU seconds by construction; the renewable "
                  "share has no effect on kWh. Use it to learn the report, not to draw conclusions.", ""]
    lines += [f"Data: {report.rows} runs" + (f" from `{report.source}`" if report.source else "")
              + (f", {report.dropped_rows} left out for missing values" if report.dropped_rows else "")
              + f". Target `{t}` (mean {report.target_mean:.4g}); features: "
              + ", ".join(f"`{f}`" for f in report.features) + ".", ""]
    if report.join is not None:
        j = report.join
        lines += [f"Grid features joined from real intensity files by start time and region: {j.matched} runs "
                  f"matched, {j.unmatched} without data"
                  + (f" (no files for {', '.join(j.regions_without_files)})" if j.regions_without_files else "")
                  + (". Files: " + ", ".join(f"`{Path(f).name}`" for f in j.files) if j.files else "") + ".", ""]
    names = report.correlation_names
    lines += ["## 1. Correlation with the target", "", "| feature | Pearson r | Spearman ρ |", "|---|---:|---:|"]
    pairs = [(names[i], report.pearson[0][i], report.spearman[0][i]) for i in range(1, len(names))]
    for name, r, rho in sorted(pairs, key=lambda p: -abs(p[1]) if math.isfinite(p[1]) else 0):
        lines.append(f"| `{name}` | {_fmt(r)} | {_fmt(rho)} |")
    lines += ["", "![correlation matrix](correlation.png)", "",
              "## 2. Model", "",
              f"{report.model}, {report.folds}-fold cross-validation: R² = {_fmt(report.cv_r2, '.3f')}, "
              f"MAE = {report.cv_mae:.4g} {t} (out-of-fold predictions)."
              + ("" if report.explanatory else " **The model does not explain the target: the rankings below are "
                 "not explanatory.**")
              + (f" R² below {WEAK_R2}: the explanations below describe a weak model; treat them as hints."
                 if report.explanatory and report.cv_r2 < WEAK_R2 else ""), "",
              "## 3. SHAP, global" + ("" if report.explanatory else " (NOT EXPLANATORY)"), "",
              "| rank | feature | mean \\|SHAP\\| | direction |", "|---:|---|---:|---|"]
    for k, (name, imp, d) in enumerate(report.shap_ranking, start=1):
        arrow = "more → higher" if d > 0.3 else "more → lower" if d < -0.3 else "mixed"
        lines.append(f"| {k} | `{name}` | {imp:.4g} | {arrow} ({d:+.2f}) |")
    lines += ["", "![SHAP global](shap_global.png)", "",
              f"## 4. One run explained (row {report.local_row})", "",
              f"Actual {t} = {report.local_target:.4g}, model = {report.local_prediction:.4g}, "
              f"base value (mean prediction) = {report.shap_base:.4g}.", "",
              "SHAP (exact contributions of the model's output, they add up to the prediction):", "",
              "| feature | value | SHAP |", "|---|---:|---:|"]
    for name, value, s in report.shap_local[:8]:
        lines.append(f"| `{name}` | {value:.4g} | {s:+.4g} |")
    lines += ["", "![SHAP local](shap_local.png)", "",
              f"LIME (a local linear surrogate around this run, fit R² {report.lime_score:.2f}):", "",
              "| rule | weight |", "|---|---:|"]
    for _name, rule, w in report.lime_local:
        lines.append(f"| `{rule}` | {w:+.4g} |")
    lines += ["", "![LIME local](lime_local.png)", "", "## Caveats", "",
              "- Correlation is not causation, and SHAP and LIME explain the model, not the world.",
              "- Features that move together (CPU seconds and tests, say) share credit between them.",
              "- The renewable share and intensity change emissions (kWh x gCO2eq/kWh), not kWh; a large "
              "SHAP value for them on energy points at a confounder such as time of day."]
    lines += [f"- {n}" for n in report.notes]
    if energy is not None:
        lines += ["", "## Energy of this analysis", "", f"{energy.describe()}."]
    return "\n".join(lines) + "\n"


def _fmt(x: float, spec: str = "+.3f") -> str:
    return format(x, spec) if math.isfinite(x) else "—"


#: the files an impact run writes into its folder (figures first)
OUTPUT_FILES = ("correlation.png", "shap_global.png", "shap_local.png", "lime_local.png", "report.md", "impact.json")


def write_report(report: ImpactReport, out_dir: str | os.PathLike[str], energy: EnergyUse | None = None) -> list[Path]:
    """Write ``report.md`` and ``impact.json`` beside the figures, each whole (temporary name, rename)."""
    from greenci.outputs import write_text

    out = Path(out_dir)
    doc = report.as_dict()
    if energy is not None:
        doc["energy_of_this_run"] = energy.as_dict()
    text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
    return [write_text(out / "report.md", impact_markdown(report, energy)), write_text(out / "impact.json", text)]
