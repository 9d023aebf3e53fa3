"""Parsing of human-written quantities (durations) shared by the CLI, workflow keys and the service."""

from __future__ import annotations

import re

from greenci.bounds import MAX_DURATION_S
from greenci.errors import InputError

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(min|d|h|m|s)", re.IGNORECASE)
_FACTORS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "min": 60.0, "s": 1.0}


def parse_duration_s(text: str | float, *, field: str = "duration") -> float:
    """Seconds from ``5400``, ``"90m"``, ``"1h30m"``, ``"2h"``, ``"1d"`` or ISO-like ``"PT1H30M"``.

    A bare number is seconds. Zero or negative durations are refused.
    """
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        raw = str(text).strip()
        s = raw.upper().removeprefix("PT").lower() if raw.upper().startswith("PT") else raw.lower()
        s = s.replace(" ", "")
        try:
            value = float(s)
        except ValueError:
            parts = _PART.findall(s)
            if not parts or "".join(a + b for a, b in parts) != s:
                raise InputError(
                    f"{field} {raw!r} is not a duration: write seconds (5400) or units like 90m, 1h30m, 2h, 1d",
                    field=field) from None
            value = sum(float(a) * _FACTORS[b] for a, b in parts)
    if not (0 < value < float("inf")):
        raise InputError(f"{field} {text!r} must be a positive duration", field=field)
    if value > MAX_DURATION_S:
        raise InputError(f"{field} {text!r} is longer than {MAX_DURATION_S / 86400:g} days: give a duration up to that",
                         field=field)
    return value
