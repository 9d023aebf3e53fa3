"""Skip advice: which workflows need not run at all for a commit's changed paths.

Two sources of advice, in this order:

1. **Path filters**, with GitHub's semantics (workflow syntax, "Filter pattern cheat sheet"): a pattern must
   match the whole path from the repository root; ``*`` matches any characters but ``/``; ``**`` any characters
   including ``/`` (``**/`` also matches no folder at all, so ``**/README.md`` matches ``README.md``); ``?``
   makes the preceding character optional (``*.jsx?`` matches ``page.js`` and ``page.jsx``); ``+`` repeats the
   preceding character; ``[...]`` matches one listed character or range. Patterns are checked in order and a
   leading ``!`` negates: a later ``!`` pattern excludes a path an earlier one matched, a later positive pattern
   includes it again. With ``paths`` the workflow runs when at least one changed path ends up included; with
   ``paths-ignore`` it runs unless every changed path ends up ignored. A workflow without a filter for the event
   always runs. Path filters apply to ``push``, ``pull_request`` and ``pull_request_target`` only.
2. **Learned rules**: each changed path falls in a class (:func:`path_class`: documentation, lockfile, CI
   configuration, other). From a history of runs (workflow, classes changed, conclusion) a rule "skip workflow W
   when only {docs} changed" is kept when at least ``min_support`` earlier runs of W changed exactly those
   classes and none of them failed (:func:`learn_rules`). Only runs finished before the advised one count, so a
   replay never peeks at the future. Rules are learned for documentation-only, lockfile-only and
   documentation-plus-lockfile changes (:data:`SKIPPABLE`); a change touching code or CI config never gets one.

Approximations to keep in mind: :func:`filters_of` rebuilds filters from a :class:`JobSpec`, which merges the
push and pull-request filters (read the file with :func:`read_filters` when they differ); branch and tag
filters are not evaluated; an empty list of changed paths gets no advice (GitHub's own treatment of an empty
diff is not documented).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from greenci.errors import DataFormatError, InputError
from greenci.workflows.reader import JobSpec
from greenci.workflows.yamlpos import strings

PATH_EVENTS = ("push", "pull_request", "pull_request_target")

DOCS, LOCKFILE, CI, OTHER = "docs", "lockfile", "ci", "other"
PATH_CLASSES = (DOCS, LOCKFILE, CI, OTHER)
#: the class sets a rule may be learned for: changes that touch neither code nor CI configuration
SKIPPABLE: tuple[frozenset[str], ...] = (frozenset({DOCS}), frozenset({LOCKFILE}), frozenset({DOCS, LOCKFILE}))

LOCKFILES = frozenset({
    "poetry.lock", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb",
    "bun.lock", "Cargo.lock", "uv.lock", "Pipfile.lock", "pdm.lock", "Gemfile.lock", "composer.lock", "go.sum",
    "mix.lock", "Podfile.lock", "flake.lock", "packages.lock.json", "gradle.lockfile", "pixi.lock",
    "conda-lock.yml", "Package.resolved", "pubspec.lock", "deno.lock",
})
DOC_SUFFIXES = frozenset({".md", ".markdown", ".rst", ".adoc", ".asciidoc", ".rdoc", ".textile"})
DOC_FOLDERS = frozenset({"docs", "doc", "documentation"})
#: base names (without suffix, upper case) that are documentation whatever their suffix (LICENSE, AUTHORS.rst)
DOC_NAMES = frozenset({
    "LICENSE", "LICENCE", "COPYING", "NOTICE", "AUTHORS", "CONTRIBUTORS", "CHANGELOG", "CHANGES", "HISTORY",
    "NEWS", "README", "CODE_OF_CONDUCT", "CONTRIBUTING", "SECURITY", "SUPPORT", "CITATION", "MAINTAINERS",
})
#: under .github/ but not CI configuration: templates people read
_GITHUB_DOCS = ("ISSUE_TEMPLATE", "PULL_REQUEST_TEMPLATE", "DISCUSSION_TEMPLATE")

_FAILED = frozenset({"failure", "timed_out", "startup_failure"})
_SUCCEEDED = frozenset({"success"})


# --- path filters ------------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression of one path pattern (without its leading ``!``), GitHub's cheat-sheet syntax."""
    if not pattern:
        raise InputError("an empty path pattern matches nothing: remove it or write e.g. 'docs/**'", field="paths")
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c in "?+" and out and not out[-1].endswith(("*", "?", "+")):
            out[-1] = f"(?:{out[-1]}){c}"
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                raise InputError(f"path pattern {pattern!r} opens '[' without closing it: write e.g. '[0-9a-z]' or "
                                 "quote a literal bracket as '[[]'", field="paths")
            body = pattern[i + 1:end]
            if not body:
                raise InputError(f"path pattern {pattern!r} has an empty '[]': list the characters, e.g. '[CB]at'",
                                 field="paths")
            out.append("[" + "".join("\\" + ch if ch in "\\^]" else ch for ch in body) + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


def pattern_matches(pattern: str, path: str) -> bool:
    """Whether one (positive) pattern matches the whole of ``path``."""
    return compile_pattern(pattern).match(path) is not None


def _included(patterns: Sequence[str], path: str) -> bool:
    """The state of ``path`` after the patterns in order: a match includes it, a matching ``!pattern`` excludes
    it, the last matching pattern wins."""
    state = False
    for p in patterns:
        negated = p.startswith("!")
        body = p[1:] if negated else p
        if pattern_matches(body, path):
            state = not negated
    return state


@dataclass(frozen=True)
class PathFilter:
    """One event's path filter: ``paths`` or ``paths-ignore`` (GitHub refuses both for the same event)."""

    paths: tuple[str, ...] = ()
    paths_ignore: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.paths and not self.paths_ignore

    def runs(self, changed: Iterable[str]) -> bool:
        """Whether GitHub would start the workflow for these changed paths."""
        changed = list(changed)
        if self.empty or not changed:
            return True
        if self.paths and not any(_included(self.paths, p) for p in changed):
            return False
        if self.paths_ignore and all(_included(self.paths_ignore, p) for p in changed):
            return False
        return True

    def why(self, changed: Sequence[str]) -> str:
        """Says what the filter does with these paths, for an advice's ``why``."""
        if self.empty:
            return "no path filter"
        n = f"{len(changed)} changed path{'s' if len(changed) != 1 else ''}"
        if self.paths:
            hit = [p for p in changed if _included(self.paths, p)]
            if not hit:
                return f"paths {list(self.paths)} match none of the {n}"
            return f"paths {list(self.paths)} match {hit[0]}"
        kept = [p for p in changed if not _included(self.paths_ignore, p)]
        if not kept:
            return f"paths-ignore {list(self.paths_ignore)} ignore all {n}"
        return f"paths-ignore {list(self.paths_ignore)} leave {kept[0]}"


@dataclass(frozen=True)
class WorkflowFilters:
    """What starts one workflow: its events and the path filter of each (an event without one is absent)."""

    workflow: str
    events: tuple[str, ...]
    filters: tuple[tuple[str, PathFilter], ...] = ()

    def filter_for(self, event: str) -> PathFilter:
        for e, f in self.filters:
            if e == event:
                return f
        return PathFilter()

    def runs(self, event: str, changed: Iterable[str]) -> bool:
        """Whether ``event`` with these changed paths starts the workflow."""
        if event not in self.events:
            return False
        return event not in PATH_EVENTS or self.filter_for(event).runs(changed)


def filters_of(spec: JobSpec) -> WorkflowFilters:
    """Filters rebuilt from a job spec: its ``paths``/``paths-ignore`` apply to each push/pull-request event it has
    (the reader merges them; use :func:`read_filters` when the events' filters differ)."""
    f = PathFilter(spec.paths, spec.paths_ignore)
    per = tuple((e, f) for e in spec.triggers if e in PATH_EVENTS and not f.empty)
    return WorkflowFilters(spec.workflow, spec.triggers, per)


def read_filters(source: str | Path, *, name: str | None = None) -> WorkflowFilters:
    """The per-event path filters of a workflow file (path) or YAML text; ``name`` is the workflow's name when the
    file has no ``name:`` (GitHub then shows the file's path)."""
    import yaml

    path = Path(source) if not isinstance(source, str) or "\n" not in source else None
    where = str(path) if path else (name or "workflow")
    try:
        text = path.read_text(encoding="utf-8-sig") if path else str(source)
        doc = yaml.safe_load(text)
    except FileNotFoundError:
        raise InputError(f"{where}: no such workflow file: check the path", field="path") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"is not a readable YAML workflow ({str(exc).splitlines()[0]}): fix the YAML",
                              path=where) from None
    if not isinstance(doc, dict):
        raise DataFormatError("a workflow file must be a YAML mapping with 'on:' and 'jobs:'", path=where)
    on = doc.get("on", doc.get(True))
    title = str(doc.get("name") or name or (path.name if path else "workflow"))
    if isinstance(on, str):
        return WorkflowFilters(title, (on,))
    if isinstance(on, list):
        return WorkflowFilters(title, tuple(str(e) for e in on))
    if not isinstance(on, dict):
        raise DataFormatError(f"on: {on!r} must be an event, a list of events or a mapping of events", path=where)
    per: list[tuple[str, PathFilter]] = []
    for event in PATH_EVENTS:
        config = on.get(event)
        if not isinstance(config, dict):
            continue
        f = PathFilter(_patterns(config.get("paths"), event, "paths", where),
                       _patterns(config.get("paths-ignore"), event, "paths-ignore", where))
        if f.paths and f.paths_ignore:
            raise DataFormatError(f"on.{event} has both paths and paths-ignore, which GitHub refuses: keep one and "
                                  "write exclusions as '!pattern' under paths", path=where)
        if not f.empty:
            per.append((event, f))
    return WorkflowFilters(title, tuple(str(e) for e in on), tuple(per))


