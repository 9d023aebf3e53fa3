"""Ceilometer v2 samples (``GET /v2/meters/{meter}``): the telemetry API before Gnocchi.

Ceilometer's own v2 API was removed in the Queens release (2018) in favour of Gnocchi; older clouds
still run it. A sample is ``{"counter_name", "counter_type", "counter_unit", "counter_volume",
"resource_id", "timestamp", "project_id", "user_id", "message_id", "recorded_at", "source",
"resource_metadata"}``; each becomes a point :class:`~greenci.energy.records.UsageRecord` with
``aggregation`` = the counter type (``cumulative``, ``gauge`` or ``delta``). Filters are Ceilometer's
query triples, ``q.field`` / ``q.op`` / ``q.value`` repeated. Authentication is Keystone's, shared
with :mod:`~greenci.energy.gnocchi` (Ceilometer is type ``metering`` in the catalog).
"""

from __future__ import annotations

import math
from typing import Any

import httpx

from greenci.energy.gnocchi import _AUTH_HINT, KeystoneAuth, _finite, _TokenClient
from greenci.energy.records import UsageRecord, utc_datetime
from greenci.errors import InputError, SourceError
from greenci.http import USER_AGENT, HttpSession, require, require_list

__all__ = ["SOURCE", "CeilometerClient", "parse_samples"]

SOURCE = "ceilometer"


def parse_samples(body: Any, *, where: str = "ceilometer samples") -> list[UsageRecord]:
    """Usage records from a list of Ceilometer v2 samples; samples with a null volume are skipped."""
    out = []
    for i, s in enumerate(require_list(body, where)):
        at = f"{where} item {i}"
        volume = require(s, "counter_volume", at)
        if volume is None:
            continue
        if isinstance(volume, bool) or not isinstance(volume, (int, float)) or not math.isfinite(_finite(volume)):
            raise SourceError(f"{at}: counter_volume {str(volume)[:40]!r} is not a finite number")
        stamp = require(s, "timestamp", at)
        try:
            when = utc_datetime(stamp)
        except InputError:
            raise SourceError(f"{at}: timestamp {stamp!r} is not ISO 8601") from None
        try:
            out.append(UsageRecord(source=SOURCE, resource_id=str(require(s, "resource_id", at)),
                                   metric=str(require(s, "counter_name", at)), start=when, end=when,
                                   value=float(volume), unit=str(s.get("counter_unit") or ""),
                                   aggregation=str(s.get("counter_type") or "")))
        except InputError as exc:
            raise SourceError(f"{at}: {exc}") from None
    out.sort(key=lambda r: (r.resource_id, r.metric, r.start))
    return out


class CeilometerClient(_TokenClient):
    """Samples of one meter from a Ceilometer v2 API; ``base_url`` defaults to the catalog's ``metering``."""

    name = "ceilometer"

    def __init__(self, base_url: str | None = None, auth: KeystoneAuth | None = None, *, interface: str = "public",
                 region: str | None = None, timeout_s: float = 10.0, retries: int = 1,
                 transport: httpx.BaseTransport | None = None, user_agent: str = USER_AGENT) -> None:
        if base_url is None:
            if auth is None:
                raise InputError("Ceilometer needs its URL (--url) or Keystone credentials to find it in the catalog")
            base_url = auth.endpoint("metering", interface=interface, region=region)
        http = HttpSession(base_url, label="ceilometer", timeout_s=timeout_s, retries=retries, transport=transport,
                           user_agent=user_agent, auth_hint=_AUTH_HINT)
        super().__init__(http, auth)

    def samples(self, meter: str, *, resource_id: str | None = None, start: object = None, stop: object = None,
                limit: int | None = None) -> list[UsageRecord]:
        """Samples of ``meter`` (``cpu``, ``memory.usage``, ``hardware.ipmi.node.power``...), filtered."""
        if not meter:
            raise InputError("give a meter name, e.g. cpu or memory.usage")
        triples: list[tuple[str, str, str]] = []
        if resource_id:
            triples.append(("resource_id", "eq", resource_id))
        if start is not None:
            triples.append(("timestamp", "ge", utc_datetime(start, where="--start").isoformat()))
        if stop is not None:
            triples.append(("timestamp", "lt", utc_datetime(stop, where="--stop").isoformat()))
        params: dict[str, Any] = {}
        if triples:
            params = {"q.field": [t[0] for t in triples], "q.op": [t[1] for t in triples],
                      "q.value": [t[2] for t in triples]}
        if limit is not None:
            params["limit"] = int(limit)
        return parse_samples(self._call("GET", f"/v2/meters/{meter}", params=params),
                             where=f"ceilometer meter {meter}")
