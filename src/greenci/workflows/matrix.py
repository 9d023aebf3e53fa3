"""How many jobs a ``strategy.matrix`` makes, by GitHub's rules, so that energy counts every leg.

The combinations of the matrix's lists come first; ``exclude`` removes those matching an entry (on every
key the entry names); then each ``include`` entry is added to every remaining original combination whose
original values it does not contradict, and becomes a new leg when it fits none. A matrix (or a list,
``include`` or ``exclude``) given as an expression such as ``${{ fromJSON(needs.setup.outputs.os) }}`` is
only known when the run starts: its legs are unknown, and said so.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: GitHub runs at most this many jobs of one matrix
MAX_LEGS = 256
_MAX_COMBINATIONS = 65_536  # enumerated before exclude; far beyond what any accepted matrix needs

Fail = Callable[[Sequence[Any], str], Exception]


@dataclass(frozen=True)
class Legs:
    """The number of jobs a matrix makes (``None`` when an expression decides), and that expression."""

    count: int | None
    expression: str | None = None


def is_expression(value: Any) -> bool:
    """Whether ``value`` is a GitHub Actions expression (``${{ ... }}``), known only when the run starts."""
    return isinstance(value, str) and "${{" in value


def matrix_legs(matrix: Any, fail: Fail) -> Legs:
    """The legs of ``matrix`` (the value of ``strategy.matrix``); ``fail(path, message)`` makes the error
    for a bad part, ``path`` relative to the matrix."""
    if matrix is None:
        return Legs(1)
    if is_expression(matrix):
        return Legs(None, matrix)
    if not isinstance(matrix, dict):
        raise fail((), f"strategy.matrix {matrix!r} must be a mapping of lists (os: [ubuntu-latest, macos-latest]) "
                       "or an expression")
    vectors: dict[str, list[Any]] = {}
    for key, values in matrix.items():
        if key in ("include", "exclude"):
            continue
        if is_expression(values):
            return Legs(None, values)
        if not isinstance(values, list):
            raise fail((key,), f"matrix key {key!r}: {values!r} must be a list of values, e.g. [{values!r}]")
        if not values:
            raise fail((key,), f"matrix key {key!r} has no values: give at least one or remove the key")
        vectors[str(key)] = values
    extra = {}
    for part in ("include", "exclude"):
        entries = matrix.get(part)
        if entries is None:
            entries = []
        if is_expression(entries):
            return Legs(None, entries)
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise fail((part,), f"matrix {part} must be a list of mappings, e.g. - os: windows-latest")
        extra[part] = entries
    total = 1
    for values in vectors.values():
        total *= len(values)
    if vectors and total > _MAX_COMBINATIONS:
        raise fail((), f"the matrix makes {total:,} combinations; GitHub runs at most {MAX_LEGS} jobs of a matrix: "
                       "split it or exclude combinations")
    for k, entry in enumerate(extra["exclude"]):
        unknown = sorted(str(key) for key in entry if key not in vectors)
        if unknown:
            raise fail(("exclude", k), f"matrix exclude names {', '.join(unknown)}, not a key of the matrix (its "
                                       f"keys: {', '.join(vectors) or 'none'}): fix the name")
    names = list(vectors)
    base = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*vectors.values())] if vectors else []
    base = [c for c in base if not any(all(c[key] == v for key, v in e.items()) for e in extra["exclude"])]
    added = sum(1 for e in extra["include"]
                if not any(all(c[key] == v for key, v in e.items() if key in vectors) for c in base))
    count = len(base) + added
    if count > MAX_LEGS:
        raise fail((), f"the matrix makes {count:,} jobs; GitHub runs at most {MAX_LEGS}: split it or exclude "
                       "combinations")
    if count == 0:
        raise fail((), "the matrix makes no job (every combination is excluded): remove an exclude or the matrix")
    return Legs(count)
