"""Meeting hours come only from a given .ics file: the subset read, hand-counted hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from greenci.errors import DataFormatError, InputError
from greenci.insights.calendar import meeting_hours, parse_ics, read_calendar
from greenci.insights.git_activity import Commit, FileChange
from greenci.insights.indicators import Identities, build_indicators

ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:standup
SUMMARY:Stand-up
DTSTART;TZID=Europe/Berlin:20240304T093000
DTEND;TZID=Europe/Berlin:20240304T100000
RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4
EXDATE;TZID=Europe/Berlin:20240306T093000
ORGANIZER;CN=Alice:mailto:alice@example.org
ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@example.org
ATTENDEE;PARTSTAT=DECLINED:mailto:carol@example.org
END:VEVENT
BEGIN:VEVENT
UID:planning
SUMMARY:Planning\\, Q2
DTSTART:20240305T130000Z
DURATION:PT1H30M
ATTENDEE;CN="Bob, B.";PARTSTAT=ACCEPTED:mailto:BOB@example.org
END:VEVENT
BEGIN:VEVENT
UID:holiday
DTSTART;VALUE=DATE:20240308
DTEND;VALUE=DATE:20240309
ATTENDEE:mailto:bob@example.org
END:VEVENT
BEGIN:VEVENT
UID:cancelled
DTSTART:20240307T130000Z
DTEND:20240307T150000Z
STATUS:CANCELLED
ATTENDEE:mailto:bob@example.org
END:VEVENT
BEGIN:VEVENT
UID:focus
DTSTART:20240307T080000Z
DTEND:20240307T120000Z
TRANSP:TRANSPARENT
END:VEVENT
BEGIN:VEVENT
UID:standup
RECURRENCE-ID;TZID=Europe/Berlin:20240311T093000
DTSTART;TZID=Europe/Berlin:20240311T140000
DTEND;TZID=Europe/Berlin:20240311T150000
ORGANIZER:mailto:alice@example.org
ATTENDEE:mailto:bob@example.org
END:VEVENT
BEGIN:VEVENT
UID:solo
DTSTART:20240305T160000Z
DTEND:20240305T170000Z
SUMMARY:1:1 with a long
  folded summary
END:VEVENT
END:VCALENDAR
"""


def test_events_recurrences_exceptions_and_overrides() -> None:
    data = parse_ics(ICS)
    standups = sorted(m.start for m in data.meetings if m.uid == "standup")
    berlin = standups[0].tzinfo
    # Mon 4, (Wed 6 excluded), Mon 11 moved to 14:00 by its override, Wed 13
    assert [s.replace(tzinfo=None) for s in standups] == [datetime(2024, 3, 4, 9, 30), datetime(2024, 3, 11, 14, 0),
                                                          datetime(2024, 3, 13, 9, 30)]
    assert standups[0].utcoffset() == timedelta(hours=1) and berlin is not None
    assert {m.uid for m in data.meetings} == {"standup", "planning", "solo"}, "all-day, cancelled, free: not meetings"
    planning = next(m for m in data.meetings if m.uid == "planning")
    assert planning.hours == 1.5 and planning.summary == "Planning, Q2" and planning.attendees == ("bob@example.org",)
    solo = next(m for m in data.meetings if m.uid == "solo")
    assert solo.summary == "1:1 with a long folded summary" and solo.attendees == ()


def test_meeting_hours_per_attendee_and_week() -> None:
    hours = meeting_hours(parse_ics(ICS).meetings, owner="alice@example.org")
    # alice: stand-up Mar 4 (0.5) + solo 1:1 (1.0, owner's own event) in W10; Mar 11 override (1.0) + Mar 13 (0.5)
    assert hours[("alice@example.org", "2024-W10")] == pytest.approx(1.5)
    assert hours[("alice@example.org", "2024-W11")] == pytest.approx(1.5)
    assert hours[("bob@example.org", "2024-W10")] == pytest.approx(2.0)
    assert ("carol@example.org", "2024-W10") not in hours, "declined"


