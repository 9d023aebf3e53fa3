"""Time plumbing with no domain knowledge: one way to parse, print and convert UTC instants.

Why one module: every reader, the planner and the replay turn user text into instants and back, and
two slightly different parsers would disagree on a naive time or a trailing ``Z``. Naive times are UTC.
Common ISO 8601 text is parsed by the standard library (no pandas import); anything else goes through
pandas, which reads the odd spellings real exports use.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np

from greenci.errors import InputError

_HINT = "use ISO 8601, e.g. 2022-10-12T08:00Z"


def to_datetime64(value: object, *, field: str | None = None) -> np.datetime64:
    """A UTC ``datetime64[s]`` from a string, datetime, pandas Timestamp or datetime64.

    ``field`` names the request field the value came from, for the error.
    """
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise _not_a_time(value, field)
        return value.astype("datetime64[s]")
    if isinstance(value, datetime):
        return _from_datetime(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return _from_datetime(datetime.fromisoformat(text))
        except ValueError:
            pass
    elif isinstance(value, date):
        return np.datetime64(value.isoformat(), "s")
    return _via_pandas(value, field)


def _not_a_time(value: object, field: str | None) -> InputError:
    return InputError(f"{field or 'time'} {value!r} is not a date-time: {_HINT}", field=field)


def _from_datetime(dt: datetime) -> np.datetime64:
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(dt.replace(microsecond=0), "s")


def _via_pandas(value: object, field: str | None = None) -> np.datetime64:
    import pandas as pd

    try:
        ts = pd.Timestamp(value)  # type: ignore[arg-type]
    except (ValueError, TypeError, OverflowError) as exc:
        raise _not_a_time(value, field) from exc
    if ts is pd.NaT:
        raise _not_a_time(value, field)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return np.datetime64(ts.to_datetime64(), "s")


def epoch_s(value: object) -> int:
    """Seconds since the Unix epoch of any time :func:`to_datetime64` reads."""
    return int(to_datetime64(value).astype(np.int64))


def iso(t: np.datetime64 | int) -> str:
    """ISO 8601 text of a UTC instant (datetime64 or epoch seconds), with a trailing Z."""
    if isinstance(t, (int, np.integer)):
        t = np.datetime64(int(t), "s")
    return str(np.datetime64(t, "s")) + "Z"


def to_epoch_s(dt: datetime) -> int:
    """Seconds since the Unix epoch of an aware datetime."""
    if dt.tzinfo is None:
        raise InputError(f"time {dt} has no time zone: give UTC times, e.g. 2022-10-12T08:00Z")
    return int(dt.timestamp())


def from_epoch_s(seconds: float) -> datetime:
    """The aware UTC datetime of epoch seconds."""
    return datetime.fromtimestamp(int(seconds), UTC)


def to_datetime(value: object, *, field: str | None = None) -> datetime:
    """An aware UTC datetime from anything :func:`to_datetime64` reads."""
    return from_epoch_s(int(to_datetime64(value, field=field).astype(np.int64)))


# ---------------------------------------------------------------------- spans (API requests)
def utc_now() -> np.datetime64:
    """The current UTC time as ``datetime64[s]``."""
    return np.datetime64(datetime.now(UTC).replace(tzinfo=None), "s")


def resolve_span(start: object | None, end: object | None, *, default_s: int = 86400) -> tuple[np.datetime64,
                                                                                               np.datetime64]:
    """``(start, end)`` as datetime64; a missing end is now, a missing start is ``default_s`` before end."""
    stop = utc_now() if end is None else to_datetime64(end)
    begin = stop - np.timedelta64(default_s, "s") if start is None else to_datetime64(start)
    if stop <= begin:
        raise InputError(f"end {iso(stop)} is not after start {iso(begin)}: give start < end")
    return begin, stop


def chunks(start: np.datetime64, end: np.datetime64, max_s: int) -> list[tuple[np.datetime64, np.datetime64]]:
    """``[start, end)`` cut into consecutive pieces of at most ``max_s`` seconds (API span limits)."""
    out = []
    step = np.timedelta64(int(max_s), "s")
    a = start
    while a < end:
        b = min(a + step, end)
        out.append((a, b))
        a = b
    return out


def span_text(start: np.datetime64, end: np.datetime64) -> str:
    return f"between {iso(start)} and {iso(end)}"


def check_time_zone(name: str, *, field: str = "time_zone") -> str:
    """``name`` when it is an IANA time zone (``Europe/Berlin``), else an error naming ``field``."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"{field} {name!r} is not a time zone: use an IANA name like Europe/Berlin",
                         field=field) from None
    return name
