"""JSON that is always valid JSON: a number that is not finite becomes null (JSON has no NaN or infinity)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

__all__ = ["dumps", "finite", "json_default"]


def finite(o: Any, _nulled: list[str] | None = None, _at: str = "") -> Any:
    """``o`` with every non-finite float (NaN, infinities) as None, NumPy scalars as Python ones.

    ``_nulled`` collects where a number was replaced (``strategies/2/mean_g``), for :func:`dumps`' note.
    """
    if _nulled is None:
        return _finite(o)
    if isinstance(o, float):
        if math.isfinite(o):
            return o
        if _nulled is not None and not np.isnan(o):
            _nulled.append(_at or "(value)")
        return None
    if isinstance(o, dict):
        return {k: finite(v, _nulled, f"{_at}/{k}" if _at else str(k)) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [finite(v, _nulled, f"{_at}/{i}" if _at else str(i)) for i, v in enumerate(o)]
    if isinstance(o, np.generic):
        return finite(o.item(), _nulled, _at)
    return o


def _finite(o: Any) -> Any:
    """:func:`finite` without noting where (the hot path: a decision per request)."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    if isinstance(o, np.generic):
        return _finite(o.item())
    return o


def json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.datetime64):
        return str(o) + "Z"
    return str(o)


def dumps(doc: Any, *, indent: int | None = 2) -> str:
    """``doc`` as JSON text; non-finite numbers as null, NumPy values as Python ones, other objects as text.

    A missing value (NaN) is simply null; an infinite one is a number too large to hold, so a document
    (an object) that had one gets a note under ``notes`` naming where.
    """
    nulled: list[str] = []
    clean = finite(doc, nulled)
    if nulled and isinstance(clean, dict):
        shown = ", ".join(nulled[:5]) + (f" and {len(nulled) - 5} more" if len(nulled) > 5 else "")
        clean["notes"] = [*(clean.get("notes") or []), f"infinite numbers are written as null (JSON has no "
                                                        f"infinity): {shown}"]
    return json.dumps(clean, indent=indent, default=json_default, allow_nan=False)
