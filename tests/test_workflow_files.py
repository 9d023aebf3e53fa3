"""Real-world GitHub Actions workflow files: triggers, matrices, reusable workflows, anchors, needs, errors."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from greenci.errors import DataFormatError, InputError
from greenci.workflows import JobSpec, matrix_legs, read_workflow, read_workflows

CI = """\
name: CI
on:
  push:
    branches: [main]
    paths: ['src/**', 'pyproject.toml']
  pull_request:
    paths-ignore:
      - 'docs/**'
      - '**.md'
concurrency:
  group: ci-${{ github.ref }}
  cancel-in-progress: true
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: ruff check .
  test:
    needs: lint
    runs-on: ${{ matrix.os }}
    strategy:
      fail-fast: false
      matrix:
        os: [ubuntu-latest, windows-latest, macos-latest]
        python: ['3.11', '3.12']
        exclude:
          - os: windows-latest
            python: '3.11'
        include:
          - os: ubuntu-latest
            python: '3.13'
            experimental: true
          - os: ubuntu-latest
            coverage: true
    steps:
      - uses: actions/setup-python@v5
        with:
          python-version: ${{ matrix.python }}
          duration: 12m
  docs:
    needs: [lint, test]
    runs-on: [self-hosted, linux, x64]
    concurrency: docs
    carbon-aware: yes
    steps: [{run: make docs}]
"""


def _by_job(specs: list[JobSpec]) -> dict[str, JobSpec]:
    return {s.job: s for s in specs}


def test_a_realistic_ci_workflow() -> None:
    jobs = _by_job(read_workflow(CI))
    lint, test, docs = jobs["lint"], jobs["test"], jobs["docs"]
    assert lint.triggers == ("push", "pull_request") and lint.crons == ()
    assert lint.paths == ("src/**", "pyproject.toml") and lint.paths_ignore == ("docs/**", "**.md")
    # 3 x 2 = 6, minus windows/3.11 = 5; 3.13 contradicts every original python -> a 6th leg; coverage joins
    assert test.matrix_legs == 6 and lint.matrix_legs == 1
    assert test.needs == ("lint",) and docs.needs == ("lint", "test")
    assert test.duration_s == 12 * 60 and test.runs_on == ("${{ matrix.os }}",)
    assert docs.runs_on == ("self-hosted", "linux", "x64") and docs.carbon_aware is True
    assert (lint.concurrency, lint.cancel_in_progress) == ("ci-${{ github.ref }}", True)
    assert (docs.concurrency, docs.cancel_in_progress) == ("docs", False)  # the job's own group wins
    assert (lint.line, lint.column) == (14, 3) and (test.line, test.column) == (19, 3)


def _brute_force_legs(vectors: dict[str, list[object]], include: list[dict[str, object]],
                      exclude: list[dict[str, object]]) -> int:
    """GitHub's documented expansion, written out the long way (the include values are materialised)."""
    combos = [dict(zip(vectors, c, strict=True)) for c in itertools.product(*vectors.values())] if vectors else []
    combos = [c for c in combos if not any(all(c.get(k) == v for k, v in e.items()) for e in exclude)]
    originals = [dict(c) for c in combos]
    extra = []
    for entry in include:
        fits = [i for i, c in enumerate(originals) if all(c[k] == v for k, v in entry.items() if k in vectors)]
        for i in fits:
            combos[i].update(entry)
        if not fits:
            extra.append(dict(entry))
    return len(combos) + len(extra)


@pytest.mark.parametrize(("vectors", "include", "exclude"), [
    ({"os": ["u", "w", "m"], "py": [1, 2]}, [], []),
    ({"os": ["u", "w"]}, [{"os": "u", "x": 1}, {"os": "z"}], []),
    ({}, [{"os": "u"}, {"os": "w"}], []),
    ({"fruit": ["apple", "pear"], "animal": ["cat", "dog"]},  # GitHub's documented example: 6 jobs
     [{"color": "green"}, {"color": "pink", "animal": "cat"}, {"fruit": "apple", "shape": "circle"},
      {"fruit": "banana"}, {"fruit": "banana", "animal": "cat"}], []),
    ({"os": ["u", "w", "m"], "py": [1, 2, 3]}, [{"py": 4}], [{"os": "w"}, {"os": "m", "py": 1}]),
])
def test_matrix_legs_match_the_brute_force(vectors: dict[str, list[object]], include: list[dict[str, object]],
                                           exclude: list[dict[str, object]]) -> None:
    matrix: dict[str, object] = {**vectors, "include": include, "exclude": exclude}
    expected = _brute_force_legs(vectors, include, exclude)
    assert matrix_legs(matrix, lambda p, m: InputError(m)).count == expected
    if len(vectors) == 2 and "fruit" in vectors:
        assert expected == 6


