"""Meeting hours from an iCalendar (.ics) file the user gives; greenci never guesses meetings.

Why a small parser of our own: only a handful of properties matter here, and a strict reader that says
what it skipped is easier to trust than a silent one. The subset read (RFC 5545):

- ``VEVENT`` with ``DTSTART`` and ``DTEND`` or ``DURATION``; ``UID``, ``SUMMARY``, ``STATUS``,
  ``TRANSP``, ``ATTENDEE`` (``PARTSTAT``), ``ORGANIZER``, ``RRULE``, ``EXDATE``, ``RECURRENCE-ID``;
- times in UTC (``...Z``), with ``TZID=`` (an IANA zone such as ``Europe/Berlin``), or floating
  (taken in ``default_tz``, UTC unless given); an unknown ``TZID`` is read as UTC and noted;
- ``RRULE`` with ``FREQ=DAILY`` or ``WEEKLY`` (``INTERVAL``, ``COUNT``, ``UNTIL``, ``BYDAY``);
  an open-ended rule is expanded up to the ``until`` bound (default: one year after its start);
  other frequencies count their first occurrence only, and say so in ``notes``.

What is not a meeting: all-day events (``VALUE=DATE``), cancelled events, events marked free
(``TRANSP:TRANSPARENT``) and events of zero length. A declined invitation (``PARTSTAT=DECLINED``)
does not count for that attendee. The organiser counts as an attendee. Events without attendees
belong to ``owner`` when given (a personal calendar export), and are skipped otherwise. Overlapping
meetings each count in full: the hours are booked hours.

Hours are counted in the ISO week of the meeting's start, in its own time zone.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path

from greenci.errors import DataFormatError, InputError
from greenci.insights import plausible_time

__all__ = ["CalendarData", "Meeting", "meeting_hours", "parse_ics", "read_calendar"]

_DURATION = re.compile(r"^([+-])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_DAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
_MAX_OCCURRENCES = 5000
#: an event longer than this is a trip, a holiday or a typo, not a meeting
MAX_MEETING = timedelta(hours=24)


@dataclass(frozen=True)
class Meeting:
    """One occurrence of a meeting: its span (aware, in the event's own zone) and who attends."""

    uid: str
    summary: str
    start: datetime
    end: datetime
    attendees: tuple[str, ...]

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0


@dataclass(frozen=True)
class CalendarData:
    """Meetings read from calendar files, and what was skipped or approximated."""

    meetings: tuple[Meeting, ...]
    notes: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()


def read_calendar(paths: Iterable[str | os.PathLike[str]], *, default_tz: tzinfo = UTC,
                  until: datetime | None = None) -> CalendarData:
    """Meetings of every ``.ics`` file in ``paths``."""
    meetings: list[Meeting] = []
    notes: list[str] = []
    sources: list[str] = []
    for p in paths:
        name = os.fspath(p)
        try:
            text = Path(p).read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise InputError(f"calendar {name}: no such file: check the path", field="calendar") from None
        except IsADirectoryError:
            raise InputError(f"calendar {name} is a folder: give .ics files", field="calendar") from None
        except UnicodeDecodeError:
            raise DataFormatError("is not UTF-8 text: export the calendar as UTF-8 .ics", path=name) from None
        data = parse_ics(text, source=name, default_tz=default_tz, until=until)
        meetings += data.meetings
        notes += data.notes
        sources.append(name)
    return CalendarData(tuple(meetings), tuple(notes), tuple(sources))


def meeting_hours(meetings: Iterable[Meeting], *, owner: str | None = None) -> dict[tuple[str, str], float]:
    """Booked meeting hours per (attendee e-mail, ISO week of the local start date)."""
    out: dict[tuple[str, str], float] = defaultdict(float)
    for m in meetings:
        who = m.attendees or ((owner.lower(),) if owner else ())
        year, week, _ = m.start.date().isocalendar()
        for a in who:
            out[(a, f"{year}-W{week:02d}")] += m.hours
    return dict(out)


def parse_ics(text: str, *, source: str = "calendar", default_tz: tzinfo = UTC,
              until: datetime | None = None) -> CalendarData:
    """Meetings from iCalendar text (see the module docstring for the subset)."""
    lines = _unfold(text)
    if not lines or lines[0][0].upper() != "BEGIN" or lines[0][2].upper() != "VCALENDAR":
        raise DataFormatError("is not an iCalendar file: the first line must be BEGIN:VCALENDAR", path=source)
    events: list[dict[str, list[tuple[dict[str, str], str]]]] = []
    stack: list[str] = []
    current: dict[str, list[tuple[dict[str, str], str]]] | None = None
    ended = False
    for name, params, value in lines:
        upper = name.upper()
        if ended:
            raise DataFormatError(f"has a {name} line after END:VCALENDAR: export one calendar per file",
                                  path=source)
        if upper == "END" and value.upper() == "VCALENDAR" and stack == ["VCALENDAR"]:
            ended = True
        if upper == "BEGIN":
            stack.append(value.upper())
            if value.upper() == "VEVENT" and len(stack) >= 1:
                current = defaultdict(list)
            continue
        if upper == "END":
            block = stack.pop() if stack else ""
            if block == "VEVENT" and current is not None:
                events.append(current)
                current = None
            continue
        if current is not None and stack and stack[-1] == "VEVENT":
            current[upper].append((params, value))
    if not ended:
        open_blocks = " and ".join(f"BEGIN:{b}" for b in stack) if stack else "its blocks"
        raise DataFormatError(f"is cut short or malformed: {open_blocks} never ends (END:VCALENDAR is missing): "
                              "export the calendar again", path=source)
    notes: list[str] = []
    overridden: set[tuple[str, datetime]] = set()
    for ev in events:
        if "RECURRENCE-ID" in ev:
            rid = _time(ev["RECURRENCE-ID"][0], source, default_tz, notes)
            if isinstance(rid, datetime):
                overridden.add((_text(ev, "UID"), rid.astimezone(UTC)))
    meetings: list[Meeting] = []
    for ev in events:
        meetings += _event_meetings(ev, source, default_tz, until, overridden, notes)
    return CalendarData(tuple(meetings), tuple(dict.fromkeys(notes)), (source,))


def _event_meetings(ev: dict[str, list[tuple[dict[str, str], str]]], source: str, default_tz: tzinfo,
                    until: datetime | None, overridden: set[tuple[str, datetime]],
                    notes: list[str]) -> list[Meeting]:
    uid = _text(ev, "UID")
    summary = _text(ev, "SUMMARY")
    label = summary or uid or "an event"
    if _text(ev, "STATUS").upper() == "CANCELLED" or _text(ev, "TRANSP").upper() == "TRANSPARENT":
        return []
    if "DTSTART" not in ev:
        raise DataFormatError(f"event {label!r} has no DTSTART: every VEVENT needs a start", path=source)
    start = _time(ev["DTSTART"][0], source, default_tz, notes)
    if not isinstance(start, datetime):
        return []  # all-day: not a meeting
    if "DTEND" in ev:
        end = _time(ev["DTEND"][0], source, default_tz, notes)
        if not isinstance(end, datetime):
            return []
    elif "DURATION" in ev:
        end = start + _duration(ev["DURATION"][0][1], source, label)
    else:
        return []
    length = end - start
    if length <= timedelta(0):
        if length < timedelta(0):
            notes.append(f"{source}: {label!r} ends before it starts: not counted")
        return []
    if length > MAX_MEETING:
        notes.append(f"{source}: {label!r} lasts {length.total_seconds() / 3600:.0f} h: longer than "
                     f"{MAX_MEETING.total_seconds() / 3600:.0f} h is not a meeting, not counted")
        return []
    attendees = _attendees(ev)
    starts = _occurrences(ev, start, source, default_tz, until, label, notes)
    excluded = {t.astimezone(UTC) for params, v in ev.get("EXDATE", [])
                for t in _times(params, v, source, default_tz, notes)}
    is_override = "RECURRENCE-ID" in ev
    out = []
    for s in starts:
        key = s.astimezone(UTC)
        if key in excluded or (not is_override and "RRULE" in ev and (uid, key) in overridden):
            continue
        out.append(Meeting(uid=uid, summary=summary, start=s, end=s + length, attendees=attendees))
    return out


def _occurrences(ev: dict[str, list[tuple[dict[str, str], str]]], start: datetime, source: str,
                 default_tz: tzinfo, until: datetime | None, label: str, notes: list[str]) -> list[datetime]:
    if "RRULE" not in ev or "RECURRENCE-ID" in ev:
        return [start]
    rule = dict(part.split("=", 1) for part in ev["RRULE"][0][1].upper().split(";") if "=" in part)
    freq = rule.get("FREQ", "")
    if freq not in ("DAILY", "WEEKLY"):
        notes.append(f"{source}: {label!r} repeats {freq or 'by an unknown rule'}: only its first occurrence "
                     "counts (export the calendar with recurrences expanded to count them all)")
        return [start]
    try:
        interval = int(rule.get("INTERVAL", "1"))
        count = int(rule["COUNT"]) if "COUNT" in rule else None
    except ValueError:
        raise DataFormatError(f"event {label!r}: RRULE {ev['RRULE'][0][1]!r} has a non-numeric INTERVAL or COUNT",
                              path=source) from None
    if interval < 1:
        raise DataFormatError(f"event {label!r}: RRULE INTERVAL must be at least 1", path=source)
    stop = None
    if "UNTIL" in rule:
        t = _parse_time(rule["UNTIL"], {}, source, start.tzinfo or default_tz, notes)
        stop = t if isinstance(t, datetime) else datetime.combine(t, datetime.max.time(), start.tzinfo)
    if stop is None and count is None:
        stop = until or start + timedelta(days=366)
        if until is None:
            notes.append(f"{source}: {label!r} repeats without end: counted for one year from its start")
    days = sorted({_DAYS[d[-2:]] for d in rule.get("BYDAY", "").split(",") if d[-2:] in _DAYS})
    out: list[datetime] = []
    try:
        for s in _expand(start, freq, interval, days):
            if (stop is not None and s > stop) or (count is not None and len(out) >= count):
                break
            if len(out) >= _MAX_OCCURRENCES:
                notes.append(f"{source}: {label!r} stopped after {_MAX_OCCURRENCES} occurrences")
                break
            out.append(s)
    except OverflowError:
        pass  # the next occurrence lies beyond the year 9999: there is none
    return [s for s in out if plausible_time(s)]


def _expand(start: datetime, freq: str, interval: int, days: list[int]) -> Iterator[datetime]:
    """Occurrence starts in wall-clock time of the event's zone (09:00 stays 09:00 across DST)."""
    if freq == "DAILY":
        k = 0
        while True:
            yield start + timedelta(days=k * interval)
            k += 1
    week0 = start - timedelta(days=start.weekday())
    weekdays = days or [start.weekday()]
    k = 0
    while True:
        for d in weekdays:
            s = week0 + timedelta(days=7 * k * interval + d)
            if s >= start:
                yield s
        k += 1


def _attendees(ev: dict[str, list[tuple[dict[str, str], str]]]) -> tuple[str, ...]:
    out = []
    for key in ("ORGANIZER", "ATTENDEE"):
        for params, value in ev.get(key, []):
            if params.get("PARTSTAT", "").upper() == "DECLINED":
                continue
            addr = re.sub(r"^mailto:", "", value.strip(), flags=re.I).lower()
            if addr:
                out.append(addr)
    return tuple(dict.fromkeys(out))


def _text(ev: dict[str, list[tuple[dict[str, str], str]]], name: str) -> str:
    values = ev.get(name)
    if not values:
        return ""
    return re.sub(r"\\([,;\\nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), values[0][1]).strip()


def _duration(value: str, source: str, label: str) -> timedelta:
    m = _DURATION.match(value.strip().upper())
    if not m or not any(m.group(i) for i in range(2, 7)):
        raise DataFormatError(f"event {label!r}: DURATION {value!r} is not an iCalendar duration such as PT1H30M",
                              path=source)
    w, d, h, mi, s = (int(g or 0) for g in m.groups()[1:])
    try:
        delta = timedelta(weeks=w, days=d, hours=h, minutes=mi, seconds=s)
    except OverflowError:
        delta = timedelta.max
    if delta > timedelta(days=3660):
        raise DataFormatError(f"event {label!r}: DURATION {value!r} is absurdly long: correct it", path=source)
    return -delta if m.group(1) == "-" else delta


def _time(prop: tuple[dict[str, str], str], source: str, default_tz: tzinfo,
          notes: list[str]) -> datetime | date:
    params, value = prop
    return _parse_time(value.split(",")[0], params, source, default_tz, notes)


def _times(params: dict[str, str], value: str, source: str, default_tz: tzinfo,
           notes: list[str]) -> list[datetime]:
    out = []
    for v in value.split(","):
        t = _parse_time(v, params, source, default_tz, notes)
        if isinstance(t, datetime):
            out.append(t)
    return out


def _parse_time(value: str, params: dict[str, str], source: str, default_tz: tzinfo,
                notes: list[str]) -> datetime | date:
    v = value.strip()
    if params.get("VALUE", "").upper() == "DATE" or re.fullmatch(r"\d{8}", v):
        try:
            day = datetime.strptime(v, "%Y%m%d").date()
        except ValueError:
            raise DataFormatError(f"{v!r} is not an iCalendar date (YYYYMMDD)", path=source) from None
        return _plausible(day, v, source)
    m = re.fullmatch(r"(\d{8}T\d{6})(Z?)", v)
    try:
        naive = datetime.strptime(m.group(1), "%Y%m%dT%H%M%S") if m else None
    except ValueError:
        naive = None
    if m is None or naive is None:
        raise DataFormatError(f"{v!r} is not an iCalendar date-time (YYYYMMDDThhmmss, optionally Z)", path=source)
    _plausible(naive, v, source)
    if m.group(2):
        return naive.replace(tzinfo=UTC)
    tzid = params.get("TZID", "").strip('"').lstrip("/")
    if tzid:
        return naive.replace(tzinfo=_zone(tzid, source, notes))
    return naive.replace(tzinfo=default_tz)


def _plausible(t: date, value: str, source: str) -> date:
    from greenci.insights import PLAUSIBLE_YEARS

    if not plausible_time(t):
        raise DataFormatError(f"{value!r} is not a plausible date (years {PLAUSIBLE_YEARS[0]} to "
                              f"{PLAUSIBLE_YEARS[1]}): correct the event or export the calendar again", path=source)
    return t


def _zone(tzid: str, source: str, notes: list[str]) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(tzid)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones such as "Europe"
        notes.append(f"{source}: time zone {tzid!r} is not an IANA name: its times were read as UTC")
        return UTC


def _unfold(text: str) -> list[tuple[str, dict[str, str], str]]:
    """Content lines as (name, params, value), continuation lines joined (RFC 5545 section 3.1)."""
    raw: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line[:1] in (" ", "\t") and raw:
            raw[-1] += line[1:]
        elif line.strip():
            raw.append(line)
    out = []
    for line in raw:
        head, value = _split_value(line)
        name, *parts = _split_params(head)
        params = {}
        for p in parts:
            k, _, v = p.partition("=")
            params[k.upper()] = v
        out.append((name, params, value))
    return out


def _split_value(line: str) -> tuple[str, str]:
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == ":" and not quoted:
            return line[:i], line[i + 1:]
    return line, ""


def _split_params(head: str) -> list[str]:
    parts, buf, quoted = [], [], False
    for ch in head:
        if ch == '"':
            quoted = not quoted
            buf.append(ch)
        elif ch == ";" and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts
