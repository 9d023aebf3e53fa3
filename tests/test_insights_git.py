"""Exact indicators on a git repository built here, with known authors, times and time-zone offsets."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from cli_shell import shell
from typer.testing import CliRunner

from greenci.cli.insights import register
from greenci.errors import InputError
from greenci.insights.git_activity import parse_log, read_git_log
from greenci.insights.indicators import Identities, build_indicators

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

ALICE = ("Alice Example", "alice@example.org")
BOB = ("Bob Example", "bob@example.org")
BOT = ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com")


def _env(tmp: Path) -> dict[str, str]:
    """git isolated from the machine's config (no signing, no hooks, no global identity)."""
    return {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp),
            "LC_ALL": "C"}


def _commit(repo: Path, who: tuple[str, str], when: str, message: str, files: dict[str, str | bytes | None],
            renames: tuple[tuple[str, str], ...] = ()) -> None:
    env = _env(repo.parent)
    for old, new in renames:
        (repo / new).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "mv", old, new], cwd=repo, check=True, env=env, capture_output=True)
    for name, content in files.items():
        path = repo / name
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env, capture_output=True)
    subprocess.run(["git", "-c", f"user.name={who[0]}", "-c", f"user.email={who[1]}", "-c", "commit.gpgsign=false",
                    "commit", "-q", "--no-verify", f"--date={when}", "-m", message], cwd=repo, check=True,
                   env={**env, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}, capture_output=True)


def _lines(n: int, tag: str = "line") -> str:
    return "".join(f"{tag} {i}\n" for i in range(n))