def test_a_matrix_from_an_expression_has_unknown_legs() -> None:
    text = """\
on: push
jobs:
  setup:
    runs-on: ubuntu-latest
    outputs:
      targets: ${{ steps.list.outputs.targets }}
    steps: [{id: list, run: ./list-targets.sh}]
  build:
    needs: setup
    runs-on: ubuntu-latest
    strategy:
      matrix: ${{ fromJSON(needs.setup.outputs.targets) }}
    steps: [{run: make}]
  partly:
    needs: setup
    runs-on: ubuntu-latest
    strategy:
      matrix:
        target: ${{ fromJSON(needs.setup.outputs.targets) }}
    steps: [{run: make}]
"""
    jobs = _by_job(read_workflow(text))
    assert jobs["build"].matrix_legs is None and "fromJSON" in (jobs["build"].matrix_expression or "")
    assert jobs["partly"].matrix_legs is None and jobs["setup"].matrix_legs == 1


def test_reusable_workflow_caller_and_callee(tmp_path: Path) -> None:
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    (wf / "release.yml").write_text("""\
name: release
on:
  push:
    tags: ['v*']
  workflow_dispatch:
jobs:
  build:
    uses: ./.github/workflows/build.yml
    with:
      target: dist
      duration: 25m
    secrets: inherit
  publish:
    needs: build
    uses: acme/shared/.github/workflows/publish.yml@v2
    strategy:
      matrix:
        registry: [pypi, ghcr]
""", encoding="utf-8")
    (wf / "build.yml").write_text("""\
name: build
on:
  workflow_call:
    inputs:
      target: {type: string, required: true}
jobs:
  compile:
    runs-on: ubuntu-latest
    steps:
      - run: make ${{ inputs.target }}
""", encoding="utf-8")
    (wf / "README.txt").write_text("not a workflow", encoding="utf-8")
    specs = read_workflows(tmp_path)  # the repository root
    assert [(s.workflow, s.job) for s in specs] == [("build", "compile"), ("release", "build"), ("release", "publish")]
    compile_, build, publish = specs
    assert compile_.reusable and compile_.triggers == ("workflow_call",) and compile_.uses is None
    assert build.uses == "./.github/workflows/build.yml" and build.duration_s == 25 * 60
    assert publish.uses == "acme/shared/.github/workflows/publish.yml@v2" and publish.matrix_legs == 2
    assert build.triggers == ("push", "workflow_dispatch") and not build.reusable
    assert read_workflows(wf) == specs  # the workflows folder itself


def test_schedules_and_on_forms() -> None:
    nightly = read_workflow("""\
name: nightly
on:
  schedule:
    - cron: '30 1 * * 1-5'
    - cron: '0 6 * * 0'
  workflow_dispatch:
jobs:
  bench: {runs-on: ubuntu-latest, steps: [{run: make bench}]}
""")
    assert nightly[0].crons == ("30 1 * * 1-5", "0 6 * * 0")
    assert nightly[0].triggers == ("schedule", "workflow_dispatch")
    for on, triggers in (("push", ("push",)), ("[push, pull_request]", ("push", "pull_request")),
                         ("\n  workflow_dispatch:\n  release:\n    types: [published]",
                          ("workflow_dispatch", "release"))):
        [spec] = read_workflow(f"on: {on}\njobs:\n  a: {{runs-on: ubuntu-latest}}\n")
        assert spec.triggers == triggers
    [quoted] = read_workflow("'on': push\njobs:\n  a: {runs-on: ubuntu-latest}\n")  # YAML 1.2 spelling
    assert quoted.triggers == ("push",)


def test_anchors_aliases_and_merge_keys() -> None:
    text = """\
name: anchors
on: push
jobs:
  unit: &test-job
    runs-on: &runner ubuntu-22.04
    carbon-aware: yes
    duration: 15m
    allowed-regions: &eu [DE-LU, FR]
    steps:
      - uses: actions/checkout@v4
      - run: make test
  integration:
    <<: *test-job
    duration: 40m
  e2e:
    runs-on: *runner
    allowed-regions: *eu
    steps: [{run: make e2e}]
"""
    jobs = _by_job(read_workflow(text))
    assert jobs["unit"].duration_s == 15 * 60
    assert jobs["integration"].duration_s == 40 * 60  # the explicit key wins over the merged one
    assert jobs["integration"].carbon_aware is True and jobs["integration"].runs_on == ("ubuntu-22.04",)
    assert jobs["e2e"].allowed_regions == ("DE-LU", "FR") and jobs["e2e"].runs_on == ("ubuntu-22.04",)


