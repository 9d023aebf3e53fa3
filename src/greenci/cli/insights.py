"""``greenci insights``: contributor health and CI energy drivers, as a Typer sub-app.

The main CLI adds it with ``register(app)``. This module imports only Typer, rich and the standard
library at import time, so ``greenci --help`` stays light; the analysis loads when a command runs.
Every command reports the energy of its own run (measured by ``greenci.energy`` when available,
otherwise estimated from CPU time and labelled so).
"""

from __future__ import annotations

import functools
import json
import math
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from greenci.cli.support import console as _console
from greenci.cli.support import emit_json as _emit_json
from greenci.cli.support import finite as _finite
from greenci.cli.support import friendly as _friendly
from greenci.errors import InputError

__all__ = ["register"]

#: what health writes into its --out folder (model.json only with --labels)
HEALTH_FILES = ("person_weeks.csv", "community.csv", "community.png", "model.json")
#: why a number of the JSON output may be null, by field
_NULL_REASONS = {
    "meeting_hours": "no calendar given",
    "sentiment": "no text written that week, or --no-sentiment",
    "value": "an indicator without a value that week",
    "pearson": "a column with one value in every run has no correlation",
    "spearman": "a column with one value in every run has no correlation",
    "cv_r2": "the target has one value in every run",
}


def _stderr() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False, markup=False)


def _warn(text: str) -> None:
    sys.stdout.flush()
    _stderr().print(Text.assemble(("warning:", "bold yellow"), " ", text))


