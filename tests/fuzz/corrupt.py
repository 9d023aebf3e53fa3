"""Broken versions of good inputs, and the invariant every reader and command must keep on them.

A :class:`Mutant` is a corrupted copy of a good file with a label (what was broken) and whether the
input *must* be refused (an extreme or wrong-typed value, a row cut in half) or *may* be accepted (a
reordered or duplicated row still says the same thing). :func:`outcome_of` runs a reader and
classifies what happened; :func:`record` tallies it per reader or command for the table the fuzz
session prints at its end (``tests/fuzz/conftest.py``).

The invariant: either a result, or a :class:`~greenci.errors.GreenciError` whose message names the file
(or row, column, field); never another exception; never a result when the mutant must be refused.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from greenci.errors import GreenciError

#: extreme or wrong values put into a numeric cell; each must be refused by the reader
BAD_NUMBERS = ("1e308", "-1e308", "inf", "-inf", "nan", "NaN", "abc", "12,5.3", "--4", "0x1F", "1e-400e", "∞")
#: how many examples each property runs; GREENCI_FUZZ_EXAMPLES raises it for the long run
EXAMPLES = int(os.environ.get("GREENCI_FUZZ_EXAMPLES", "12"))


@dataclass(frozen=True)
class Mutant:
    label: str
    data: bytes
    must_fail: bool


# ------------------------------------------------------------------------------------------ bytes
@st.composite
def byte_mutants(draw: st.DrawFn, good: bytes) -> Mutant:
    """Truncated, flipped, padded with garbage, re-encoded, emptied: for any file format."""
    kind = draw(st.sampled_from(["empty", "truncate-mid-line", "flip", "garbage", "utf16", "latin1-bytes",
                                 "nul-bytes", "cut-half"]))
    if kind == "empty":
        return Mutant("empty file", b"", True)
    if kind == "truncate-mid-line":
        lines = good.rstrip(b"\n").split(b"\n")
        last = lines[-1]
        if len(lines) < 2 or len(last) < 2:
            return Mutant("empty file", b"", True)
        cut = draw(st.integers(1, len(last) - 1))
        return Mutant("last row cut mid-line", b"\n".join(lines[:-1] + [last[:cut]]), False)
    if kind == "flip":
        pos = draw(st.integers(0, max(len(good) - 1, 0)))
        byte = draw(st.integers(0, 255))
        return Mutant("one byte flipped", good[:pos] + bytes([byte]) + good[pos + 1:], False)
    if kind == "garbage":
        noise = draw(st.binary(min_size=1, max_size=512))
        return Mutant("random bytes", noise, True)
    if kind == "utf16":
        return Mutant("UTF-16 encoded", good.decode("utf-8", "replace").encode("utf-16"), False)
    if kind == "latin1-bytes":
        return Mutant("latin-1 bytes inside", good.replace(b"a", b"\xe9", 3), False)
    if kind == "nul-bytes":
        return Mutant("NUL bytes inside", good[: len(good) // 2] + b"\x00" * 8 + good[len(good) // 2:], False)
    return Mutant("first half only", good[: len(good) // 2], False)


# ------------------------------------------------------------------------------------------ CSV
def _rows(good: bytes) -> tuple[list[str], list[list[str]]]:
    table = list(csv.reader(io.StringIO(good.decode("utf-8"))))
    return table[0], [r for r in table[1:] if r]


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    return buf.getvalue().encode("utf-8")


def _numeric_columns(header: list[str], rows: list[list[str]]) -> list[int]:
    out = []
    for j in range(len(header)):
        vals = [r[j] for r in rows if j < len(r) and r[j].strip()]
        try:
            if vals and all(math.isfinite(float(v)) for v in vals):
                out.append(j)
        except ValueError:
            continue
    return out


@st.composite
def csv_mutants(draw: st.DrawFn, good: bytes, required: tuple[str, ...] = (),
                value_columns: tuple[str, ...] | None = None) -> Mutant:
    """Column dropped or renamed, a value made extreme or a word, rows reordered or duplicated, a row cut.

    ``required``: columns whose loss must be refused. ``value_columns``: the numeric columns whose cells
    must be plausible (default: every column that holds only numbers).
    """
    header, rows = _rows(good)
    numeric = ([header.index(c) for c in value_columns if c in header] if value_columns is not None
               else _numeric_columns(header, rows))
    kinds = ["drop-column", "rename-column", "reorder", "duplicate", "cut-row", "blank-cell"]
    if numeric:
        kinds.append("bad-number")
    kind = draw(st.sampled_from(kinds))
    if kind in ("drop-column", "rename-column"):
        j = draw(st.integers(0, len(header) - 1))
        name = header[j]
        must = name in required
        if kind == "drop-column":
            return Mutant(f"column {name!r} dropped", _csv(header[:j] + header[j + 1:],
                                                            [r[:j] + r[j + 1:] for r in rows]), must)
        renamed = header[:j] + [name + "_x"] + header[j + 1:]
        return Mutant(f"column {name!r} renamed", _csv(renamed, rows), must)
    if kind == "reorder":
        order = draw(st.permutations(range(len(rows))))
        return Mutant("rows reordered", _csv(header, [rows[i] for i in order]), False)
    if kind == "duplicate":
        i = draw(st.integers(0, len(rows) - 1))
        return Mutant("a row duplicated", _csv(header, rows[: i + 1] + [rows[i]] + rows[i + 1:]), False)
    if kind == "cut-row":
        i = draw(st.integers(0, len(rows) - 1))
        cut = rows[i][: max(1, len(rows[i]) // 2)]
        return Mutant(f"row {i + 2} has {len(cut)} of {len(header)} cells",
                      _csv(header, rows[:i] + [cut] + rows[i + 1:]), True)
    if kind == "blank-cell":
        i, j = draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, len(header) - 1))
        changed = [list(r) for r in rows]
        if j < len(changed[i]):
            changed[i][j] = ""
        return Mutant(f"row {i + 2} column {header[j]!r} blank", _csv(header, changed), False)
    i, j = draw(st.integers(0, len(rows) - 1)), draw(st.sampled_from(numeric))
    value = draw(st.sampled_from(BAD_NUMBERS))
    changed = [list(r) for r in rows]
    changed[i][j] = value
    return Mutant(f"row {i + 2} column {header[j]!r} = {value}", _csv(header, changed), True)


# ------------------------------------------------------------------------------------------ JSON
def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:3]):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple, value: Any, delete: bool = False) -> Any:
    doc = json.loads(json.dumps(doc))
    node = doc
    for k in path[:-1]:
        node = node[k]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


@st.composite
def json_mutants(draw: st.DrawFn, good: bytes) -> Mutant:
    """A key dropped, a value of the wrong type or extreme, the document cut short or not an object."""
    doc = json.loads(good)
    paths = _paths(doc)
    kind = draw(st.sampled_from(["drop-key", "wrong-type", "extreme", "cut", "not-object"] if paths else ["cut"]))
    if kind == "cut":
        text = good.decode("utf-8")
        return Mutant("JSON cut short", text[: max(1, len(text) // 2)].encode("utf-8"), True)
    if kind == "not-object":
        return Mutant("JSON is a number", b"42", True)
    path = draw(st.sampled_from(paths))
    where = "/".join(map(str, path))
    if kind == "drop-key":
        return Mutant(f"{where} removed", json.dumps(_set(doc, path, None, delete=True)).encode(), False)
    if kind == "wrong-type":
        value = draw(st.sampled_from(["text", [], {}, None, True]))
        return Mutant(f"{where} = {value!r}", json.dumps(_set(doc, path, value)).encode(), False)
    value = draw(st.sampled_from([1e308, -1e308, -1, 10**20]))
    return Mutant(f"{where} = {value!r}", json.dumps(_set(doc, path, value)).encode(), False)


# ------------------------------------------------------------------------------------------ invariant
@dataclass(frozen=True)
class Outcome:
    kind: str  # "accepted", "clear-error", "reported" (bad rows left out and named), "traceback", "silent",
    # "unclear-error"
    detail: str


STATS: dict[str, Counter] = defaultdict(Counter)


def record(name: str, outcome: Outcome) -> Outcome:
    STATS[name][outcome.kind] += 1
    return outcome


def outcome_of(read: Callable[[], Any], mutant: Mutant, names: tuple[str, ...] = ()) -> Outcome:
    """Run ``read`` on a mutant; a clear error names one of ``names`` (the file, usually) in its message."""
    try:
        read()
    except GreenciError as exc:
        text = str(exc)
        if names and not any(n in text for n in names):
            return Outcome("unclear-error", f"{mutant.label}: {text!r} names none of {names}")
        return Outcome("clear-error", text)
    except Exception as exc:  # noqa: BLE001 - anything else is the bug this harness looks for
        return Outcome("traceback", f"{mutant.label}: {type(exc).__name__}: {exc}")
    if mutant.must_fail:
        return Outcome("silent", f"{mutant.label}: accepted without a word")
    return Outcome("accepted", mutant.label)


def check(name: str, read: Callable[[], Any], mutant: Mutant, names: tuple[str, ...] = ()) -> None:
    """Record the outcome under ``name`` and fail the test unless it keeps the invariant."""
    got = record(name, outcome_of(read, mutant, names))
    assert got.kind in ("accepted", "clear-error", "reported"), got.detail


def cli_outcome(args: list[str], mutant: Mutant, names: tuple[str, ...] = (),
                outputs: tuple[os.PathLike[str], ...] = ()) -> Outcome:
    """Run ``greenci ARGS`` in-process; a clear error exits 2, 3 or 4 with ``error:`` and a name on stderr.

    ``outputs``: files the command would write; after a refusal none may exist half-written (or at all,
    unless it existed before: then it must be unchanged).
    """
    from typer.testing import CliRunner

    from greenci.cli import app

    before = {str(p): open(p, "rb").read() if os.path.isfile(p) else None for p in outputs}
    result = CliRunner().invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        exc = result.exception
        return Outcome("traceback", f"{mutant.label}: {type(exc).__name__}: {exc}")
    if result.exit_code == 0:
        if mutant.must_fail:
            if _reports_bad_row(mutant.label, result.stdout + result.stderr):
                return Outcome("reported", f"{mutant.label}: left out and reported")
            return Outcome("silent", f"{mutant.label}: exit 0 on {args}")
        return Outcome("accepted", mutant.label)
    text = result.stderr
    for path, old in before.items():
        now = open(path, "rb").read() if os.path.isfile(path) else None
        if now != old:
            return Outcome("silent", f"{mutant.label}: refused, but {path} was changed")
    if result.exit_code not in (2, 3, 4) or "rror" not in text:
        return Outcome("unclear-error", f"{mutant.label}: exit {result.exit_code}, stderr {text!r}")
    if names and not any(n in text for n in names):
        return Outcome("unclear-error", f"{mutant.label}: {text.strip()!r} names none of {names}")
    return Outcome("clear-error", text.strip())


def _reports_bad_row(label: str, output: str) -> bool:
    """A bad row of a trace may be left out when the output says so, naming that row."""
    import re

    m = re.match(r"row (\d+) ", label)
    return bool(m) and re.search(rf"\brow\"?:? {m.group(1)}\b", output) is not None


def check_cli(name: str, args: list[str], mutant: Mutant, names: tuple[str, ...] = (),
              outputs: tuple[os.PathLike[str], ...] = ()) -> None:
    got = record(name, cli_outcome(args, mutant, names, outputs))
    assert got.kind in ("accepted", "clear-error", "reported"), got.detail
