"""Indicators per person per ISO week, from git history and optional review, calendar and message exports.

Why per person-week: strain builds over weeks, and a week is long enough to smooth single late
evenings yet short enough to act on. A person-week is a row when the person did anything that week
(a commit, a pull request opened, a review, a comment, a message, a meeting); idle weeks are not rows.

Indicators (one column each in :class:`PersonWeek`):

=====================  ==========================================================================
``commits``            non-merge commits authored (ISO week of the commit's local date)
``open_prs``           the person's pull requests / changes open at any time in the week (UTC bounds)
``churn``              lines added + deleted (binary files 0)
``context_switching``  mean, over the days with commits that changed files, of distinct areas
                       touched that day (area = top-level directory; ``repo:top`` with several
                       repositories; empty commits touch no area and add no day)
``review_load``        reviews submitted on other people's pull requests / changes
``meeting_hours``      booked meeting hours from the given calendar files; NaN without a calendar
``communication``      comments, review comments, Gerrit messages, mails and chat lines written
``late_night``         commits at local hour 22:00-05:59 (the commit's own time-zone offset)
``weekend``            commits on a local Saturday or Sunday
``sentiment``          mean VADER compound score of the texts written that week; NaN without text
=====================  ==========================================================================

Reviews, comments and messages without a time-zone offset are placed in UTC weeks.

**Identities are pseudonymised by default**: a person is shown as the first 10 hex digits of
``sha256(salt + identity)``, where identity is the lower-cased e-mail (or forge login). The salt comes
from ``salt=`` (CLI ``--salt``), else ``$GREENCI_INSIGHTS_SALT``, else a random value per run (so two
runs cannot be linked unless a salt is given). Names and e-mails appear only with ``reveal=True``
(CLI ``--reveal-names``). Joining identities: a GitHub noreply address (``123+login@users.noreply.
github.com``) becomes the login; an aliases file (CSV ``alias,identity``) maps any other e-mail, login
or Gerrit account to one identity. Bots (``[bot]`` logins and addresses) are left out by default.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenci.errors import DataFormatError, InputError
from greenci.insights.calendar import CalendarData, meeting_hours
from greenci.insights.git_activity import Commit, iso_week
from greenci.insights.reviews import ReviewData

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["INDICATORS", "SALT_ENV", "Identities", "IndicatorTable", "Message", "PersonWeek", "build_indicators",
           "read_aliases", "read_messages", "week_bounds"]

SALT_ENV = "GREENCI_INSIGHTS_SALT"
INDICATORS = ("commits", "open_prs", "churn", "context_switching", "review_load", "meeting_hours",
              "communication", "late_night", "weekend", "sentiment")
_NOREPLY = re.compile(r"^(?:\d+\+)?([^@]+)@users\.noreply\.github\.com$")
_BOT = re.compile(r"\[bot\]|^(?:dependabot|renovate|github-actions|pre-commit-ci)\b", re.I)


# ---------------------------------------------------------------------------------------- identities
@dataclass(frozen=True)
class Identities:
    """How raw identities become people: aliases, bots, and pseudonyms (the default) or names."""

    salt: str
    reveal: bool = False
    aliases: Mapping[str, str] = field(default_factory=dict)
    include_bots: bool = False
    salt_source: str = "given"

    @classmethod
    def create(cls, *, salt: str | None = None, reveal: bool = False, aliases: Mapping[str, str] | None = None,
               include_bots: bool = False) -> Identities:
        """Salt from the argument, else ``$GREENCI_INSIGHTS_SALT``, else random for this run."""
        source = "given"
        if salt is None:
            salt = os.environ.get(SALT_ENV)
            source = f"${SALT_ENV}"
        if not salt:
            salt, source = secrets.token_hex(16), "random per run"
        return cls(salt=salt, reveal=reveal, aliases={k.strip().lower(): v.strip().lower()
                                                      for k, v in (aliases or {}).items()},
                   include_bots=include_bots, salt_source=source)

    def canonical(self, raw: str) -> str:
        """The identity a raw e-mail, login or account name stands for."""
        key = raw.strip().lower()
        key = self.aliases.get(key, key)
        m = _NOREPLY.match(key)
        if m:
            key = self.aliases.get(m.group(1), m.group(1))
        return key

    def is_bot(self, key: str, name: str = "") -> bool:
        return not self.include_bots and bool(_BOT.search(key) or _BOT.search(name))

    def pseudonym(self, key: str) -> str:
        """First 10 hex digits of sha256(salt + identity)."""
        return hashlib.sha256((self.salt + key).encode("utf-8")).hexdigest()[:10]

    def display(self, key: str, name: str = "") -> str:
        """What output shows: the pseudonym, or (with ``reveal``) the name and e-mail or login."""
        if not self.reveal:
            return self.pseudonym(key)
        return f"{name} <{key}>" if name and name.lower() != key else key


def read_aliases(path: str | os.PathLike[str]) -> dict[str, str]:
    """``alias,identity`` rows (header optional): each alias is counted as that identity.

    Every row has two filled cells (an e-mail, login or account name, without control characters); an
    alias given twice must name the same identity; a file without any alias is refused.
    """
    from greenci.insights.csvfiles import has_control, read_records

    name = os.fspath(path)
    rows = read_records(name, field="aliases", what="an aliases file (CSV alias,identity)")
    out: dict[str, str] = {}
    first: dict[str, int] = {}
    for k, (i, r) in enumerate(rows):
        if k == 0 and [c.strip().lower() for c in r] == ["alias", "identity"]:
            continue
        cells = [c.strip() for c in r]
        if len(cells) > 2 and any(cells[2:]):
            raise DataFormatError(f"has {len(cells)} cells: an aliases row has two, alias and identity (e.g. "
                                  "jdoe,jane@example.org)", path=name, row=i)
        if len(cells) < 2 or not cells[0] or not cells[1]:
            raise DataFormatError("needs two cells, alias and identity (e.g. jdoe,jane@example.org)",
                                  path=name, row=i)
        alias, identity = cells[0].lower(), cells[1].lower()
        for column, value in (("alias", alias), ("identity", identity)):
            if has_control(value):
                raise DataFormatError(f"{value!r} holds control characters: write an e-mail, login or account name",
                                      path=name, row=i, column=column)
        if alias in out and out[alias] != identity:
            raise DataFormatError(f"alias {alias!r} is {identity!r} here but {out[alias]!r} in row {first[alias]}: "
                                  "give each alias one identity", path=name, row=i)
        out[alias] = identity
        first.setdefault(alias, i)
    if not out:
        raise DataFormatError("holds no aliases: write one row alias,identity per alias (e.g. "
                              "jdoe,jane@example.org)", path=name)
    return out


# ---------------------------------------------------------------------------------------- messages
@dataclass(frozen=True)
class Message:
    """A mail or chat line someone wrote (counted as communication and scored for sentiment)."""

    author: str
    sent_at: datetime
    text: str
    channel: str = ""


def read_messages(paths: Iterable[str | os.PathLike[str]]) -> list[Message]:
    """Mails and chat lines: CSV with ``author,timestamp,text[,channel]``, or ``.mbox`` mailboxes.

    A timestamp with an offset keeps it (its local date sets the week); a naive one is UTC. Every message
    needs an author and a plausible time; a file without any message is refused.
    """
    out: list[Message] = []
    for p in paths:
        name = os.fspath(p)
        if not Path(p).is_file():
            raise InputError(f"messages {name}: no such file: check the path", field="messages")
        found = _read_mbox(name) if name.lower().endswith(".mbox") else _read_message_csv(name)
        if not found:
            raise DataFormatError("holds no messages: "
                                  + ("an mbox starts each mail with a 'From ' line" if name.lower().endswith(".mbox")
                                     else "write one row author,timestamp,text per message"), path=name)
        out += found
    return out


def _read_message_csv(name: str) -> list[Message]:
    from greenci.insights.csvfiles import has_control, read_table

    cols, rows = read_table(name, field="messages", what="a messages CSV", required=("author", "timestamp", "text"),
                            optional=("channel",))
    out = []
    for i, cells in rows:
        author = cells[cols["author"]].strip().lower()
        if not author or has_control(author):
            raise DataFormatError(f"author {author!r} is not an e-mail or login: write who wrote the message",
                                  path=name, row=i, column="author")
        when = _parse_when(cells[cols["timestamp"]], name, i)
        out.append(Message(author, when, cells[cols["text"]],
                           cells[cols["channel"]] if "channel" in cols else ""))
    return out


def _read_mbox(name: str) -> list[Message]:
    import mailbox
    from email.utils import parseaddr, parsedate_to_datetime

    from greenci.insights import PLAUSIBLE_YEARS, plausible_time

    out = []
    box = []
    try:
        mbox = mailbox.mbox(name, create=False)
        for i, key in enumerate(mbox.keys()):
            try:
                box.append(mbox.get_message(key))
            except UnicodeDecodeError:
                raise DataFormatError(f"message {i + 1}: its 'From ' separator line is not ASCII: export the mailbox "
                                      "unchanged", path=name) from None
    except (OSError, mailbox.Error) as exc:
        raise DataFormatError(f"cannot be read as an mbox mailbox ({exc})", path=name) from None
    for i, msg in enumerate(box):
        _, addr = parseaddr(str(msg.get("From", "")))
        if not addr or "@" not in addr or any(ch.isspace() or ord(ch) < 32 for ch in addr):
            raise DataFormatError(f"message {i + 1} has no valid From address ({str(msg.get('From', ''))[:80]!r}): "
                                  "export the mailbox unchanged", path=name)
        try:
            when = parsedate_to_datetime(str(msg.get("Date", "")))
        except (TypeError, ValueError, IndexError, OverflowError):
            raise DataFormatError(f"message {i + 1} has no valid Date header", path=name) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if not plausible_time(when):
            raise DataFormatError(f"message {i + 1}: Date {str(msg.get('Date'))!r} is not plausible (years "
                                  f"{PLAUSIBLE_YEARS[0]} to {PLAUSIBLE_YEARS[1]})", path=name)
        body = msg.get_payload(decode=True) if not msg.is_multipart() else b""
        if msg.is_multipart():
            for part in msg.walk():
                if part.get_content_type() == "text/plain":
                    body = part.get_payload(decode=True) or b""
                    break
        if not isinstance(body, bytes):
            body = b""
        text = f"{msg.get('Subject', '')}\n{body.decode('utf-8', 'replace')}"
        out.append(Message(addr.lower(), when, text, "mail"))
    return out


def _parse_when(raw: str, name: str, row: int) -> datetime:
    from greenci.insights import PLAUSIBLE_YEARS, plausible_time

    try:
        t = datetime.fromisoformat((raw or "").strip().replace("Z", "+00:00"))
    except ValueError:
        raise DataFormatError(f"{raw!r} is not an ISO 8601 time, e.g. 2024-03-02T09:15:00+01:00",
                              path=name, row=row, column="timestamp") from None
    if not plausible_time(t):
        raise DataFormatError(f"{raw!r} is not a plausible time (years {PLAUSIBLE_YEARS[0]} to {PLAUSIBLE_YEARS[1]})",
                              path=name, row=row, column="timestamp")
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class PersonWeek:
    """One person's indicators for one ISO week (see the module docstring for each column)."""

    person: str
    week: str
    commits: int = 0
    open_prs: int = 0
    churn: int = 0
    context_switching: float = 0.0
    review_load: int = 0
    meeting_hours: float = math.nan
    communication: int = 0
    late_night: int = 0
    weekend: int = 0
    sentiment: float = math.nan
    texts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class IndicatorTable:
    """All person-weeks, sorted by week then person, and what they were built from."""

    rows: tuple[PersonWeek, ...]
    repos: tuple[str, ...] = ()
    has_calendar: bool = False
    has_reviews: bool = False
    has_sentiment: bool = True
    salt_source: str = ""
    pseudonymised: bool = True
    notes: tuple[str, ...] = ()
    _people: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    _identities: Identities | None = field(default=None, repr=False, compare=False)

    @property
    def people(self) -> tuple[str, ...]:
        return tuple(sorted({r.person for r in self.rows}))

    @property
    def weeks(self) -> tuple[str, ...]:
        return tuple(sorted({r.week for r in self.rows}))

    def person_for(self, raw: str) -> str | None:
        """The shown id of a raw identity (e-mail, login) or of an id already shown; None if unknown."""
        text = raw.strip()
        if text in self._people.values():
            return text
        if self._identities is None:
            return None
        return self._people.get(self._identities.canonical(text))

    def column(self, name: str) -> list[float]:
        if name not in INDICATORS:
            raise InputError(f"indicator {name!r} is unknown: use one of {', '.join(INDICATORS)}")
        return [float(getattr(r, name)) for r in self.rows]

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([r.as_dict() for r in self.rows], columns=[f.name for f in fields(PersonWeek)])