def _patterns(value: Any, event: str, key: str, where: str) -> tuple[str, ...]:
    found = strings(value)
    if found is not None:
        return found
    raise DataFormatError(f"on.{event}.{key} {value!r} must be a list of path patterns, e.g. ['src/**', '!docs/**']",
                          path=where)


# --- path classes ------------------------------------------------------------------------------------------------


def path_class(path: str) -> str:
    """``docs``, ``lockfile``, ``ci`` (``.github/`` other than issue and PR templates) or ``other``."""
    p = PurePosixPath(path)
    if p.name in LOCKFILES:
        return LOCKFILE
    parts = p.parts
    stem = p.name.split(".", 1)[0].upper()
    if p.suffix.lower() in DOC_SUFFIXES or stem in DOC_NAMES or any(x.lower() in DOC_FOLDERS for x in parts[:-1]):
        return DOCS
    if parts and parts[0] == ".github":
        if len(parts) > 1 and any(parts[1].upper().startswith(t) for t in _GITHUB_DOCS):
            return DOCS
        return CI
    return OTHER


def path_classes(paths: Iterable[str]) -> frozenset[str]:
    """The set of classes of the changed paths."""
    return frozenset(path_class(p) for p in paths)


def _label(classes: frozenset[str]) -> str:
    return "+".join(c for c in PATH_CLASSES if c in classes) + "-only"


