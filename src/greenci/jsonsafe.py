"""JSON that is always valid JSON: a number that is not finite becomes null (JSON has no NaN or infinity)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

__all__ = ["dumps", "finite", "json_default"]


def finite(o: Any) -> Any:
    """``o`` with every non-finite float (NaN, infinities) as None, NumPy scalars as Python ones."""
    if isinstance(o, float):
        return o if np.isfinite(o) else None
    if isinstance(o, dict):
        return {k: finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [finite(v) for v in o]
    if isinstance(o, np.generic):
        return finite(o.item())
    return o


def json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.datetime64):
        return str(o) + "Z"
    return str(o)


def dumps(doc: Any, *, indent: int | None = 2) -> str:
    """``doc`` as JSON text; non-finite numbers as null, NumPy values as Python ones, other objects as text."""
    return json.dumps(finite(doc), indent=indent, default=json_default, allow_nan=False)
