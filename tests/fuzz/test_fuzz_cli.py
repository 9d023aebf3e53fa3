"""Every README command on broken files and bad option values: a clear error or a result, never a traceback.

The good inputs are small SYNTHETIC files written here (two Electricity Maps yearly exports, a plain CSV
trace, a workflow file); Hypothesis breaks one input at a time (see ``corrupt.py``) and the command runs
in-process. Bad option values come from a fixed corpus (each must be refused) and from random text (which
may be accepted, but never crash).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from corrupt import EXAMPLES, Mutant, byte_mutants, check_cli, csv_mutants, json_mutants
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic_intensity import DIRECT, em_yearly_csv
from test_fuzz_traces import RUNS

TRACE_HEADER = "repo,workflow,job,event,started_at,completed_at,conclusion"
FEW = settings(max_examples=max(3, EXAMPLES // 2), deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _em_file(zone: str, phase: float) -> bytes:
    """SYNTHETIC hourly intensity, 2022-08-01 .. 2022-10-20 (enough history for the study's decisions)."""
    return em_yearly_csv(zone, amplitude=120, phase=phase, wobble=20, decimals=2).encode("utf-8")


def _trace() -> bytes:
    """SYNTHETIC plain-CSV trace: 40 runs over 2022-10-12 .. 2022-10-14."""
    rows = []
    for i in range(40):
        start = np.datetime64("2022-10-12T00:00:00") + np.timedelta64(i * 4111, "s")
        end = start + np.timedelta64(300 + 37 * i, "s")
        event = ("push", "schedule", "pull_request")[i % 3]
        rows.append(f"acme/app,ci,build,{event},{start}Z,{end}Z,success")
    return (TRACE_HEADER + "\n" + "\n".join(rows) + "\n").encode("utf-8")


WORKFLOW = b"""name: nightly
on:
  schedule:
    - cron: "0 2 * * *"
  workflow_dispatch:
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: green-coding/carbon-aware@v1
        with:
          carbon-aware: true
          duration: 20m
          deadline: 6h
          allowed-regions: GB,DE-LU
      - run: make test
"""


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("good")
    for zone, phase in (("DE-LU", 0.0), ("GB", 0.3)):
        (root / "intensity" / zone).mkdir(parents=True)
        (root / "intensity" / zone / f"{zone}_2022_hourly.csv").write_bytes(_em_file(zone, phase))
    (root / "trace.csv").write_bytes(_trace())
    (root / "ci.yml").write_bytes(WORKFLOW)
    return {"dir": root / "intensity", "trace": root / "trace.csv", "workflow": root / "ci.yml"}


def _place(tmp_path: Path, mutant: Mutant, name: str) -> Path:
    """The mutant under a name that keeps the format's zone in the path (GB/GB_2022_hourly.csv)."""
    target = tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(mutant.data)
    return target


INTENSITY_MUTANTS = st.one_of(csv_mutants(_em_file("GB", 0.3), required=("Datetime (UTC)", DIRECT),
                                          value_columns=(DIRECT,)),
                              byte_mutants(_em_file("GB", 0.3)))
TRACE_MUTANTS = st.one_of(csv_mutants(_trace(), required=("started_at", "completed_at"), value_columns=()),
                          byte_mutants(_trace()))

#: each command on one broken intensity file: (name, arguments given the file and an output folder, outputs)
INTENSITY_COMMANDS: dict[str, Callable[[Path, Path], tuple[list[str], tuple[Path, ...]]]] = {
    "cli intensity summary": lambda f, out: (["intensity", "summary", str(f), "--format", "json"], ()),
    "cli intensity plot": lambda f, out: (["intensity", "plot", str(f), "-o", str(out / "p.png")], (out / "p.png",)),
    "cli footprint --source": lambda f, out: (["footprint", "--energy-kwh", "1", "--region", "GB", "--at",
                                               "2022-10-12T08:00Z", "--source", str(f), "--format", "json"], ()),
    "cli forecast evaluate": lambda f, out: (["forecast", "evaluate", str(f), "--models", "persistence",
                                              "--horizons", "1,6", "--format", "json"], ()),
    "cli schedule --intensity": lambda f, out: (["schedule", "--at", "2022-10-12T21:00Z", "--event", "schedule",
                                                 "--duration", "20m", "--intensity", str(f), "--regions", "GB",
                                                 "--forecast", "persistence", "--format", "json"], ()),
    "cli simulate --study --intensity": lambda f, out: (
        ["simulate", "--study", "--intensity", str(f), "--regions", "GB", "--start", "2022-10-12", "--days", "0.25",
         "--strategies", "round-robin,lts-1", "--forecast", "persistence", "--format", "json", "-o", str(out / "sim")],
        (out / "sim" / "summary.json",)),
}


@pytest.mark.parametrize("name", sorted(INTENSITY_COMMANDS))
@FEW
@given(mutant=INTENSITY_MUTANTS)
def test_commands_on_broken_intensity_files(name: str, mutant: Mutant, tmp_path: Path) -> None:
    f = _place(tmp_path, mutant, "GB/GB_2022_hourly.csv")
    args, outputs = INTENSITY_COMMANDS[name](f, tmp_path)
    check_cli(name, args, mutant, names=(str(f), "GB"), outputs=outputs)


TRACE_COMMANDS: dict[str, Callable[[Path, dict[str, Path], Path], tuple[list[str], tuple[Path, ...]]]] = {
    "cli trace summary": lambda f, g, out: (["trace", "summary", str(f), "--format", "json"], ()),
    "cli simulate --trace": lambda f, g, out: (
        ["simulate", "--trace", str(f), "--intensity", str(g["dir"]), "--regions", "DE-LU,GB", "--strategies",
         "round-robin,greenci", "--forecast", "persistence", "--format", "json", "-o", str(out / "sim")],
        (out / "sim" / "summary.json",)),
    "cli schedule --history": lambda f, g, out: (
        ["schedule", "--repo", "acme/app", "--workflow", "ci", "--job", "build", "--event", "push",
         "--at", "2022-10-14T21:00Z", "--history", str(f), "--intensity", str(g["dir"]), "--regions", "DE-LU,GB",
         "--forecast", "persistence", "--format", "json"], ()),
}


@pytest.mark.parametrize("name", sorted(TRACE_COMMANDS))
@FEW
@given(mutant=TRACE_MUTANTS)
def test_commands_on_broken_traces(name: str, mutant: Mutant, good: dict[str, Path], tmp_path: Path) -> None:
    f = _place(tmp_path, mutant, "trace.csv")
    args, outputs = TRACE_COMMANDS[name](f, good, tmp_path)
    check_cli(name, args, mutant, names=(str(f),), outputs=outputs)


@FEW
@given(mutant=byte_mutants(WORKFLOW))
def test_schedule_on_broken_workflow_files(mutant: Mutant, good: dict[str, Path], tmp_path: Path) -> None:
    f = _place(tmp_path, mutant, "ci.yml")
    args = ["schedule", "--workflow-file", str(f), "--at", "2022-10-12T21:00Z", "--intensity", str(good["dir"]),
            "--regions", "DE-LU,GB", "--forecast", "persistence", "--format", "json"]
    check_cli("cli schedule --workflow-file", args, mutant, names=(str(f),))


#: workflow files a person gets wrong: (label, the file, must it be refused)
WORKFLOW_EDITS = (
    ("matrix of a scalar", WORKFLOW.replace(b"    runs-on:", b"    strategy: {matrix: {py: 3}}\n    runs-on:"), True),
    ("matrix excluding every leg", WORKFLOW.replace(
        b"    runs-on:", b"    strategy: {matrix: {py: [a], exclude: [{py: a}]}}\n    runs-on:"), True),
    ("matrix of 10,000 legs", WORKFLOW.replace(
        b"    runs-on:", b"    strategy: {matrix: {a: [" + b",".join(str(i).encode() for i in range(100))
        + b"], b: [" + b",".join(str(i).encode() for i in range(100)) + b"]}}\n    runs-on:"), True),
    ("needs a missing job", WORKFLOW.replace(b"    runs-on:", b"    needs: lint\n    runs-on:"), True),
    ("needs itself", WORKFLOW.replace(b"    runs-on:", b"    needs: [build]\n    runs-on:"), True),
    ("cron of four fields", WORKFLOW.replace(b'"0 2 * * *"', b'"0 2 * *"'), True),
    ("jobs empty", WORKFLOW.split(b"jobs:")[0] + b"jobs: {}\n", True),
    ("an action, not a workflow", b"name: a\nruns:\n  using: composite\n  steps: []\n", True),
    ("an alias of an anchor", WORKFLOW.replace(b"    runs-on: ubuntu-latest", b"    runs-on: &os ubuntu-latest")
     + b"  lint:\n    runs-on: *os\n    steps: [{run: make lint}]\n", False),
)


@FEW
@given(mutant=st.one_of(byte_mutants(WORKFLOW), st.sampled_from(WORKFLOW_EDITS).map(lambda e: Mutant(*e))))
def test_plan_on_broken_workflow_files(mutant: Mutant, good: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    f = _place(folder, mutant, "ci.yml")
    for fmt in ("json", "markdown"):
        args = ["plan", str(tmp_path), "--at", "2022-10-12T21:00Z", "--intensity", str(good["dir"]),
                "--regions", "DE-LU,GB", "--forecast", "persistence", "--format", fmt]
        check_cli(f"cli plan --format {fmt}", args, mutant, names=(str(f),))


# ------------------------------------------------------------------------------------------ option values
#: values every one of these options must refuse: (command name, base arguments, option, bad values)
SCHEDULE = ["schedule", "--at", "2022-10-12T21:00Z", "--duration", "20m", "--event", "schedule",
            "--regions", "DE-LU,GB", "--forecast", "persistence", "--format", "json"]
FOOTPRINT = ["footprint", "--energy-kwh", "1", "--intensity-g-per-kwh", "300", "--format", "json"]
SIMULATE = ["simulate", "--study", "--regions", "GB", "--start", "2022-10-12", "--days", "0.25",
            "--strategies", "round-robin", "--forecast", "persistence", "--format", "json"]
SWEEP = [*SIMULATE, "--sweep", "--scheduler", "serial"]
NUMBERS = ("nan", "inf", "-inf", "-1", "1e308", "abc", "")
BAD_OPTIONS: list[tuple[str, list[str], str, tuple[str, ...]]] = [
    ("cli demo", ["demo"], "--hours", ("nan", "inf", "-1", "0", "1e308")),
    ("cli demo", ["demo"], "--duration", ("abc", "0", "-1h", "1e308h")),
    ("cli demo", ["demo"], "--energy-kwh", NUMBERS),
    ("cli simulate --sweep", SWEEP, "--buffers", ("a", "-1", "nan", "inf", "")),
    ("cli simulate --sweep", SWEEP, "--seeds", ("0", "a", "")),
    ("cli simulate --sweep", SWEEP, "--region-set", ("bad", "=GB", "x=", "x=Atlantis")),
    ("cli simulate --sweep", SWEEP, "-o", ("out",)),
    ("cli footprint", FOOTPRINT, "--energy-kwh", NUMBERS),
    ("cli footprint", FOOTPRINT, "--intensity-g-per-kwh", NUMBERS),
    ("cli footprint", FOOTPRINT, "--pue", (*NUMBERS, "0.5")),
    ("cli footprint", ["footprint", "--energy-kwh", "1", "--region", "GB", "--source", "synthetic"], "--duration",
     ("0", "-5m", "abc", "1e308h", "nan", "")),
    ("cli footprint", ["footprint", "--energy-kwh", "1", "--region", "GB", "--source", "synthetic"], "--best-within-h",
     ("nan", "inf", "-1", "1e308")),
    ("cli footprint", ["footprint", "--energy-kwh", "1", "--region", "GB"], "--at", ("tuesday", "2022-13-01", "")),
    ("cli schedule", SCHEDULE, "--event", ("tuesday", "", "PUSH[red]")),
    ("cli schedule", SCHEDULE, "--duration", ("0", "-5m", "abc", "1e308h", "nan")),
    ("cli schedule", SCHEDULE, "--deadline", ("abc", "-3h", "1m", "2000-01-01T00:00Z", "nan")),
    ("cli schedule", SCHEDULE, "--buffer-h", ("nan", "-1", "inf", "1e308")),
    ("cli schedule", SCHEDULE, "--power-kw", NUMBERS),
    ("cli schedule", SCHEDULE, "--allowed-regions", ("Atlantis", ",", "[/b]")),
    ("cli schedule", SCHEDULE, "--regions", ("Atlantis", ",", "GB,GB")),
    ("cli schedule", SCHEDULE, "--morning", ("Mars/Olympus", "Europe/Berlin@25", "Europe/Berlin@x")),
    ("cli schedule", SCHEDULE, "--forecast", ("crystal-ball", "")),
    ("cli schedule", SCHEDULE, "--at", ("tuesday", "2022-13-01", "")),
    ("cli schedule", SCHEDULE, "--delay-user-triggered", ("nobody", "a/b/c", "")),
    ("cli simulate", SIMULATE, "--days", ("0", "-1", "nan", "inf", "1e308")),
    ("cli simulate", SIMULATE, "--strategies", ("teleport", "", "lts-x", "greenci--1")),
    ("cli simulate", SIMULATE, "--buffer-h", ("nan", "-1", "inf")),
    ("cli simulate", SIMULATE, "--capacity", ("0", "-1")),
    ("cli simulate", SIMULATE, "--min-saving-g", ("nan", "-1")),
    ("cli simulate", SIMULATE, "--wait-price", ("nan", "-1", "inf")),
    ("cli simulate", SIMULATE, "--forecast", ("crystal-ball",)),
    ("cli simulate", SIMULATE, "--implausible", ("cap", "sometimes")),
    ("cli simulate", SIMULATE, "--nightly-tz", ("Mars/Olympus",)),
    ("cli simulate", SIMULATE, "--buffers", ("1,3",)),
    ("cli simulate", SIMULATE, "--start", ("1990-01-01", "tuesday")),
    ("cli forecast evaluate", ["forecast", "evaluate", "--format", "json"], "--horizons", ("0", "-1", "a,b", "")),
    ("cli forecast evaluate", ["forecast", "evaluate", "--format", "json"], "--models", ("crystal-ball", ",")),
    ("cli forecast evaluate", ["forecast", "evaluate", "--format", "json"], "--issue-every-h", ("0", "-3")),
    ("cli intensity plot", ["intensity", "plot"], "-o", ("plot.txt", "/proc/plot.png", ".")),
    ("cli trace fetch", ["trace", "fetch", "acme/app", "--base-url", "http://127.0.0.1:9"], "-o", ("/proc/t",)),
    ("cli trace fetch", ["trace", "fetch", "acme/app", "--base-url", "http://127.0.0.1:9"], "--max-pages", ("0", "-1")),
]


@pytest.mark.parametrize(("name", "base", "option", "values"), BAD_OPTIONS,
                         ids=[f"{n}{o}" for n, _, o, _ in BAD_OPTIONS])
def test_bad_option_values_are_refused(name: str, base: list[str], option: str, values: tuple[str, ...],
                                       good: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    if name in ("cli schedule", "cli simulate", "cli simulate --sweep", "cli forecast evaluate"):
        base = base + (["--intensity", str(good["dir"])] if name != "cli forecast evaluate" else [str(good["dir"])])
    failures = []
    for value in values:
        try:
            check_cli(name, [*base, option, value], Mutant(f"{option} {value!r}", b"", True))
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)


@FEW
@given(option=st.sampled_from(["--event", "--duration", "--deadline", "--allowed-regions", "--regions",
                               "--morning", "--at", "--repo", "--job", "--branch", "--buffer-h", "--power-kw"]),
       value=st.text(min_size=0, max_size=30))
def test_random_option_text_never_crashes_schedule(option: str, value: str, good: dict[str, Path]) -> None:
    if value.startswith("-"):
        value = " " + value  # a value, not another option
    args = [*SCHEDULE, "--intensity", str(good["dir"]), option, value]
    check_cli("cli schedule (random text)", args, Mutant(f"{option} {value!r}", b"", False))


# ------------------------------------------------------------------------------------------ trace fetch
@FEW
@given(mutant=st.one_of(json_mutants(json.dumps({"total_count": 3, "workflow_runs": RUNS}).encode()),
                        byte_mutants(json.dumps({"total_count": 3, "workflow_runs": RUNS}).encode())))
def test_trace_fetch_on_broken_pages(mutant: Mutant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GitHub (a loopback server) answers with a broken page: fetch refuses it, or saves what summary can read."""
    from http.server import BaseHTTPRequestHandler

    from loopback import loopback_server

    class Pages(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(mutant.data)))
            self.end_headers()
            self.wfile.write(mutant.data)

        def log_message(self, *args: object) -> None:
            pass

    monkeypatch.setenv("GREENCI_GITHUB_TOKEN", "test-token")
    out = Path(tempfile.mkdtemp(dir=tmp_path)) / "traces"  # one per example: Hypothesis reuses tmp_path
    with loopback_server(Pages) as url:
        check_cli("cli trace fetch (served pages)", ["trace", "fetch", "acme/app", "--base-url", url, "-o", str(out)],
                  mutant, names=("github-api", "acme/app"), outputs=(out / "acme__app.json",))
    saved = out / "acme__app.json"
    if saved.exists():
        check_cli("cli trace summary (fetched file)", ["trace", "summary", str(saved), "--format", "json"],
                  Mutant(mutant.label, b"", False), names=(str(saved),))