# --- learned rules -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    """One past run: its workflow, the classes of the paths it changed, its conclusion and when it started and
    finished (a run counts for learning once it has finished)."""

    workflow: str
    classes: frozenset[str]
    conclusion: str
    started_at: datetime
    finished_at: datetime | None = None


@dataclass(frozen=True)
class SkipRule:
    """Skip ``workflow`` when the changed paths' classes are exactly ``classes``: ``support`` earlier runs with
    those classes, none failed."""

    workflow: str
    classes: frozenset[str]
    support: int

    @property
    def label(self) -> str:
        return _label(self.classes)

    def describe(self) -> str:
        return f"learned: {self.support} earlier {self.label} runs of {self.workflow!r} all succeeded"


def learn_rules(history: Iterable[HistoryRow], *, before: datetime | None = None, min_support: int = 5,
                candidates: Sequence[frozenset[str]] = SKIPPABLE) -> tuple[SkipRule, ...]:
    """Rules from the runs that finished before ``before`` (all runs when None): per workflow and candidate class
    set, kept with at least ``min_support`` successful runs and no failed one (cancelled or skipped runs count for
    neither)."""
    if min_support < 1:
        raise InputError(f"min_support {min_support} must be at least 1: e.g. 5 earlier runs", field="min_support")
    wanted = {frozenset(c) for c in candidates}
    ok: dict[tuple[str, frozenset[str]], int] = {}
    failed: set[tuple[str, frozenset[str]]] = set()
    for row in history:
        if row.classes not in wanted:
            continue
        done = row.finished_at or row.started_at
        if before is not None and not done < before:
            continue
        key = (row.workflow, row.classes)
        if row.conclusion in _FAILED:
            failed.add(key)
        elif row.conclusion in _SUCCEEDED:
            ok[key] = ok.get(key, 0) + 1
    return tuple(SkipRule(w, c, n) for (w, c), n in sorted(ok.items(), key=lambda kv: (kv[0][0], _label(kv[0][1])))
                 if n >= min_support and (w, c) not in failed)


# --- advice ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SkipAdvice:
    """Whether one job need not run, and why: ``source`` is ``not-triggered``, ``path-filter``, ``learned`` or
    ``none`` (it must run)."""

    workflow: str
    job: str
    skip: bool
    why: str
    source: str = "none"


def skip_advice(specs: Sequence[JobSpec], changed_paths: Sequence[str], event: str,
                rules: Iterable[SkipRule] = (), *,
                filters: Mapping[str, WorkflowFilters] | None = None) -> list[SkipAdvice]:
    """Advice for each job of ``specs`` when ``event`` (``push``, ``pull_request``, ...) changes ``changed_paths``.

    ``filters`` maps a workflow's name to its exact per-event filters (:func:`read_filters`); without it they are
    rebuilt from the specs (:func:`filters_of`). A path filter that says the workflow does not start wins; then a
    learned rule for the changed classes; otherwise the job runs.
    """
    if not event:
        raise InputError("event is empty: give the event that starts the run, e.g. push or pull_request",
                         field="event")
    changed = [p.strip().lstrip("/") for p in changed_paths if p.strip()]
    if changed and event in PATH_EVENTS:
        classes = path_classes(changed)
    else:
        classes = frozenset()
    by_rule = {(r.workflow, r.classes): r for r in rules}
    out: list[SkipAdvice] = []
    for spec in specs:
        wf = (filters or {}).get(spec.workflow) or filters_of(spec)
        if event not in wf.events:
            out.append(SkipAdvice(spec.workflow, spec.job, True, f"the workflow has no {event} trigger",
                                  "not-triggered"))
            continue
        f = wf.filter_for(event) if event in PATH_EVENTS else PathFilter()
        if changed and not f.runs(changed):
            out.append(SkipAdvice(spec.workflow, spec.job, True, f.why(changed), "path-filter"))
            continue
        rule = by_rule.get((spec.workflow, classes))
        if rule is not None and changed:
            out.append(SkipAdvice(spec.workflow, spec.job, True, rule.describe(), "learned"))
            continue
        if not changed:
            why = "no changed paths given: the workflow runs"
        elif not f.empty:
            why = f.why(changed)
        else:
            why = f"no path filter and no learned rule for {_label(classes)} changes"
        out.append(SkipAdvice(spec.workflow, spec.job, False, why))
    return out