def test_open_ended_rules_stop_at_the_bound_and_say_so() -> None:
    text = ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:d\nDTSTART:20240101T090000Z\nDTEND:20240101T091500Z\n"
            "RRULE:FREQ=DAILY;INTERVAL=2\nATTENDEE:mailto:a@x\nEND:VEVENT\nBEGIN:VEVENT\nUID:m\n"
            "DTSTART:20240101T090000Z\nDTEND:20240101T100000Z\nRRULE:FREQ=MONTHLY\nATTENDEE:mailto:a@x\n"
            "END:VEVENT\nEND:VCALENDAR\n")
    data = parse_ics(text, until=datetime(2024, 1, 10, 23, 0, tzinfo=UTC))
    assert sum(1 for m in data.meetings if m.uid == "d") == 5  # Jan 1, 3, 5, 7, 9
    assert any("MONTHLY" in n for n in data.notes)
    assert len(parse_ics(text).meetings) == 184 + 1 and any("one year" in n for n in parse_ics(text).notes)


def test_calendar_hours_only_for_known_people(tmp_path: Path) -> None:
    path = tmp_path / "team.ics"
    path.write_text(ICS, encoding="utf-8")
    cal = read_calendar([path])
    commit = Commit("r", "a", "Bob", "bob@example.org", datetime(2024, 3, 5, 10, tzinfo=UTC), "x",
                    (FileChange("a.py", 1, 0),))
    table = build_indicators([commit], calendar=cal, identities=Identities.create(salt="s", reveal=True),
                             sentiment=False)
    rows = {r.week: r for r in table.rows}
    assert rows["2024-W10"].meeting_hours == pytest.approx(2.0)
    assert rows["2024-W11"].meeting_hours == pytest.approx(1.5) and rows["2024-W11"].commits == 0
    assert len(table.people) == 1, "alice only appears in the calendar: not a person of this repository"


def test_bad_calendar_input_is_named() -> None:
    with pytest.raises(DataFormatError, match="BEGIN:VCALENDAR"):
        parse_ics("hello")
    with pytest.raises(DataFormatError, match="DURATION 'PTX'"):
        parse_ics("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20240101T090000Z\nDURATION:PTX\nEND:VEVENT\nEND:VCALENDAR")
    with pytest.raises(InputError, match="no such file"):
        read_calendar(["/nonexistent.ics"])


@pytest.mark.parametrize(("change", "match"), [
    (("DTSTART:20240101T090000Z", "DTSTART:20241301T090000Z"), "'20241301T090000Z' is not an iCalendar date-time"),
    (("DTSTART:20240101T090000Z", "DTSTART:00010101T090000Z"), "is not a plausible date"),
    (("DURATION:PT1H", "DURATION:P99999999W"), "DURATION 'P99999999W' is absurdly long"),
    (("END:VCALENDAR", ""), "END:VCALENDAR is missing"),
    (("END:VCALENDAR", "END:VCALENDAR\nBEGIN:VEVENT"), "after END:VCALENDAR"),
])
def test_damaged_calendars_are_refused(change: tuple[str, str], match: str) -> None:
    good = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20240101T090000Z\nDURATION:PT1H\nEND:VEVENT\nEND:VCALENDAR"
    assert parse_ics(good).meetings[0].hours == 1.0
    with pytest.raises(DataFormatError, match=match):
        parse_ics(good.replace(*change), source="team.ics")


def test_odd_but_readable_events_are_noted_not_counted() -> None:
    text = ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:Offsite\nDTSTART:20240101T090000Z\nDURATION:P3D\nEND:VEVENT\n"
            "BEGIN:VEVENT\nSUMMARY:Backwards\nDTSTART:20240101T090000Z\nDTEND:20240101T080000Z\nEND:VEVENT\n"
            "BEGIN:VEVENT\nSUMMARY:Far\nDTSTART;TZID=Europe:20240101T090000\nDURATION:PT1H\n"
            "RRULE:FREQ=DAILY;INTERVAL=999999999\nEND:VEVENT\nEND:VCALENDAR")
    data = parse_ics(text, source="team.ics")
    assert [m.summary for m in data.meetings] == ["Far"], "the rule's next occurrence is beyond the calendar"
    assert any("'Offsite' lasts 72 h" in n for n in data.notes)
    assert any("'Backwards' ends before it starts" in n for n in data.notes)
    assert any("time zone 'Europe' is not an IANA name" in n for n in data.notes)
