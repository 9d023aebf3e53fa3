"""The ``on:`` of a workflow: which events start it, its cron schedules and its path filters.

``on`` comes as a string (``on: push``), a list (``on: [push, pull_request]``) or a mapping whose values
configure each event (``schedule`` holds the crons, ``push``/``pull_request`` may hold ``paths`` and
``paths-ignore``, ``workflow_call`` makes the workflow reusable). PyYAML reads the bare key ``on`` as the
boolean True (YAML 1.1): the caller looks under both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Fail = Callable[[Sequence[Any], str], Exception]
_PATH_EVENTS = ("push", "pull_request", "pull_request_target")


@dataclass(frozen=True)
class Triggers:
    """What starts a workflow; ``paths``/``paths_ignore`` are those of its push and pull-request events."""

    events: tuple[str, ...] = ()
    crons: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    paths_ignore: tuple[str, ...] = ()


def read_triggers(on: Any, fail: Fail) -> Triggers:
    """The triggers of ``on``; ``fail(path, message)`` makes the error for a bad part (path relative to it)."""
    if on is None:
        return Triggers()
    if isinstance(on, str):
        return Triggers((on,))
    if isinstance(on, list):
        if not all(isinstance(x, str) for x in on):
            raise fail((), f"on: {on!r} must list event names, e.g. [push, pull_request]")
        return Triggers(tuple(on))
    if not isinstance(on, dict):
        raise fail((), f"on: {on!r} must be an event, a list of events or a mapping of events")
    crons = _crons(on.get("schedule"), fail) if "schedule" in on else ()
    paths: list[str] = []
    ignore: list[str] = []
    for event in _PATH_EVENTS:
        config = on.get(event)
        if not isinstance(config, dict):
            continue
        for key, into in (("paths", paths), ("paths-ignore", ignore)):
            if key in config:
                for p in _strings(config[key], (event, key), fail):
                    if p not in into:
                        into.append(p)
    return Triggers(tuple(str(k) for k in on), crons, tuple(paths), tuple(ignore))


def _crons(schedule: Any, fail: Fail) -> tuple[str, ...]:
    """The cron expressions of ``on.schedule``, each checked (GitHub reads five fields, in UTC)."""
    from croniter import croniter

    if not isinstance(schedule, list) or not schedule:
        raise fail(("schedule",), "on.schedule must be a list of crons, e.g. - cron: '0 2 * * *'")
    out = []
    for k, item in enumerate(schedule):
        cron = item.get("cron") if isinstance(item, dict) else None
        if not isinstance(cron, str):
            raise fail(("schedule", k), f"schedule entry {item!r} must be a mapping with a cron, e.g. "
                                        "- cron: '0 2 * * *'")
        if len(cron.split()) != 5 or not croniter.is_valid(cron):
            raise fail(("schedule", k, "cron"), f"cron {cron!r} is not a valid schedule: write five fields "
                                                "(minute hour day month weekday, UTC), e.g. '0 2 * * *'")
        out.append(cron)
    return tuple(out)


def _strings(value: Any, path: tuple[str, ...], fail: Fail) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return list(value)
    raise fail(path, f"{'.'.join(path)} {value!r} must be a list of path patterns, e.g. ['src/**', '!docs/**']")
