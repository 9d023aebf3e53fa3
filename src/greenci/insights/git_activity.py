"""Commits of real git repositories, read with ``git log --numstat``, each in its author's own time zone.

Why the author's own offset: "late at night" and "at the weekend" are about the clock on the author's
wall, not UTC. git stores the offset the author's machine had (``%aI``, e.g. ``2024-03-02T23:30:00+02:00``),
so a commit's local hour, weekday and ISO week are taken from that timestamp as written.

Definitions used everywhere in ``greenci.insights``:

- **late night**: local hour in ``[22, 24)`` or ``[0, 6)`` (22:00 inclusive to 06:00 exclusive);
- **weekend**: local Saturday or Sunday (a Saturday 23:30 commit is both);
- **churn**: lines added + lines deleted (``--numstat``); binary files count 0;
- **area**: the top-level directory a file lies in (``.`` for files at the root); with several
  repositories the area is ``repo:top``, so switching repositories counts as switching context; an
  empty commit (``--allow-empty``, no file changed) touches no area;
- **week**: the ISO week of the local date, written ``2024-W09``.

Merge commits are left out by default (their diff is the merged work, already counted in the merged
commits); renames count the lines changed, not the file moved. Identities respect ``.mailmap``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from greenci.errors import ConfigError, DataFormatError, InputError
from greenci.insights import PLAUSIBLE_YEARS, plausible_time

__all__ = ["Commit", "FileChange", "iso_week", "is_late_night", "is_weekend", "read_git_log", "read_repositories"]

LATE_NIGHT_START_H = 22
LATE_NIGHT_END_H = 6
_RS, _US, _GS = "\x1e", "\x1f", "\x1d"
_FORMAT = f"--format={_RS}%H{_US}%aN{_US}%aE{_US}%aI{_US}%B{_GS}"


def iso_week(t: datetime) -> str:
    """``YYYY-Www`` of the date as written in ``t``'s own time zone (ISO 8601 week numbering)."""
    year, week, _ = t.date().isocalendar()
    return f"{year}-W{week:02d}"


def is_late_night(t: datetime) -> bool:
    """Local hour in [22, 6): the clock on the author's wall read 22:00 or later, or before 06:00."""
    return t.hour >= LATE_NIGHT_START_H or t.hour < LATE_NIGHT_END_H


def is_weekend(t: datetime) -> bool:
    """Local Saturday or Sunday."""
    return t.weekday() >= 5


@dataclass(frozen=True)
class FileChange:
    """One file of a commit: lines added and deleted (0 and 0 for binary files)."""

    path: str
    added: int
    deleted: int
    binary: bool = False

    @property
    def area(self) -> str:
        """Top-level directory, ``.`` for a file at the repository root."""
        parts = self.path.split("/", 1)
        return parts[0] if len(parts) == 2 else "."


@dataclass(frozen=True)
class Commit:
    """One non-merge commit: who, when (aware, in the author's own offset), what changed and the message."""

    repo: str
    sha: str
    author_name: str
    author_email: str
    authored_at: datetime
    message: str
    files: tuple[FileChange, ...] = ()

    @property
    def added(self) -> int:
        return sum(f.added for f in self.files)

    @property
    def deleted(self) -> int:
        return sum(f.deleted for f in self.files)

    @property
    def churn(self) -> int:
        """Added + deleted lines; binary files count 0."""
        return self.added + self.deleted

    @property
    def week(self) -> str:
        return iso_week(self.authored_at)

    @property
    def local_date(self) -> str:
        return self.authored_at.date().isoformat()

    @property
    def late_night(self) -> bool:
        return is_late_night(self.authored_at)

    @property
    def weekend(self) -> bool:
        return is_weekend(self.authored_at)

    def areas(self, with_repo: bool = False) -> frozenset[str]:
        """The top-level directories touched (``repo:top`` when ``with_repo``); none for an empty commit."""
        tops = {f.area for f in self.files}
        return frozenset(f"{self.repo}:{t}" if with_repo else t for t in tops)


def read_repositories(paths: Iterable[str | os.PathLike[str]], **kwargs: object) -> list[Commit]:
    """Commits of several repositories (see :func:`read_git_log`); repository names must differ."""
    out: list[Commit] = []
    names: dict[str, str] = {}
    for p in paths:
        commits = read_git_log(p, **kwargs)  # type: ignore[arg-type]
        name = _repo_name(p)
        if name in names and names[name] != os.fspath(p):
            name = f"{name}@{len(names)}"
            commits = [Commit(name, c.sha, c.author_name, c.author_email, c.authored_at, c.message, c.files)
                       for c in commits]
        names[name] = os.fspath(p)
        out += commits
    return out