def test_a_bad_duration_merged_from_an_anchor_points_at_the_anchor() -> None:
    text = "on: push\njobs:\n  a: &base\n    duration: soonish\n  b:\n    <<: *base\n"
    with pytest.raises(DataFormatError, match=r"line 4, column 15: job a: duration 'soonish'"):
        read_workflow(text)


def test_bad_duration_names_file_line_and_column(tmp_path: Path) -> None:
    f = tmp_path / "ci.yml"
    f.write_text("name: ci\non: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n"
                 "        with:\n          duration: 20 minutes-ish\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as err:
        read_workflow(f)
    text = str(err.value)
    assert text.startswith(f"{f}: line 9, column 21: job build step 1: duration '20 minutes-ish'")
    assert "90m" in text  # says how to write one


def test_malformed_yaml_names_line_and_column(tmp_path: Path) -> None:
    f = tmp_path / "broken.yml"
    f.write_text("on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n     steps: []\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=rf"^{f}: line 5, column 11: not valid YAML: mapping values are not"):
        read_workflow(f)
    with pytest.raises(DataFormatError, match=r"line 2, column 1: not valid YAML.*unclosed"):
        read_workflow("jobs: [a,\n")


def test_needs_a_missing_job_is_an_error_naming_both() -> None:
    text = "on: push\njobs:\n  build: {runs-on: x}\n  deploy:\n    needs: [build, tset]\n    runs-on: x\n"
    with pytest.raises(DataFormatError, match=r"line 5, column 20: job deploy needs 'tset', which is not a job of "
                                              r"this workflow \(its jobs: build, deploy\)"):
        read_workflow(text)


def test_needs_cycle_is_an_error_naming_the_chain() -> None:
    text = ("on: push\njobs:\n  a: {needs: c, runs-on: x}\n  b: {needs: a, runs-on: x}\n"
            "  c: {needs: [b], runs-on: x}\n  d: {needs: a, runs-on: x}\n")
    with pytest.raises(DataFormatError, match=r"needs form a cycle: a -> c -> b -> a"):
        read_workflow(text)
    with pytest.raises(DataFormatError, match=r"cycle: solo -> solo"):
        read_workflow("on: push\njobs:\n  solo: {needs: solo, runs-on: x}\n")


def test_a_composite_action_is_refused_as_an_action(tmp_path: Path) -> None:
    f = tmp_path / "action.yml"
    f.write_text("""\
name: Setup toolchain
description: Installs the toolchain
inputs:
  version: {description: version, default: '1.2'}
runs:
  using: composite
  steps:
    - run: ./install.sh ${{ inputs.version }}
      shell: bash
""", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"line 6, column 10: this is a GitHub Action \(runs.using: "
                                              r"composite\), not a workflow"):
        read_workflow(f)


@pytest.mark.parametrize(("text", "fragment"), [
    ("on: push\njobs:\n  a:\n    strategy:\n      matrix:\n        os: ubuntu-latest\n",
     r"line 6, column 13: job a: matrix key 'os'.*must be a list"),
    ("on: push\njobs:\n  a:\n    strategy:\n      matrix:\n        os: [u]\n        exclude: [{py: 3}]\n",
     r"line 7, column 19: job a: matrix exclude names py, not a key of the matrix"),
    ("on:\n  schedule:\n    - cron: '0 25 * * *'\njobs:\n  a: {runs-on: x}\n",
     r"line 3, column 13: cron '0 25 \* \* \*' is not a valid schedule"),
    ("on: push\nconcurrency: {cancel-in-progress: true}\njobs:\n  a: {runs-on: x}\n",
     r"line 2, column 14: concurrency .* must be a group name"),
    ("on: push\njobs:\n  a: {needs: {job: b}, runs-on: x}\n", r"line 3, column 14: job a: needs"),
    ("on: push\njobs:\n  a: {runs-on: x, carbon-aware: perhaps}\n", r"line 3, column 33: job a: carbon-aware"),
    ("on: push\njobs:\n  a: {runs-on: x, deadline: tomorrow}\n", r"line 3, column 29: job a: deadline 'tomorrow'"),
])
def test_semantic_errors_point_at_the_value(text: str, fragment: str) -> None:
    with pytest.raises(DataFormatError, match=fragment):
        read_workflow(text)


def test_a_folder_without_workflows_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="holds no .yml or .yaml file"):
        read_workflows(tmp_path)
    with pytest.raises(InputError, match="no such workflow file or folder"):
        read_workflows(tmp_path / "missing")


def test_a_control_character_is_an_error_naming_the_file(tmp_path: Path) -> None:
    """Regression: PyYAML's reader refuses a control character before parsing starts (was a traceback)."""
    f = tmp_path / "ci.yml"
    f.write_bytes(b"\x01ame: nightly\non: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n")
    with pytest.raises(DataFormatError, match="not valid YAML") as err:
        read_workflow(f)
    assert str(f) in str(err.value)
