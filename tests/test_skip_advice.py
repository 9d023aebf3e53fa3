"""Skip advice: GitHub's path-filter semantics (oracle cases from its cheat sheet), path classes, rule learning
with support and no peeking, and the advice over workflows written here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from greenci.errors import DataFormatError, InputError
from greenci.workflows import read_workflow
from greenci.workflows.skip import (
    CI,
    DOCS,
    LOCKFILE,
    OTHER,
    HistoryRow,
    PathFilter,
    SkipRule,
    learn_rules,
    path_class,
    path_classes,
    pattern_matches,
    read_filters,
    skip_advice,
)

# --- filter semantics: GitHub's "Patterns to match file paths" table -----------------------------------------------

CHEAT_SHEET = [  # (pattern, matches, does not match)
    ("*", ["README.md", "server.rb"], ["docs/README.md"]),
    ("*.jsx?", ["page.js", "page.jsx"], ["page.jsxx", "src/page.js"]),
    ("**", ["all/the/files.md", "a"], []),
    ("*.js", ["app.js", "index.js"], ["js/index.js"]),
    ("**.js", ["index.js", "js/index.js", "src/js/app.js"], ["index.jsx"]),
    ("docs/*", ["docs/README.md", "docs/file.txt"], ["docs/mona/octocat.txt", "README.md"]),
    ("docs/**", ["docs/README.md", "docs/mona/octocat.txt"], ["src/docs/a.md"]),
    ("docs/**/*.md", ["docs/README.md", "docs/mona/hello-world.md", "docs/a/markdown/file.md"], ["docs/a.txt"]),
    ("**/docs/**", ["docs/hello.md", "dir/docs/my-file.txt", "space/docs/plan/space.doc"], ["mydocs/a"]),
    ("**/README.md", ["README.md", "js/README.md"], ["README.mdx"]),
    ("**/*src/**", ["a/src/app.js", "my-src/code/js/app.js"], ["src.js"]),
    ("**/*-post.md", ["my-post.md", "path/their-post.md"], ["post.md"]),
    ("**/migrate-*.sql", ["migrate-10909.sql", "db/migrate-v1.0.sql", "db/sept/migrate-v1.sql"], ["migrate.sql"]),
    ("[CB]at", ["Cat", "Bat"], ["Rat", "cat"]),
    ("[1-2]00", ["100", "200"], ["300"]),
    ("v[12].[0-9]+.[0-9]+", ["v1.10.1", "v2.0.0"], ["v3.0.0"]),
]


@pytest.mark.parametrize(("pattern", "yes", "no"), CHEAT_SHEET)
def test_patterns_match_as_github_documents(pattern: str, yes: list[str], no: list[str]) -> None:
    for path in yes:
        assert pattern_matches(pattern, path), (pattern, path)
    for path in no:
        assert not pattern_matches(pattern, path), (pattern, path)


def test_negation_order_is_sequential() -> None:
    f = PathFilter(("*.md", "!README.md"))
    assert f.runs(["hello.md"])
    assert not f.runs(["README.md"])
    assert not f.runs(["docs/hello.md"])
    g = PathFilter(("*.md", "!README.md", "README*"))  # a later positive pattern includes again
    assert g.runs(["README.md"]) and g.runs(["README.doc"]) and g.runs(["hello.md"])


def test_paths_with_negated_folder() -> None:
    f = PathFilter(("docs/**", "!docs/**/*.md"))
    assert f.runs(["docs/conf.py"])
    assert not f.runs(["docs/a/b.md", "docs/index.md"])
    assert f.runs(["docs/a/b.md", "docs/img.png"])  # one included path is enough
    assert not f.runs(["src/app.py"])


def test_paths_ignore_runs_unless_every_path_is_ignored() -> None:
    f = PathFilter(paths_ignore=("docs/**", "**.md"))
    assert not f.runs(["docs/a.txt", "README.md"])
    assert f.runs(["docs/a.txt", "src/app.py"])
    neg = PathFilter(paths_ignore=("docs/**", "!docs/api/**"))  # a negated ignore pattern keeps the path
    assert not neg.runs(["docs/guide.md"])
    assert neg.runs(["docs/api/ref.md"])


def test_no_filter_always_runs_and_empty_changes_get_no_skip() -> None:
    assert PathFilter().runs(["anything"])
    assert PathFilter(("src/**",)).runs([])


def test_bad_patterns_are_named() -> None:
    with pytest.raises(InputError, match=r"'docs/\[a'"):
        pattern_matches("docs/[a", "docs/a")
    with pytest.raises(InputError, match="empty path pattern"):
        pattern_matches("", "a")


# --- path classes ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "cls"), [
    ("README.md", DOCS), ("docs/conf.py", DOCS), ("src/pkg/guide.rst", DOCS), ("LICENSE", DOCS),
    ("AUTHORS.rst", DOCS), ("HISTORY.md", DOCS), (".github/ISSUE_TEMPLATE/bug.yml", DOCS),
    ("poetry.lock", LOCKFILE), ("web/package-lock.json", LOCKFILE), ("Cargo.lock", LOCKFILE), ("uv.lock", LOCKFILE),
    ("yarn.lock", LOCKFILE), (".github/workflows/ci.yml", CI), (".github/dependabot.yml", CI),
    ("src/app.py", OTHER), ("requirements.txt", OTHER), ("setup.py", OTHER), ("docsrc.py", OTHER),
])
def test_path_class(path: str, cls: str) -> None:
    assert path_class(path) == cls


def test_path_classes_is_the_set() -> None:
    assert path_classes(["README.md", "docs/a.rst"]) == {DOCS}
    assert path_classes(["README.md", "src/a.py"]) == {DOCS, OTHER}


# --- learning -------------------------------------------------------------------------------------------------------

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _row(k: int, conclusion: str = "success", classes: frozenset[str] = frozenset({DOCS}),
         workflow: str = "Tests") -> HistoryRow:
    start = T0 + timedelta(hours=k)
    return HistoryRow(workflow, classes, conclusion, start, start + timedelta(minutes=10))


def test_rule_needs_min_support_and_no_failure() -> None:
    history = [_row(k) for k in range(5)]
    assert learn_rules(history, min_support=6) == ()
    (rule,) = learn_rules(history, min_support=5)
    assert rule == SkipRule("Tests", frozenset({DOCS}), 5)
    assert learn_rules([*history, _row(6, "failure")], min_support=5) == ()
    assert learn_rules([*history, _row(6, "cancelled")], min_support=5) == (rule,)  # neither support nor failure


def test_rules_are_per_workflow_and_class_set() -> None:
    history = [_row(k) for k in range(5)] + [_row(k, workflow="Lint") for k in range(5)]
    history += [_row(k, classes=frozenset({OTHER})) for k in range(9)]  # code changes never make a rule
    history += [_row(k, "failure", workflow="Lint") for k in range(1)]
    assert [(r.workflow, r.label) for r in learn_rules(history)] == [("Tests", "docs-only")]
    locks = [_row(k, classes=frozenset({LOCKFILE})) for k in range(5)]
    assert [r.label for r in learn_rules(locks)] == ["lockfile-only"]


def test_learning_does_not_peek() -> None:
    history = [_row(k) for k in range(10)]
    before = T0 + timedelta(hours=4, minutes=5)  # runs 0..3 finished (at +10 min), run 4 still going
    assert learn_rules(history, before=before, min_support=5) == ()
    assert learn_rules(history, before=before + timedelta(minutes=10), min_support=5)[0].support == 5
    later_failure = [*history, _row(20, "failure")]
    assert learn_rules(later_failure, before=T0 + timedelta(hours=12), min_support=5)[0].support == 10


def test_min_support_must_be_positive() -> None:
    with pytest.raises(InputError, match="min_support 0"):
        learn_rules([], min_support=0)


# --- advice over workflows ------------------------------------------------------------------------------------------

TESTS = """\
name: Tests
on:
  push:
    paths-ignore: ['docs/**', '**.md']
  pull_request:
jobs:
  unit: {runs-on: ubuntu-latest, steps: [{run: pytest}]}
  lint: {runs-on: ubuntu-latest, steps: [{run: ruff check}]}
"""
DOCS_WF = """\
name: Docs
on:
  pull_request:
    paths: ['docs/**', '!docs/**/*.png']
jobs:
  build: {runs-on: ubuntu-latest, steps: [{run: make html}]}
"""
NIGHTLY = """\
name: Nightly
on:
  schedule: [{cron: '0 3 * * *'}]
jobs:
  bench: {runs-on: ubuntu-latest, steps: [{run: make bench}]}
"""


def _specs(*texts: str):
    return [spec for t in texts for spec in read_workflow(t)]


def test_advice_from_filters_per_event() -> None:
    specs = _specs(TESTS, DOCS_WF, NIGHTLY)
    filters = {read_filters(t).workflow: read_filters(t) for t in (TESTS, DOCS_WF, NIGHTLY)}
    push = {(a.workflow, a.job): a for a in skip_advice(specs, ["docs/index.md"], "push", filters=filters)}
    assert push["Tests", "unit"].skip and push["Tests", "lint"].source == "path-filter"
    assert "ignore all 1 changed path" in push["Tests", "unit"].why
    assert push["Docs", "build"].source == "not-triggered" and push["Nightly", "bench"].skip
    pr = {(a.workflow, a.job): a for a in skip_advice(specs, ["docs/index.md"], "pull_request", filters=filters)}
    assert not pr["Tests", "unit"].skip  # the pull_request event has no filter: it always runs
    assert not pr["Docs", "build"].skip and "match docs/index.md" in pr["Docs", "build"].why
    img = {a.workflow: a for a in skip_advice(specs, ["docs/a/logo.png"], "pull_request", filters=filters)}
    assert img["Docs"].skip and "match none" in img["Docs"].why


def test_advice_without_exact_filters_uses_the_specs() -> None:
    # the reader merges push and pull_request filters, so the spec alone applies paths-ignore to both events
    (unit, _) = _specs(TESTS)
    assert unit.paths_ignore == ("docs/**", "**.md")
    (a,) = skip_advice([unit], ["README.md"], "pull_request")
    assert a.skip and a.source == "path-filter"


def test_advice_from_learned_rules() -> None:
    specs = _specs(NIGHTLY.replace("schedule: [{cron: '0 3 * * *'}]", "[push, pull_request]"))
    rule = SkipRule("Nightly", frozenset({DOCS}), 7)
    (a,) = skip_advice(specs, ["README.md", "docs/x.rst"], "push", [rule])
    assert a.skip and a.source == "learned" and "7 earlier docs-only runs" in a.why
    (b,) = skip_advice(specs, ["README.md", "src/a.py"], "push", [rule])
    assert not b.skip and "docs+other-only" in b.why
    (c,) = skip_advice(specs, [], "push", [rule])
    assert not c.skip


def test_read_filters_refuses_both_keys_for_one_event() -> None:
    bad = "on:\n  push:\n    paths: [a]\n    paths-ignore: [b]\njobs: {x: {runs-on: u}}\n"
    with pytest.raises(DataFormatError, match="both paths and paths-ignore"):
        read_filters(bad)


def test_read_filters_names_a_workflow_without_name_by_its_path(tmp_path: Path) -> None:
    f = tmp_path / "ci.yml"
    f.write_text("on: [push]\njobs: {x: {runs-on: u}}\n")
    assert read_filters(f, name=".github/workflows/ci.yml").workflow == ".github/workflows/ci.yml"
    assert read_filters(f).events == ("push",)


# --- real data ------------------------------------------------------------------------------------------------------


def test_shared_runs_carry_the_columns_the_evaluation_reads(shared_data: Path) -> None:
    import csv

    files = sorted(shared_data.glob("jobs/github-actions/gha-dashboard/builds_features_*.csv"))
    if not files:
        pytest.skip("the shared GitHub Actions runs (builds_features_*.csv) are not in this copy of ../shared")
    with files[0].open(newline="") as fh:
        reader = csv.DictReader(fh)
        needed = {"repo", "id_build", "commit_sha", "workflow_name", "workflow_event_trigger", "conclusion",
                  "created_at", "updated_at"}
        assert needed <= set(reader.fieldnames or ())
        rows = [r for r, _ in zip(reader, range(2000), strict=False)]
    assert all(len(r["commit_sha"]) == 40 for r in rows if r["commit_sha"])
    assert {"push", "pull_request"} & {r["workflow_event_trigger"] for r in rows}


# --- command line ---------------------------------------------------------------------------------------------------


def test_cli_skip_advice(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from greenci.cli import app

    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "tests.yml").write_text(TESTS)
    (folder / "docs.yml").write_text(DOCS_WF)
    runner = CliRunner()
    done = runner.invoke(app, ["skip-advice", str(tmp_path), "--changed", "README.md", "--changed", "docs/a.md"])
    assert done.exit_code == 0, done.output
    assert "skip" in done.output and "ignore all 2 changed" in done.output
    bad = runner.invoke(app, ["skip-advice", str(tmp_path), "--changed", "a", "--event", "schedule"])
    assert bad.exit_code != 0 and "path filters apply to push" in bad.output