@pytest.fixture(scope="module")
def built_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Alice at +02:00, Bob at -05:00, a bot; times chosen so that local and UTC disagree.

    ISO weeks of 2024: W09 = Feb 26 .. Mar 3, W10 = Mar 4 .. Mar 10, W11 = Mar 11 .. 17.
    """
    repo = tmp_path_factory.mktemp("built") / "project"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=_env(repo.parent), capture_output=True)
    # 1 Alice, Sat 2024-03-02 23:30 local (21:30 UTC): late night and weekend locally; +10 lines
    _commit(repo, ALICE, "2024-03-02T23:30:00+0200", "Add a module, this is great", {"src/a.py": _lines(10)})
    # 2 Bob, Sun 2024-03-03 20:00 local (Mon 01:00 UTC!): weekend, not late, W09 locally; +1 at the root
    _commit(repo, BOB, "2024-03-03T20:00:00-0500", "Readme", {"README.md": "hello\n"})
    # 3 Alice, Mon 2024-03-04 09:00: src +2 -1, docs +3 -> churn 6; areas src, docs
    _commit(repo, ALICE, "2024-03-04T09:00:00+0200", "Edit module and docs",
            {"src/a.py": _lines(9) + "changed 9\nline 10\n", "docs/guide.md": _lines(3, "doc")})
    # 4 Alice, Mon 2024-03-04 14:00: tests +5; third area that day
    _commit(repo, ALICE, "2024-03-04T14:00:00+0200", "Tests", {"tests/test_a.py": _lines(5, "t")})
    # 5 Alice, Tue 2024-03-05 05:59 local: late night; a binary file only -> churn 0; area assets
    _commit(repo, ALICE, "2024-03-05T05:59:00+0200", "Logo", {"assets/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x01\xff"})
    # 6 Bob, Fri 2024-03-08 22:00 local (Sat 03:00 UTC!): late night, not weekend locally; +4
    _commit(repo, BOB, "2024-03-08T22:00:00-0500", "This is terrible, everything is broken", {"src/b.py": _lines(4)})
    # 7 Bob, Mon 2024-03-11 12:00 local: a pure rename src/b.py -> lib/b.py: churn 0, area lib
    _commit(repo, BOB, "2024-03-11T12:00:00-0500", "Move b", {}, renames=(("src/b.py", "lib/b.py"),))
    # 8 the bot, left out by default
    _commit(repo, BOT, "2024-03-09T03:00:00+0000", "Bump deps", {"requirements.txt": "x==1\n"})
    return repo


def test_read_git_log_keeps_each_commits_own_offset(built_repo: Path) -> None:
    commits = read_git_log(built_repo)
    assert len(commits) == 8
    first, bob_sunday = commits[0], commits[1]
    assert first.author_email == "alice@example.org" and first.author_name == "Alice Example"
    assert first.authored_at.utcoffset() == timedelta(hours=2)
    assert (first.authored_at.hour, first.late_night, first.weekend, first.week) == (23, True, True, "2024-W09")
    assert bob_sunday.authored_at.utcoffset() == timedelta(hours=-5)
    # local Sunday 20:00 is Monday 01:00 UTC: by its own offset it is a weekend, not late, ISO week 9
    assert (bob_sunday.weekend, bob_sunday.late_night, bob_sunday.week) == (True, False, "2024-W09")
    assert [c.churn for c in commits] == [10, 1, 6, 5, 0, 4, 0, 1]
    logo = commits[4]
    assert logo.files[0].binary and logo.files[0].path == "assets/logo.png"
    rename = commits[6]
    assert [f.path for f in rename.files] == ["lib/b.py"] and rename.areas() == frozenset({"lib"})
    assert commits[1].areas() == frozenset({"."})


def test_indicators_are_exact(built_repo: Path) -> None:
    ids = Identities.create(salt="s", reveal=True)
    table = build_indicators(read_git_log(built_repo), identities=ids, sentiment=False)
    rows = {(r.person, r.week): r for r in table.rows}
    alice, bob = "Alice Example <alice@example.org>", "Bob Example <bob@example.org>"
    assert set(rows) == {(alice, "2024-W09"), (alice, "2024-W10"), (bob, "2024-W09"), (bob, "2024-W10"),
                         (bob, "2024-W11")}, "the bot is left out; weeks are local ISO weeks"
    a9, a10 = rows[(alice, "2024-W09")], rows[(alice, "2024-W10")]
    assert (a9.commits, a9.churn, a9.late_night, a9.weekend, a9.context_switching) == (1, 10, 1, 1, 1.0)
    # Mar 4: src, docs, tests (3 areas); Mar 5: assets (1) -> mean 2 per active day
    assert (a10.commits, a10.churn, a10.late_night, a10.weekend, a10.context_switching) == (3, 11, 1, 0, 2.0)
    b9, b10, b11 = rows[(bob, "2024-W09")], rows[(bob, "2024-W10")], rows[(bob, "2024-W11")]
    assert (b9.commits, b9.churn, b9.late_night, b9.weekend) == (1, 1, 0, 1)
    assert (b10.commits, b10.churn, b10.late_night, b10.weekend) == (1, 4, 1, 0)
    assert (b11.commits, b11.churn, b11.context_switching) == (1, 0, 1.0)
    assert all(r.review_load == 0 and r.open_prs == 0 and r.communication == 0 for r in table.rows)
    assert all(r.meeting_hours != r.meeting_hours for r in table.rows), "no calendar: meeting hours unknown (NaN)"


def test_bots_can_be_kept(built_repo: Path) -> None:
    ids = Identities.create(salt="s", reveal=True, include_bots=True)
    table = build_indicators(read_git_log(built_repo), identities=ids, sentiment=False)
    assert any("dependabot[bot]" in p for p in table.people)


def test_pseudonyms_are_salted_sha256_prefixes(built_repo: Path) -> None:
    table = build_indicators(read_git_log(built_repo), identities=Identities.create(salt="pepper"), sentiment=False)
    expected = {hashlib.sha256(("pepper" + e).encode()).hexdigest()[:10] for e in ("alice@example.org",
                                                                                    "bob@example.org")}
    assert set(table.people) == expected
    assert table.person_for("Alice@Example.org") in expected
    other = build_indicators(read_git_log(built_repo), identities=Identities.create(salt="salt2"), sentiment=False)
    assert not set(other.people) & expected, "another salt gives unlinkable ids"


def test_random_salt_when_none_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREENCI_INSIGHTS_SALT", raising=False)
    a, b = Identities.create(), Identities.create()
    assert a.salt != b.salt and a.salt_source == "random per run"
    monkeypatch.setenv("GREENCI_INSIGHTS_SALT", "fixed")
    assert Identities.create().pseudonym("x") == Identities.create(salt="fixed").pseudonym("x")


def test_sentiment_follows_the_messages(built_repo: Path) -> None:
    table = build_indicators(read_git_log(built_repo), identities=Identities.create(salt="s", reveal=True))
    rows = {(r.person.split()[0], r.week): r for r in table.rows}
    assert rows[("Alice", "2024-W09")].sentiment > 0.3  # "this is great"
    assert rows[("Bob", "2024-W10")].sentiment < -0.3  # "terrible, everything is broken"


def test_several_repositories_count_as_context_switches(built_repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=other, check=True, env=_env(tmp_path), capture_output=True)
    _commit(other, ALICE, "2024-03-04T10:00:00+0200", "Other repo, same top dir", {"src/x.py": "x\n"})
    from greenci.insights.git_activity import read_repositories

    commits = read_repositories([built_repo, other])
    table = build_indicators(commits, identities=Identities.create(salt="s", reveal=True), sentiment=False)
    a10 = next(r for r in table.rows if r.person.startswith("Alice") and r.week == "2024-W10")
    # Mar 4: project:src, project:docs, project:tests, other:src (4); Mar 5: project:assets (1)
    assert a10.context_switching == 2.5 and a10.commits == 4


def test_empty_commit_touches_no_directory(tmp_path: Path) -> None:
    """An empty commit (``--allow-empty``) changes no file: it touches no area, not a top-level ``.``."""
    repo = tmp_path / "empty"
    repo.mkdir()
    env = _env(tmp_path)
    for args in (["init", "-q"], ["config", "user.name", ALICE[0]], ["config", "user.email", ALICE[1]],
                 ["config", "commit.gpgsign", "false"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env, capture_output=True)
    _commit(repo, ALICE, "2024-03-04T09:00:00+0200", "Code", {"src/a.py": "a\n"})
    when = "2024-03-05T09:00:00+0200"
    subprocess.run(["git", "commit", "-q", "--no-verify", "--allow-empty", "-m", "Trigger CI"], cwd=repo, check=True,
                   env={**env, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}, capture_output=True)
    code, empty = read_git_log(repo)
    assert code.areas() == frozenset({"src"})
    assert empty.files == () and empty.churn == 0
    assert empty.areas() == frozenset() and empty.areas(with_repo=True) == frozenset()
    table = build_indicators([code, empty], identities=Identities.create(salt="s", reveal=True), sentiment=False)
    (row,) = table.rows
    # Mar 4: src (1 area); Mar 5: the empty commit only, no area and no day of work on files -> mean 1, not 0.5
    assert row.commits == 2 and row.context_switching == 1.0
    only_empty = build_indicators([empty], identities=Identities.create(salt="s"), sentiment=False)
    assert only_empty.rows[0].commits == 1 and only_empty.rows[0].context_switching == 0.0


def test_rename_paths_are_parsed() -> None:
    rs, us, gs = "\x1e", "\x1f", "\x1d"
    text = (f"{rs}abc{us}A{us}a@x{us}2024-01-01T00:00:00+01:00{us}msg\n{gs}\n\n"
            "1\t2\tsrc/{old => new}/f.py\n0\t0\told.txt => docs/new.txt\n-\t-\timg.bin\n")
    (c,) = parse_log(text, "r")
    assert [f.path for f in c.files] == ["src/new/f.py", "docs/new.txt", "img.bin"]
    assert c.churn == 3 and c.areas() == frozenset({"src", "docs", "."})


def test_not_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a git repository"):
        read_git_log(tmp_path)
    with pytest.raises(InputError, match="no such directory"):
        read_git_log(tmp_path / "missing")


def test_empty_repository_has_no_commits(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, env=_env(tmp_path), capture_output=True)
    assert read_git_log(tmp_path) == []


def _app() -> typer.Typer:
    return shell(register)


def test_cli_health_on_the_built_repository(built_repo: Path) -> None:
    result = CliRunner().invoke(_app(), ["insights", "health", str(built_repo), "--salt", "s", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["people_count"] == 2 and doc["weeks_count"] == 3 and doc["pseudonymised"] is True
    assert "@" not in result.stdout and "Alice" not in result.stdout, "no raw identity by default"
    alice = hashlib.sha256(b"salice@example.org").hexdigest()[:10]
    rows = {(r["person"], r["week"]): r for r in doc["person_weeks"]}
    assert rows[(alice, "2024-W10")]["late_night"] == 1 and rows[(alice, "2024-W10")]["churn"] == 11
    assert doc["energy_of_this_run"]["energy_kwh"] >= 0 and doc["energy_of_this_run"]["method"]


def test_cli_health_reveals_names_only_on_request(built_repo: Path) -> None:
    result = CliRunner().invoke(_app(), ["insights", "health", str(built_repo), "--reveal-names", "--no-sentiment"])
    assert result.exit_code == 0, result.output
    assert "alice@example.org" in result.stdout and "Energy of this run" in result.stdout


def test_cli_health_refuses_a_folder_that_is_not_a_repository(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["insights", "health", str(tmp_path)])
    assert result.exit_code == 2 and "not a git repository" in result.output


def _fast_import_repo(path: Path, people: int = 12, weeks: int = 10, seed: int = 7) -> list[tuple[str, str, int]]:
    """A repository written with ``git fast-import`` (fast): strained weeks are commits at 23:xx local time,
    otherwise the same (2 or 3 commits on Monday to Wednesday, random churn), so late night is the one driver.

    Returns the ground truth (e-mail, ISO week, label).
    """
    import random
    from datetime import datetime, timezone

    rng = random.Random(seed)
    path.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=path, check=True, env=_env(path.parent), capture_output=True)
    stream: list[str] = []
    truth: list[tuple[str, str, int]] = []
    events = []
    for p in range(people):
        offset_h = [-5, 0, 1, 2, 9][p % 5]
        tz = timezone(timedelta(hours=offset_h))
        for w in range(weeks):
            strained = rng.random() < 0.4
            truth.append((f"dev{p}@example.org", f"2024-W{w + 1:02d}", int(strained)))
            for k in range(rng.choice((2, 3))):
                hour = 23 if strained else 10 + 2 * k
                local = datetime(2024, 1, 1, hour, rng.randrange(60), tzinfo=tz) + timedelta(days=7 * w + k)
                events.append((local.timestamp(), p, offset_h, local, rng.randrange(1, 40)))
    for n, (ts, p, offset_h, _local, lines) in enumerate(sorted(events)):
        sign = "+" if offset_h >= 0 else "-"
        who = f"Dev {p} <dev{p}@example.org> {int(ts)} {sign}{abs(offset_h):02d}00"
        msg = f"change {n}\n"
        content = "".join(f"{n} {i}\n" for i in range(lines))
        stream += ["commit refs/heads/master", f"author {who}", f"committer {who}", f"data {len(msg)}", msg,
                   f"M 100644 inline area{p % 3}/f{n}.txt", f"data {len(content)}", content]
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input="\n".join(stream) + "\n", text=True,
                   check=True, env=_env(path.parent), capture_output=True)
    subprocess.run(["git", "symbolic-ref", "HEAD", "refs/heads/master"], cwd=path, check=True, env=_env(path.parent))
    return truth


def test_cli_health_with_labels_trains_validates_and_explains(tmp_path: Path) -> None:
    truth = _fast_import_repo(tmp_path / "team")
    labels = tmp_path / "labels.csv"
    labels.write_text("person,week,label\n" + "".join(f"{e},{w},{y}\n" for e, w, y in truth)
                      + "nobody@example.org,2024-W01,1\n", encoding="utf-8")
    commits = read_git_log(tmp_path / "team")
    assert len(commits) > 2 * len(truth)
    out = tmp_path / "out"
    result = CliRunner().invoke(_app(), ["insights", "health", str(tmp_path / "team"), "--labels", str(labels),
                                         "--salt", "s", "--no-sentiment", "--format", "json", "--top", "4",
                                         "-o", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert any(n.startswith(f"1 of the {len(truth) + 1} labels in {labels} match no person-week") for n in doc["notes"])
    assert sorted(p.name for p in out.iterdir()) == ["community.csv", "community.png", "model.json",
                                                     "person_weeks.csv"], "whole files only, no temporary left"
    assert json.loads((out / "model.json").read_text(encoding="utf-8"))["model"]["examples"] == len(truth)
    assert ",nan," not in (out / "person_weeks.csv").read_text(encoding="utf-8"), "a missing value is an empty cell"
    model = doc["model"]
    assert model["examples"] == len(truth) and model["positives"] == sum(y for _, _, y in truth)
    assert model["auc"] > 0.95 and model["f1"] > 0.9
    assert 0.8 < model["transparent_auc"] <= model["auc"], "fixed weights rank well; the fitted model better"
    explained = doc["explanations"]
    assert len(explained) == 4
    top = explained[0]
    assert top["probability"] > 0.5
    assert top["shap"][0][0] == "late_night" and top["shap"][0][2] > 0
    assert top["lime"][0][0] == "late_night" and top["lime"][0][2] > 0
    assert "@" not in result.stdout


def test_cli_health_refuses_too_few_labels(built_repo: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("person,week,label\nalice@example.org,2024-W09,1\nbob@example.org,2024-W09,0\n",
                      encoding="utf-8")
    result = CliRunner().invoke(_app(), ["insights", "health", str(built_repo), "--labels", str(labels),
                                         "--no-sentiment"])
    assert result.exit_code == 2 and "training needs at least 10 of each class" in result.output