def week_bounds(week: str) -> tuple[datetime, datetime]:
    """UTC [Monday 00:00, next Monday 00:00) of an ISO week ``YYYY-Www``."""
    m = re.fullmatch(r"(\d{4})-W(\d{2})", week)
    if not m:
        raise InputError(f"week {week!r} is not an ISO week: write it as 2024-W09")
    start = datetime.combine(date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1), time(), UTC)
    return start, start + timedelta(days=7)


def build_indicators(commits: Sequence[Commit], *, reviews: ReviewData | None = None,
                     calendar: CalendarData | None = None, messages: Sequence[Message] = (),
                     identities: Identities | None = None, calendar_owner: str | None = None,
                     sentiment: bool = True, scorer: Callable[[str], float] | None = None) -> IndicatorTable:
    """The person x week indicator table (see the module docstring for every definition)."""
    ids = identities or Identities.create()
    multi_repo = len({c.repo for c in commits}) > 1
    names: dict[str, Counter[str]] = defaultdict(Counter)
    acc: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"commits": 0, "churn": 0, "late_night": 0, "weekend": 0, "review_load": 0, "communication": 0,
                 "days": defaultdict(set), "texts": []})

    def person(raw: str, name: str = "") -> str | None:
        key = ids.canonical(raw)
        if not key or ids.is_bot(key, name):
            return None
        if name:
            names[key][name] += 1
        else:
            names[key].update({})
        return key

    for c in commits:
        key = person(c.author_email, c.author_name)
        if key is None:
            continue
        row = acc[(key, c.week)]
        row["commits"] += 1
        row["churn"] += c.churn
        row["late_night"] += int(c.late_night)
        row["weekend"] += int(c.weekend)
        row["days"][c.local_date] |= c.areas(with_repo=multi_repo)
        if c.message:
            row["texts"].append(c.message)

    pulls_by: dict[str, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    if reviews is not None:
        author_of = {}
        for pr in reviews.pulls:
            key = person(pr.author)
            author_of[pr.id] = key
            if key is None:
                continue
            pulls_by[key].append((pr.created_at, pr.closed_at))
            acc[(key, iso_week(pr.created_at))]  # opening a pull request is activity that week
        for rv in reviews.reviews:
            key = person(rv.reviewer)
            if key is None or author_of.get(rv.pr_id) == key:
                continue
            row = acc[(key, iso_week(rv.submitted_at))]
            row["review_load"] += 1
            if rv.body.strip():
                row["texts"].append(rv.body)
        for cm in reviews.comments:
            key = person(cm.author)
            if key is None:
                continue
            row = acc[(key, iso_week(cm.created_at))]
            row["communication"] += 1
            row["texts"].append(cm.body)
    for msg in messages:
        key = person(msg.author)
        if key is None:
            continue
        row = acc[(key, iso_week(msg.sent_at))]
        row["communication"] += 1
        row["texts"].append(msg.text)

    hours: dict[tuple[str, str], float] = {}
    if calendar is not None:
        owner = ids.canonical(calendar_owner) if calendar_owner else None
        for (who, week), h in meeting_hours(calendar.meetings, owner=owner).items():
            key = ids.canonical(who)
            if key in names:  # attendees who never appear in the repository or exports are not people here
                hours[(key, week)] = hours.get((key, week), 0.0) + h
        for key, week in hours:
            acc[(key, week)]

    score = None
    if sentiment:
        if scorer is None:
            from greenci.insights.sentiment import sentiment_scorer

            scorer = sentiment_scorer()
        score = scorer

    shown = {key: ids.display(key, counter.most_common(1)[0][0] if counter else "") for key, counter in names.items()}
    rows = []
    for (key, week), a in acc.items():
        start, end = week_bounds(week)
        open_prs = sum(1 for created, closed in pulls_by.get(key, ()) if created < end and (closed is None
                                                                                            or closed >= start))
        days = {d: v for d, v in a["days"].items() if v}
        switching = sum(len(v) for v in days.values()) / len(days) if days else 0.0
        texts = a["texts"]
        mood = math.nan
        if score is not None and texts:
            mood = sum(score(t) for t in texts) / len(texts)
        rows.append(PersonWeek(
            person=shown[key], week=week, commits=a["commits"], open_prs=open_prs, churn=a["churn"],
            context_switching=switching, review_load=a["review_load"],
            meeting_hours=hours.get((key, week), 0.0) if calendar is not None else math.nan,
            communication=a["communication"], late_night=a["late_night"], weekend=a["weekend"],
            sentiment=mood, texts=len(texts)))
    rows.sort(key=lambda r: (r.week, r.person))
    notes = list(calendar.notes) if calendar is not None else []
    return IndicatorTable(rows=tuple(rows), repos=tuple(dict.fromkeys(c.repo for c in commits)),
                          has_calendar=calendar is not None, has_reviews=reviews is not None,
                          has_sentiment=sentiment, salt_source=ids.salt_source, pseudonymised=not ids.reveal,
                          notes=tuple(notes), _people=shown, _identities=ids)