def _with_null_notes(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with a note naming every field whose value is not a finite number (JSON writes it as null)."""
    where: dict[str, None] = {}

    def walk(o: Any, path: str) -> None:
        if isinstance(o, float) and not math.isfinite(o):
            where.setdefault(path, None)
        elif isinstance(o, dict):
            for k, v in o.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(o, (list, tuple)):
            for v in o:
                walk(v, f"{path}[]")

    walk(doc, "")
    if not where:
        return doc
    parts = []
    for path in where:
        leaf = path.rstrip("[]").rsplit(".", 1)[-1]
        reason = _NULL_REASONS.get(leaf)
        parts.append(f"{path} ({reason})" if reason else path)
    note = "null means no finite number (NaN or infinite) for: " + "; ".join(parts)
    return {**doc, "notes": [*doc.get("notes", []), note]}


class _Format(StrEnum):
    table = "table"
    json = "json"


def register(app: typer.Typer) -> None:
    """Add the ``insights`` sub-app (``health``, ``impact``, ``failures``, ``control``) to ``app``."""
    from greenci.cli.insights_control import register as register_control
    from greenci.cli.insights_failures import failures

    sub = typer.Typer(no_args_is_help=True, help="Contributor health (burnout risk), what drives CI energy, CI "
                                                 "failures on the job graph, and learned carbon-aware control.")
    sub.command("health")(health)
    sub.command("impact")(impact)
    sub.command("failures")(failures)
    register_control(sub)
    app.add_typer(sub, name="insights")


# ---------------------------------------------------------------------------------------------- health
@_friendly
def health(
    repos: list[Path] = typer.Argument(..., help="Local git repositories (one or more)."),
    prs: list[Path] | None = typer.Option(None, "--prs", help="GitHub or Gerrit JSON exports of PRs, reviews, "
                                                                 "comments (repeatable)."),
    labels: Path | None = typer.Option(None, "--labels", help="CSV person,week,label: train and cross-validate "
                                                               "a model beside the transparent score."),
    calendar: list[Path] | None = typer.Option(None, "--calendar", help="iCalendar .ics files for meeting hours "
                                                                         "(never guessed without one)."),
    calendar_owner: str | None = typer.Option(None, "--calendar-owner",
                                              help="E-mail owning events that list no attendees."),
    messages: list[Path] | None = typer.Option(None, "--messages", help="Mails/chat: CSV author,timestamp,text "
                                                                         "or .mbox (repeatable)."),
    aliases: Path | None = typer.Option(None, "--aliases", help="CSV alias,identity joining e-mails and logins."),
    since: str | None = typer.Option(None, help="Only commits since this date (passed to git)."),
    until: str | None = typer.Option(None, help="Only commits until this date (passed to git)."),
    salt: str | None = typer.Option(None, "--salt", help="Salt of the pseudonyms (default $GREENCI_INSIGHTS_SALT, "
                                                          "else random per run).", show_default=False),
    reveal_names: bool = typer.Option(False, "--reveal-names", help="Show names and e-mails instead of pseudonyms."),
    include_bots: bool = typer.Option(False, "--include-bots", help="Keep bot accounts (dependabot, renovate...)."),
    include_merges: bool = typer.Option(False, "--include-merges", help="Count merge commits too."),
    sentiment: bool = typer.Option(True, "--sentiment/--no-sentiment", help="Score messages with VADER."),
    weeks: int = typer.Option(12, help="Weeks shown in the community view."),
    top: int = typer.Option(10, help="People shown (highest risk first)."),
    seed: int = typer.Option(0, help="Seed of the model's cross-validation and LIME."),
    output_format: _Format = typer.Option(_Format.table, "--format", help="table or json."),
    out: Path | None = typer.Option(None, "-o", "--out", help="Folder for CSV tables, JSON and the community PNG."),
) -> None:
    """Indicators per person-week, transparent burnout risk (and a validated model with --labels)."""
    from greenci.insights.burnout import (
        WEIGHTS,
        community_view,
        explain_people,
        latest_by_person,
        read_labels,
        train_risk_model,
        transparent_scores,
    )
    from greenci.insights.calendar import read_calendar
    from greenci.insights.git_activity import read_repositories
    from greenci.insights.indicators import Identities, build_indicators, read_aliases, read_messages
    from greenci.insights.reviews import read_reviews
    from greenci.insights.selfenergy import SelfEnergy
    from greenci.outputs import check_file, check_folder

    if weeks < 1 or top < 1:
        raise InputError(f"--weeks {weeks} and --top {top} must be at least 1")
    if not 0 <= seed < 2**32:
        raise InputError(f"--seed {seed} must be a whole number from 0 to {2**32 - 1}")
    if out is not None:
        check_folder(out, field="out")
        for name in HEALTH_FILES[:3] + (HEALTH_FILES[3:] if labels is not None else ()):
            check_file(out / name, field="out")
    meter = SelfEnergy()
    with meter:
        ids = Identities.create(salt=salt, reveal=reveal_names, aliases=read_aliases(aliases) if aliases else None,
                                include_bots=include_bots)
        commits = read_repositories(repos, since=since, until=until, include_merges=include_merges)
        review_data = read_reviews(prs) if prs else None
        cal = None
        if calendar:
            end = max((c.authored_at for c in commits), default=None)
            cal = read_calendar(calendar, until=end)
        table = build_indicators(commits, reviews=review_data, calendar=cal,
                                 messages=read_messages(messages) if messages else (), identities=ids,
                                 calendar_owner=calendar_owner, sentiment=sentiment)
        if not table.rows:
            raise InputError(f"no activity found in {', '.join(map(str, repos))}"
                             + (f" between {since or 'the start'} and {until or 'now'}" if since or until else "")
                             + ": check the path, the dates, or --include-bots")
        scores = transparent_scores(table)
        view = community_view(scores)
        model = explanations = None
        notes: list[str] = []
        if labels is not None:
            labelled = read_labels(labels, table)
            notes += [labelled.note] if labelled.note else []
            model = train_risk_model(table, labelled, scores=scores, seed=seed)
            latest_people = [s.person for s in latest_by_person(scores)[:top]]
            explanations = explain_people(model, table, people=latest_people, seed=seed)
        written = _write_health(out, table, scores, view, model, explanations) if out is not None else []
    energy = meter.result
    assert energy is not None
    doc = _health_doc(table, scores, view, model, explanations, energy, WEIGHTS, weeks, top)
    doc["notes"] = [*doc["notes"], *notes]
    if output_format is _Format.json:
        _emit_json(_with_null_notes(doc))
    else:
        _print_health(doc)
    if written:
        sys.stdout.flush()
        _stderr().print("wrote " + ", ".join(map(str, written)))


def _health_doc(table: Any, scores: list[Any], view: list[Any], model: Any, explanations: Any, energy: Any,
                weights: dict[str, float], weeks: int, top: int) -> dict[str, Any]:
    from dataclasses import asdict

    from greenci.insights.burnout import latest_by_person

    by_key = {(s.person, s.week): s for s in scores}
    people = []
    for s in latest_by_person(scores)[:top]:
        people.append({"person": s.person, "week": s.week, "risk": round(s.risk, 4), "level": s.level,
                       "top_factors": [asdict(f) for f in s.top_factors()]})
    rows = []
    for r in table.rows:
        s = by_key[(r.person, r.week)]
        rows.append({**r.as_dict(), "risk": s.risk, "level": s.level})
    return {
        "repos": list(table.repos),
        "people_count": len(table.people), "weeks_count": len(table.weeks),
        "first_week": table.weeks[0], "last_week": table.weeks[-1],
        "pseudonymised": table.pseudonymised, "salt": table.salt_source if table.pseudonymised else None,
        "calendar": table.has_calendar, "reviews": table.has_reviews, "sentiment": table.has_sentiment,
        "weights": weights,
        "people": people,
        "community": [asdict(v) for v in view[-weeks:]],
        "person_weeks": rows,
        "model": model.as_dict() if model is not None else None,
        "explanations": [asdict(e) for e in explanations] if explanations else None,
        "notes": list(table.notes) + ([
            f"only {len(table.rows)} person-weeks: the score compares each week with the others, so with this few "
            "it says little (0.5 = average of these)"] if len(table.rows) < 10 else []),
        "energy_of_this_run": energy.as_dict(),
    }


def _write_health(out: Path, table: Any, scores: list[Any], view: list[Any], model: Any,
                  explanations: Any) -> list[str]:
    import csv
    from dataclasses import asdict

    from greenci.insights.burnout import plot_community
    from greenci.outputs import atomic_open, write_text

    written = [plot_community(view, out / "community.png")]  # first: the figure needs the optional matplotlib
    by_key = {(s.person, s.week): s for s in scores}
    path = out / "person_weeks.csv"
    with atomic_open(path, "w", newline="") as fh:
        writer = None
        for r in table.rows:
            s = by_key[(r.person, r.week)]
            values = {k: "" if isinstance(v, float) and not math.isfinite(v) else v for k, v in r.as_dict().items()}
            row = {**values, "risk": round(s.risk, 6), "level": s.level,
                   "top_factors": ";".join(f.indicator for f in s.top_factors())}
            if writer is None:
                writer = csv.DictWriter(fh, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)
    written.append(str(path))
    cpath = out / "community.csv"
    with atomic_open(cpath, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["week", "people", "mean_risk", "max_risk", "elevated", "high"])
        w.writeheader()
        for v in view:
            w.writerow(asdict(v))
    written.append(str(cpath))
    if model is not None:
        doc = _with_null_notes({"model": model.as_dict(), "explanations": [asdict(e) for e in explanations or []]})
        epath = write_text(out / "model.json", json.dumps(_finite(doc), indent=2, allow_nan=False) + "\n")
        written.append(str(epath))
    return written


def _cells(*values: Any) -> list[Text]:
    """Table cells printed as written: a name such as ``dependabot[bot]`` is text, not Rich markup."""
    return [Text(str(v)) for v in values]


def _num(x: Any, spec: str) -> str:
    """A number for the console; "—" when it is missing (null) or not finite."""
    return format(x, spec) if isinstance(x, (int, float)) and math.isfinite(x) else "—"


def _print_health(doc: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
    who = ("pseudonymised (salt: " + str(doc["salt"]) + "; --reveal-names shows names)" if doc["pseudonymised"]
           else "names revealed")
    console.print(f"Contributor health of {', '.join(doc['repos'])}: {doc['people_count']} people, "
                  f"{doc['weeks_count']} active weeks ({doc['first_week']} .. {doc['last_week']}); identities {who}.",
                  highlight=False, markup=False)
    missing = [name for name, have in (("reviews (--prs)", doc["reviews"]), ("meetings (--calendar)", doc["calendar"]),
                                       ("sentiment", doc["sentiment"])) if not have]
    if missing:
        console.print(f"Not included: {', '.join(missing)}.", highlight=False, markup=False)
    t = Table(title="Burnout risk, latest active week per person (transparent score; 0.5 = community average)")
    for col in ("person", "week", "risk", "level", "top factors (value, z)"):
        t.add_column(col, justify="right" if col == "risk" else "left")
    for p in doc["people"]:
        factors = ", ".join(f"{f['indicator']} ({_num(f['value'], '.3g')}, z {_num(f['z'], '+.1f')})"
                            for f in p["top_factors"]) or "—"
        t.add_row(*_cells(p["person"], p["week"], _num(p["risk"], ".2f"), p["level"], factors))
    console.print(t)
    c = Table(title=f"Community view, last {len(doc['community'])} active weeks")
    for col in ("week", "people", "mean risk", "max risk", "elevated", "high"):
        c.add_column(col, justify="left" if col == "week" else "right")
    for v in doc["community"]:
        c.add_row(*_cells(v["week"], v["people"], _num(v["mean_risk"], ".2f"), _num(v["max_risk"], ".2f"),
                          v["elevated"], v["high"]))
    console.print(c)
    m = doc["model"]
    if m is not None:
        console.print(f"Model ({m['model']}, {m['folds']}-fold stratified CV on {m['examples']} labelled weeks, "
                      f"{m['positives']} strained): AUC {_num(m['auc'], '.3f')}, F1 {_num(m['f1'], '.3f')}; "
                      f"transparent score on the same weeks: AUC {_num(m['transparent_auc'], '.3f')}, "
                      f"F1 {_num(m['transparent_f1'], '.3f')} (risk >= 0.5).", highlight=False, markup=False)
        e = Table(title="Why the model rates each person's latest week (SHAP: log-odds; LIME: probability)")
        for col in ("person", "week", "p(strained)", "SHAP top factors", "LIME top factors"):
            e.add_column(col)
        for x in doc["explanations"] or []:
            e.add_row(*_cells(x["person"], x["week"], _num(x["probability"], ".2f"),
                              ", ".join(f"{n} {_num(s, '+.2f')}" for n, _, s in x["shap"]),
                              ", ".join(f"{rule} {_num(w, '+.2f')}" for _, rule, w in x["lime"])))
        console.print(e)
    for note in doc["notes"]:
        console.print(f"note: {note}", highlight=False, markup=False)
    console.print(f"Energy of this run: {_energy_text(doc['energy_of_this_run'])}", highlight=False, markup=False)


def _energy_text(e: dict[str, Any]) -> str:
    return f"{e['energy_kwh']:.3g} kWh over {e['wall_s']:.1f} s ({e['method']})"


# ---------------------------------------------------------------------------------------------- impact
@_friendly
def impact(
    table: Path | None = typer.Argument(None, help="CSV or Parquet table of CI runs, one row a run."),
    target: str = typer.Option("energy_kwh", help="Column to explain."),
    features: str | None = typer.Option(None, help="Comma-separated feature columns (default: the documented "
                                                   "defaults present in the table)."),
    intensity: Path | None = typer.Option(None, "--intensity", help="Folder of Electricity Maps / lets-wait-awhile "
                                                                    "files: join renewable share and intensity."),
    time_column: str = typer.Option("started_at", help="Run start column (UTC) for the grid join."),
    region_column: str = typer.Option("region", help="Region column for the grid join."),
    synthetic_demo: bool = typer.Option(False, "--synthetic-demo", help="No table: generate a labelled synthetic one."),
    demo_rows: int = typer.Option(400, help="Rows of the synthetic demo table."),
    row: int | None = typer.Option(None, "--row", help="0-based row to explain locally (default: highest target)."),
    seed: int = typer.Option(0, help="Seed of the model, cross-validation and LIME."),
    out: Path = typer.Option(Path("greenci-impact"), "-o", "--out", help="Folder for the PNG figures and report.md."),
    output_format: _Format = typer.Option(_Format.table, "--format", help="table or json."),
) -> None:
    """Correlation, a model, SHAP (global, local) and LIME (local) of what drives CI energy."""
    from greenci.insights.impact import (
        MIN_ROWS,
        OUTPUT_FILES,
        analyse_impact,
        join_grid,
        read_runs,
        synthetic_runs,
        write_report,
    )
    from greenci.insights.selfenergy import SelfEnergy
    from greenci.outputs import check_file, check_folder

    if table is None and not synthetic_demo:
        raise InputError("give a TABLE of CI runs (CSV or Parquet), or --synthetic-demo for a labelled synthetic one")
    if table is not None and synthetic_demo:
        raise InputError("give either a TABLE or --synthetic-demo, not both")
    if synthetic_demo and demo_rows < MIN_ROWS:
        raise InputError(f"--demo-rows {demo_rows} is too few: the impact model needs at least {MIN_ROWS} runs")
    if not 0 <= seed < 2**32:
        raise InputError(f"--seed {seed} must be a whole number from 0 to {2**32 - 1}")
    if intensity is not None and not intensity.is_dir():
        raise InputError(f"--intensity {intensity}: no such folder: pass the folder holding intensity files")
    check_folder(out, field="out")
    for name in OUTPUT_FILES:
        check_file(out / name, field="out")
    meter = SelfEnergy()
    with meter:
        frame = synthetic_runs(demo_rows, seed) if synthetic_demo else read_runs(table)  # type: ignore[arg-type]
        join = None
        if intensity is not None:
            from greenci.sources.grid_features import read_grid_features

            frame, join = join_grid(frame, functools.partial(read_grid_features, intensity), time_column=time_column,
                                    region_column=region_column)
        names = [f.strip() for f in features.split(",") if f.strip()] if features else None
        report = analyse_impact(frame, out_dir=out, target=target, features=names, synthetic=synthetic_demo,
                                source="synthetic demo" if synthetic_demo else str(table), local_row=row, seed=seed,
                                join=join)
    energy = meter.result
    assert energy is not None
    files = [*report.figures, *map(str, write_report(report, out, energy))]
    if report.warning:
        _warn(report.warning)
    if output_format is _Format.json:
        _emit_json(_with_null_notes({**report.as_dict(), "files": files, "energy_of_this_run": energy.as_dict()}))
        return
    _print_impact(report, files, energy)


def _print_impact(report: Any, files: list[str], energy: Any) -> None:
    from rich.table import Table

    console = _console()
    label = " — SYNTHETIC" if report.synthetic else ""
    console.print(f"What drives {report.target}{label}: {report.rows} runs, {len(report.features)} features; "
                  f"{report.model}: cross-validated R² {_num(report.cv_r2, '.3f')}, MAE {_num(report.cv_mae, '.4g')}.",
                  highlight=False, markup=False)
    if report.join is not None:
        j = report.join
        console.print(f"Grid join: {j.matched} runs matched, {j.unmatched} without data.", highlight=False,
                      markup=False)
    if not report.explanatory:
        title = f"Global SHAP ranking{label} — NOT EXPLANATORY: the model does not explain {report.target}"
    elif report.warning:
        title = f"Global SHAP ranking{label} — weak model: hints only"
    else:
        title = f"Global SHAP ranking{label}"
    t = Table(title=Text(title, style="bold red" if not report.explanatory else ""),
              caption=Text("warning: " + report.warning, style="bold yellow") if report.warning else None)
    for col in ("rank", "feature", "mean |SHAP|", "direction", "Pearson r with target"):
        t.add_column(col, justify="left" if col == "feature" else "right")
    r_of = {n: report.pearson[0][i] for i, n in enumerate(report.correlation_names)}
    for k, (name, imp, d) in enumerate(report.shap_ranking, start=1):
        t.add_row(*_cells(k, name, _num(imp, ".4g"), _num(d, "+.2f"), _num(r_of[name], "+.3f")))
    console.print(t)
    console.print(f"Run {report.local_row}: {report.target} {_num(report.local_target, '.4g')}, model "
                  f"{_num(report.local_prediction, '.4g')}; SHAP top: "
                  + ", ".join(f"{n} {_num(s, '+.3g')}" for n, _, s in report.shap_local[:3])
                  + "; LIME top: " + ", ".join(f"{rule} {_num(w, '+.3g')}" for _, rule, w in report.lime_local[:3])
                  + ("" if report.explanatory else " (not explanatory: see the warning)"),
                  highlight=False, markup=False)
    for note in report.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    console.print("wrote " + ", ".join(files), highlight=False, markup=False)
    console.print(f"Energy of this run: {energy.describe()}", highlight=False, markup=False)