def read_git_log(path: str | os.PathLike[str], *, since: str | None = None, until: str | None = None,
                 include_merges: bool = False, max_commits: int | None = None,
                 repo_name: str | None = None) -> list[Commit]:
    """Every commit reachable from HEAD, oldest first, with per-file line counts.

    Runs ``git log --numstat`` in a subprocess (git must be on PATH). ``since``/``until`` are passed
    to git as written (``2024-01-01``, ``3 months ago``).
    """
    git = shutil.which("git")
    if git is None:
        raise ConfigError("git was not found on PATH: install git (https://git-scm.com) to read repositories")
    root = Path(path)
    if not root.is_dir():
        raise InputError(f"{os.fspath(path)}: no such directory: pass the folder of a git checkout")
    probe = _git(git, root, ["rev-parse", "--git-dir"], check=False)
    if probe.returncode != 0:
        raise InputError(f"{os.fspath(path)}: not a git repository: pass the folder of a git checkout "
                         "(the one holding .git)")
    head = _git(git, root, ["rev-parse", "--verify", "--quiet", "HEAD"], check=False)
    if head.returncode != 0:
        return []  # a repository without commits yet
    args = ["log", "--numstat", "-M", "--no-color", "--reverse", _FORMAT]
    if not include_merges:
        args.append("--no-merges")
    if since:
        args.append(f"--since={since}")
    if until:
        args.append(f"--until={until}")
    if max_commits is not None:
        if max_commits <= 0:
            raise InputError(f"max_commits={max_commits} must be positive")
        args.append(f"--max-count={max_commits}")
    out = _git(git, root, args, check=True).stdout
    return parse_log(out, repo_name or _repo_name(path), source=os.fspath(path))


def parse_log(text: str, repo: str, source: str = "git log") -> list[Commit]:
    """Commits from the output of ``git log --numstat`` with greenci's record format."""
    commits = []
    before = text.split(_RS, 1)[0]
    if before.strip(" \t\r\n"):
        raise DataFormatError(f"unexpected git log output {before[:80]!r}: expected greenci's record format",
                              path=source)
    for record in text.split(_RS)[1:]:
        head, sep, numstat = record.partition(_GS)
        fields = head.split(_US, 4)
        if not sep or len(fields) != 5:
            raise DataFormatError(f"unexpected git log record {record[:80]!r}: is git older than 2.x?", path=source)
        sha, name, email, date, message = fields
        try:
            when = datetime.fromisoformat(date.strip())
        except ValueError:
            raise DataFormatError(f"commit {sha[:10]}: author date {date!r} is not ISO 8601", path=source) from None
        if not plausible_time(when) or when.tzinfo is None:
            raise DataFormatError(f"commit {sha[:10]}: author date {date.strip()!r} is not a plausible time (years "
                                  f"{PLAUSIBLE_YEARS[0]} to {PLAUSIBLE_YEARS[1]}, with an offset): leave the commit "
                                  "out with since/until, or read another branch", path=source)
        files = tuple(_numstat_line(line, sha, source) for line in numstat.splitlines() if line.strip())
        commits.append(Commit(repo=repo, sha=sha, author_name=name.strip(), author_email=email.strip().lower(),
                              authored_at=when, message=message.strip(), files=files))
    return commits


def _numstat_line(line: str, sha: str, source: str) -> FileChange:
    parts = line.split("\t", 2)
    if len(parts) != 3:
        raise DataFormatError(f"commit {sha[:10]}: numstat line {line!r} is not 'added<TAB>deleted<TAB>path'",
                              path=source)
    a, d, p = parts
    path = _rename_target(_unquote(p))
    if a == "-" and d == "-":
        return FileChange(path, 0, 0, binary=True)
    try:
        added, deleted = int(a), int(d)
    except ValueError:
        raise DataFormatError(f"commit {sha[:10]}: numstat counts {a!r} {d!r} are not numbers", path=source) from None
    if added < 0 or deleted < 0:
        raise DataFormatError(f"commit {sha[:10]}: numstat counts {a!r} {d!r} are negative", path=source)
    return FileChange(path, added, deleted)


def _unquote(p: str) -> str:
    """git C-quotes odd paths (``"a\\tb"``); the top-level directory survives a plain strip of the quotes."""
    if len(p) >= 2 and p[0] == p[-1] == '"':
        return p[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return p


def _rename_target(p: str) -> str:
    """The new path of a rename: ``src/{a => b}/f.py`` -> ``src/b/f.py``, ``old => new`` -> ``new``."""
    if " => " not in p:
        return p
    if "{" in p and "}" in p:
        pre, rest = p.split("{", 1)
        mid, post = rest.split("}", 1)
        new = mid.split(" => ", 1)[1]
        return (pre + new + post).replace("//", "/")
    return p.split(" => ", 1)[1]


def _repo_name(path: str | os.PathLike[str]) -> str:
    return Path(path).resolve().name or os.fspath(path)


def _git(git: str, root: Path, args: Sequence[str], *, check: bool) -> subprocess.CompletedProcess[str]:
    cmd = [git, "-c", "core.quotePath=false", "-c", "log.showSignature=false", "-C", str(root), *args]
    env = {**os.environ, "GIT_PAGER": "cat", "LC_ALL": "C"}
    try:
        proc = subprocess.run(cmd, capture_output=True, env=env, check=False)
    except OSError as exc:
        raise ConfigError(f"could not run git ({exc}): check that git is installed and executable") from None
    result = subprocess.CompletedProcess(cmd, proc.returncode, proc.stdout.decode("utf-8", "replace"),
                                         proc.stderr.decode("utf-8", "replace"))
    if check and result.returncode != 0:
        raise InputError(f"{root}: git {' '.join(args[:1])} failed: {result.stderr.strip()[:300]}")
    return result
