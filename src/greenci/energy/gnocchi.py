"""OpenStack telemetry from Gnocchi (metrics as a service), authenticated by Keystone v3.

Keystone (:class:`KeystoneAuth`): ``POST /v3/auth/tokens`` with password authentication, scoped to a
project; the token comes back in the ``X-Subject-Token`` header (201), the body's ``token.expires_at``
says when to renew and ``token.catalog`` where the services live (Gnocchi is type ``metric``). A 401
from Gnocchi means the token died early: the client gets a new one once and repeats the call.

Gnocchi (:class:`GnocchiClient`), every call with ``X-Auth-Token``:

* ``GET /v1/resource/{type}`` -> ``[{"id", "type", "project_id", "metrics": {name: metric_id}, ...}]``
  (paged with ``limit`` and ``marker``);
* ``GET /v1/metric/{id}/measures?start=&stop=&granularity=&aggregation=`` and
  ``GET /v1/resource/{type}/{id}/metric/{name}/measures`` -> ``[[timestamp, granularity_s, value], ...]``;
* ``POST /v1/aggregates`` with ``{"operations": ..., "resource_type"?, "search"?}`` ->
  ``{"measures": {"aggregated": [...]}}``, ``{"measures": {metric_id: {aggregation: [...]}}}``,
  ``{"measures": {resource_id: {metric: {aggregation: [...]}}}}``, or with ``groupby`` a list of
  ``{"group": {...}, "measures": {"measures": {...}}}``.

Each point ``[t, g, v]`` becomes a :class:`~greenci.energy.records.UsageRecord` over ``[t, t + g)``.
Units: OpenStack's ``cpu`` is cumulative CPU time in ns (ask ``aggregation="rate:mean"`` for ns per
interval), ``memory.usage`` is MB; see :mod:`~greenci.energy.power_model` to turn them into energy.

Power and energy (:func:`measures_to_energy`, :func:`aggregates_to_energy`, :func:`read_gnocchi` for saved
bodies, :meth:`GnocchiClient.power` live). ``GET /v1/metric/{id}`` (:func:`parse_metric`) gives a metric's
``unit`` and ``archive_policy``; ``GET /v1/archive_policy/{name}`` (:func:`parse_archive_policy`) its
``definition``: one ``{granularity, points, timespan}`` per resolution kept (``"0:05:00"``,
``"30 days, 0:00:00"`` as Gnocchi writes them, or seconds), so a reader can say what resolution it has.
A measures list without ``granularity`` in the request holds every resolution of the policy at once: one
series takes one granularity, the one asked (refused when absent, naming those present) else the
finest; resolutions are never mixed. A power metric (``W``, ``kW``, ``mW``, ``MW``) aggregated by ``mean``
is an interval ``[t, t + granularity)`` at that mean power (another aggregation of power, ``max`` say, is
no mean and is refused). An energy metric (``J``, ``kJ``, ``MJ``, ``Wh``, ``kWh``, ``MWh``) is a cumulative
counter: ``rate:sum`` is the energy of each granule; ``last``/``max`` read the counter at the granule's
end, ``first``/``min`` at its start, ``mean``/``median`` near its middle, and consecutive readings are
differenced (a fall is a reset, that stretch left out). ``null`` values (no data in the granule) are
skipped. The scope comes from the metric name (``hardware.ipmi.node.power``: ``total``; ``cpu0.power``:
``cpu``; see :mod:`~greenci.energy.telemetry_units`). ``POST /v1/aggregates`` answers asked with
``details=true`` carry ``references``: the metrics (with their unit and name) or resources the measures
come from; the reader takes units and names from them.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from greenci.config import Secret, as_secret
from greenci.energy.records import MAX_SPAN_S, EnergyRecord, UsageRecord, check_power_w, utc_datetime
from greenci.energy.sniff import read_json
from greenci.energy.telemetry_units import component_from_name, counter_intervals, energy_factor_kwh, power_factor_w
from greenci.errors import AuthenticationError, DataFormatError, InputError, SourceError
from greenci.http import USER_AGENT, HttpSession, HttpSourceClient, require, require_list

__all__ = ["KNOWN_UNITS", "SOURCE", "ArchivePolicy", "ArchiveRule", "GnocchiClient", "KeystoneAuth", "MetricInfo",
           "aggregates_to_energy", "load_saved_json", "measures_to_energy", "parse_aggregates",
           "parse_archive_policy", "parse_measures", "parse_metric", "pick_granularity", "read_gnocchi"]

SOURCE = "gnocchi"
#: units of the metrics Ceilometer publishes to Gnocchi (used when the caller gives none)
KNOWN_UNITS: dict[str, str] = {"cpu": "ns", "cpu_util": "%", "memory.usage": "MB", "memory": "MB", "vcpus": "vcpu",
                               "memory.resident": "MB", "disk.root.size": "GB", "power": "W",
                               "hardware.ipmi.node.power": "W"}
_AUTH_HINT = ("OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME, OS_USER_DOMAIN_NAME and OS_PROJECT_DOMAIN_NAME "
              "(your project's openrc)")
_RENEW_EARLY_S = 60.0


class KeystoneAuth:
    """A Keystone v3 password login that hands out a valid token and the service catalog."""

    def __init__(self, auth_url: str, username: str, password: str | Secret, *, project_name: str | None = None,
                 project_id: str | None = None, user_domain_name: str = "Default",
                 project_domain_name: str = "Default", timeout_s: float = 10.0, retries: int = 1,
                 transport: httpx.BaseTransport | None = None, user_agent: str = USER_AGENT,
                 clock: Callable[[], float] = time.time) -> None:
        secret = as_secret(password)
        if not username or not secret:
            raise InputError(f"Keystone needs a username and a password: set {_AUTH_HINT}")
        base = auth_url.rstrip("/")
        self.auth_url = base[:-3] if base.endswith("/v3") else base
        self.username = username
        self._password = secret
        self.project_name = project_name
        self.project_id = project_id
        self.user_domain_name = user_domain_name
        self.project_domain_name = project_domain_name
        self._clock = clock
        self._token: Secret | None = None
        self._expires_at = 0.0
        self._catalog: list[Any] = []
        self._http = HttpSession(self.auth_url, label="keystone", timeout_s=timeout_s, retries=retries,
                                 transport=transport, user_agent=user_agent, auth_hint=_AUTH_HINT,
                                 secrets=[secret])

    def _body(self) -> dict[str, Any]:
        user = {"name": self.username, "domain": {"name": self.user_domain_name}, "password": self._password.reveal()}
        auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {"user": user}}}
        if self.project_id:
            auth["scope"] = {"project": {"id": self.project_id}}
        elif self.project_name:
            auth["scope"] = {"project": {"name": self.project_name, "domain": {"name": self.project_domain_name}}}
        return {"auth": auth}

    def login(self) -> None:
        """Get a new token (done on demand by :meth:`token`)."""
        response = self._http.request("POST", "/v3/auth/tokens", json=self._body())
        token = response.headers.get("X-Subject-Token")
        if not token:
            raise SourceError(f"keystone: {self._http.host} answered HTTP {response.status_code} without an "
                              "X-Subject-Token header: is the auth URL a Keystone v3 endpoint?")
        self._http.add_secret(token)
        try:
            body = response.json()
        except ValueError:
            body = {}
        info = body.get("token", {}) if isinstance(body, Mapping) else {}
        expires = info.get("expires_at") if isinstance(info, Mapping) else None
        self._expires_at = utc_datetime(expires).timestamp() if isinstance(expires, str) else self._clock() + 3600.0
        self._catalog = info.get("catalog", []) if isinstance(info, Mapping) else []
        self._token = Secret(token)

    def token(self) -> str:
        """A token valid for at least another minute."""
        if self._token is None or self._clock() > self._expires_at - _RENEW_EARLY_S:
            self.login()
        assert self._token is not None
        return self._token.reveal()

    def invalidate(self) -> None:
        """Forget the token (after a 401), so the next call logs in again."""
        self._token = None

    def endpoint(self, service_type: str, *, interface: str = "public", region: str | None = None) -> str:
        """The URL of ``service_type`` (``metric`` for Gnocchi, ``metering`` for Ceilometer) in the catalog."""
        self.token()
        for service in self._catalog:
            if not isinstance(service, Mapping) or service.get("type") != service_type:
                continue
            for ep in service.get("endpoints", []):
                if (isinstance(ep, Mapping) and ep.get("interface") == interface
                        and (region is None or ep.get("region") in (region, None) or ep.get("region_id") == region)):
                    return str(ep["url"]).rstrip("/")
        raise SourceError(f"keystone: the catalog has no {interface} endpoint of type {service_type!r}"
                          + (f" in region {region}" if region else "") + ": give the service URL with --url")

    def close(self) -> None:
        self._http.close()


class _TokenClient(HttpSourceClient):
    """Shared by the Gnocchi and Ceilometer clients: token header, one re-login after a 401."""

    def __init__(self, http: HttpSession, auth: KeystoneAuth | None) -> None:
        super().__init__(http)
        self.auth = auth

    def _call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None) -> Any:
        for attempt in (0, 1):
            headers = {}
            if self.auth is not None:
                token = self.auth.token()
                self._http.add_secret(token)
                headers["X-Auth-Token"] = token
            try:
                if method == "GET":
                    return self._http.get_json(path, params=params, headers=headers)
                return self._http.post_json(path, params=params, json=json, headers=headers)
            except AuthenticationError as exc:
                if attempt or self.auth is None or getattr(exc, "status_code", None) != 401:
                    raise
                self.auth.invalidate()
        raise AssertionError("unreachable")

    def close(self) -> None:
        super().close()
        if self.auth is not None:
            self.auth.close()


def parse_measures(points: Any, *, resource_id: str, metric: str, unit: str = "", aggregation: str = "mean",
                   where: str = "gnocchi measures") -> list[UsageRecord]:
    """``[[timestamp, granularity_s, value], ...]`` as usage records over ``[t, t + granularity)``; nulls skipped."""
    out = []
    for i, point in enumerate(require_list(points, where)):
        if not isinstance(point, list) or len(point) != 3:
            raise SourceError(f"{where} item {i}: expected [timestamp, granularity, value], got {str(point)[:60]}")
        stamp, gran, value = point
        if value is None:
            continue
        if (isinstance(gran, bool) or not isinstance(gran, (int, float))
                or not 0 <= _finite(gran) <= MAX_SPAN_S):
            raise SourceError(f"{where} item {i}: granularity {str(gran)[:40]!r} is not a number of seconds "
                              f"from 0 to {MAX_SPAN_S:g}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(_finite(value)):
            raise SourceError(f"{where} item {i}: value {str(value)[:40]!r} is not a finite number")
        try:
            start = utc_datetime(stamp)
            end = start + timedelta(seconds=float(gran))
        except (InputError, OverflowError):
            raise SourceError(f"{where} item {i}: timestamp {str(stamp)[:60]!r} is not ISO 8601") from None
        try:
            out.append(UsageRecord(source=SOURCE, resource_id=resource_id, metric=metric, start=start,
                                   end=end, value=float(value), unit=unit, aggregation=aggregation))
        except InputError as exc:
            raise SourceError(f"{where} item {i}: {exc}") from None
    return out


def _finite(number: float) -> float:
    """``float(number)``, infinite for an integer too large for a float."""
    try:
        return float(number)
    except OverflowError:
        return math.inf


def parse_aggregates(body: Any, *, label: str = "aggregated", unit: str = "") -> list[UsageRecord]:
    """Usage records from any documented ``POST /v1/aggregates`` answer (see the module doc)."""
    if isinstance(body, list):  # groupby
        out = []
        for i, group in enumerate(body):
            keys = require(group, "group", f"gnocchi aggregates group {i}")
            name = ",".join(f"{k}={v}" for k, v in sorted(keys.items())) if isinstance(keys, Mapping) else str(keys)
            inner = require(group, "measures", f"gnocchi aggregates group {i}")
            out += parse_aggregates(inner, label=name, unit=unit)
        return out
    measures = require(body, "measures", "gnocchi aggregates")
    if not isinstance(measures, Mapping):
        raise SourceError("gnocchi aggregates: 'measures' is not an object")
    if "aggregated" in measures and isinstance(measures["aggregated"], list):
        return parse_measures(measures["aggregated"], resource_id=label, metric=label, unit=unit,
                              aggregation="aggregated", where="gnocchi aggregates")
    out = []
    for outer, by in measures.items():
        if not isinstance(by, Mapping):
            raise SourceError(f"gnocchi aggregates: measures[{outer!r}] is not an object")
        for name, inner in by.items():
            if isinstance(inner, list):  # metric id -> aggregation -> points
                out += parse_measures(inner, resource_id=str(outer), metric=str(outer), unit=unit,
                                      aggregation=str(name), where=f"gnocchi aggregates {outer}")
            elif isinstance(inner, Mapping):  # resource id -> metric -> aggregation -> points
                for agg, points in inner.items():
                    out += parse_measures(points, resource_id=str(outer), metric=str(name),
                                          unit=unit or KNOWN_UNITS.get(str(name), ""), aggregation=str(agg),
                                          where=f"gnocchi aggregates {outer} {name}")
    return out


# ====================================================================== saved bodies, metrics, archive policies
#: a saved telemetry body larger than this is not one API answer: refused before it is parsed
MAX_JSON_BYTES = 256 * 1024 * 1024
_FORMAT = ("a saved Gnocchi body (measures [[t, granularity, value], ...], an aggregates answer, a metric or an "
           "archive policy)")


def load_saved_json(path: str | os.PathLike[str], fmt: str) -> tuple[Any, str]:
    """``(document, path text)`` of a saved API answer (see :func:`~greenci.energy.sniff.read_json`)."""
    return read_json(path, fmt=fmt, max_bytes=MAX_JSON_BYTES, too_big="one API answer is smaller: split the "
                     "query by time"), str(Path(path))


_SPAN = re.compile(r"^(?:(\d+) days?, )?(\d+):(\d\d):(\d\d(?:\.\d+)?)$")
_WORDS = re.compile(r"^(\d+(?:\.\d+)?)\s*(seconds?|s|minutes?|min|hours?|h|days?|d|weeks?)$")
_WORD_S = {"s": 1.0, "second": 1.0, "seconds": 1.0, "min": 60.0, "minute": 60.0, "minutes": 60.0, "h": 3600.0,
           "hour": 3600.0, "hours": 3600.0, "d": 86400.0, "day": 86400.0, "days": 86400.0, "week": 604800.0,
           "weeks": 604800.0}


def _span_s(value: object, where: str) -> float:
    """Seconds from Gnocchi's ``"0:05:00"`` / ``"30 days, 0:00:00"``, ``"300 seconds"``, ``"1 hour"`` or a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        secs = float(value)
    else:
        text = str(value).strip()
        m, w = _SPAN.match(text), _WORDS.match(text)
        if m:
            secs = int(m.group(1) or 0) * 86400 + int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))
        elif w:
            secs = float(w.group(1)) * _WORD_S[w.group(2)]
        else:
            raise DataFormatError(f"{where} {text[:40]!r} is not a span: Gnocchi writes 0:05:00 or "
                                  "'30 days, 0:00:00' (or give seconds)")
    if not (math.isfinite(secs) and secs > 0):
        raise DataFormatError(f"{where} {value!r} must be a positive span of time")
    return secs


@dataclass(frozen=True)
class ArchiveRule:
    """One resolution an archive policy keeps: points ``granularity_s`` apart for ``timespan_s``."""

    granularity_s: float
    points: int | None
    timespan_s: float | None

    def describe(self) -> str:
        span = "unbounded" if self.timespan_s is None else _human_s(self.timespan_s)
        return f"every {_human_s(self.granularity_s)} for {span}"


@dataclass(frozen=True)
class ArchivePolicy:
    """A Gnocchi archive policy: what resolutions a metric keeps, finest first."""

    name: str
    rules: tuple[ArchiveRule, ...]
    aggregation_methods: tuple[str, ...] = ()
    back_window: int = 0

    @property
    def granularities_s(self) -> tuple[float, ...]:
        return tuple(r.granularity_s for r in self.rules)

    @property
    def finest_s(self) -> float:
        return self.rules[0].granularity_s

    def describe(self) -> str:
        """``high: every 1 s for 1 h, every 1 min for 7 d`` (what resolution a reader gets, and how far back)."""
        return f"{self.name}: " + ", ".join(r.describe() for r in self.rules)


@dataclass(frozen=True)
class MetricInfo:
    """``GET /v1/metric/{id}``: the metric's id, name, unit, resource and archive policy."""

    id: str
    name: str
    unit: str
    resource_id: str | None
    archive_policy: ArchivePolicy | None
    archive_policy_name: str


def _human_s(secs: float) -> str:
    for size, word in ((604800.0, "w"), (86400.0, "d"), (3600.0, "h"), (60.0, "min")):
        if secs >= size and secs % size == 0:
            return f"{secs / size:g} {word}"
    return f"{secs:g} s"


def parse_archive_policy(doc: Any, *, where: str = "gnocchi archive policy") -> ArchivePolicy:
    """An :class:`ArchivePolicy` from ``GET /v1/archive_policy/{name}`` (or a metric's ``archive_policy``)."""
    if not isinstance(doc, Mapping):
        raise DataFormatError(f"{where}: expected an object with 'name' and 'definition'")
    definition = doc.get("definition")
    if not isinstance(definition, list) or not definition:
        raise DataFormatError(f"{where}: 'definition' must be a non-empty list of {{granularity, points, timespan}}")
    rules = []
    for i, item in enumerate(definition):
        at = f"{where} definition {i}"
        if not isinstance(item, Mapping) or item.get("granularity") is None:
            raise DataFormatError(f"{at}: has no granularity")
        gran = _span_s(item["granularity"], f"{at} granularity")
        points = item.get("points")
        if points is not None and (isinstance(points, bool) or not isinstance(points, int) or points <= 0):
            raise DataFormatError(f"{at}: points {points!r} must be a positive whole number")
        span = item.get("timespan")
        span_s = _span_s(span, f"{at} timespan") if span is not None else (gran * points if points else None)
        rules.append(ArchiveRule(granularity_s=gran, points=points, timespan_s=span_s))
    methods = doc.get("aggregation_methods")
    back = doc.get("back_window")
    return ArchivePolicy(name=str(doc.get("name") or "?"), rules=tuple(sorted(rules, key=lambda r: r.granularity_s)),
                         aggregation_methods=tuple(str(m) for m in methods) if isinstance(methods, list) else (),
                         back_window=back if isinstance(back, int) and not isinstance(back, bool) else 0)


def parse_metric(doc: Any, *, where: str = "gnocchi metric") -> MetricInfo:
    """A :class:`MetricInfo` from ``GET /v1/metric/{id}``; the archive policy when the answer details it."""
    if not isinstance(doc, Mapping) or not doc.get("id"):
        raise DataFormatError(f"{where}: expected a metric object with an 'id'")
    policy_doc = doc.get("archive_policy")
    policy = parse_archive_policy(policy_doc, where=f"{where} archive_policy") \
        if isinstance(policy_doc, Mapping) and "definition" in policy_doc else None
    policy_name = policy.name if policy else str(doc.get("archive_policy_name") or policy_doc or "")
    nested = doc.get("resource")
    resource = doc.get("resource_id") or (nested.get("id") if isinstance(nested, Mapping) else None)
    return MetricInfo(id=str(doc["id"]), name=str(doc.get("name") or doc["id"]), unit=str(doc.get("unit") or ""),
                      resource_id=str(resource) if resource else None, archive_policy=policy,
                      archive_policy_name=policy_name)


# ====================================================================== measures -> energy
def pick_granularity(points: Sequence[UsageRecord], granularity: float | None = None, *,
                     where: str = "gnocchi measures") -> float:
    """The one granularity a series takes: ``granularity`` when given (refused if absent), else the finest."""
    present = sorted({(p.end - p.start).total_seconds() for p in points})
    if granularity is None:
        return present[0]
    for g in present:
        if math.isclose(g, granularity, rel_tol=1e-9):
            return g
    raise DataFormatError(f"{where}: no measures at granularity {granularity:g} s; the body has "
                          f"{', '.join(f'{g:g}' for g in present)} s: ask one of those")


_COUNTER_AT = {"last": 1.0, "max": 1.0, "first": 0.0, "min": 0.0, "mean": 0.5, "median": 0.5}


def measures_to_energy(points: Any, *, resource_id: str, metric: str, unit: str, aggregation: str = "mean",
                       granularity: float | None = None, component: str | None = None,
                       where: str = "gnocchi measures") -> list[EnergyRecord]:
    """Energy records from one series of ``[t, granularity, value]`` (see the module doc for the rules)."""
    watts = power_factor_w(unit, where=f"{where}: unit")
    kwh = energy_factor_kwh(unit, where=f"{where}: unit")
    if watts is None and kwh is None:
        raise DataFormatError(f"{where}: unit {unit!r} of {metric} is neither power (W, kW, mW, MW) nor energy "
                              "(kWh, Wh, J, kJ, MJ): give the metric's unit (--unit W) or a power metric",
                              field="unit")
    try:
        usage = parse_measures(points, resource_id=resource_id, metric=metric, unit=unit, aggregation=aggregation,
                               where=where)
    except SourceError as exc:
        raise DataFormatError(str(exc)) from None
    if not usage:
        return []
    gran = pick_granularity(usage, granularity, where=where)
    usage = sorted((u for u in usage if (u.end - u.start).total_seconds() == gran), key=lambda u: u.start)
    scope = component or component_from_name(metric)
    method = f"gnocchi {metric} {aggregation} at {gran:g} s ({unit})"
    if watts is not None:
        if aggregation != "mean":
            raise DataFormatError(f"{where}: aggregation {aggregation!r} of power is not a mean over the granule: "
                                  "ask aggregation=mean for energy", field="aggregation")
        out = []
        for i, u in enumerate(usage):
            power = check_power_w(u.value * watts, path=where, row=i, column="value", text=f"{u.value:g} {unit}")
            out.append(EnergyRecord(source=SOURCE, resource_id=resource_id, start=u.start, end=u.end,
                                    energy_kwh=power * gran / 3.6e6, power_w=power, component=scope, method=method))
        return out
    assert kwh is not None
    values = np.array([u.value for u in usage]) * kwh
    if aggregation.startswith("rate:sum"):
        keep = np.flatnonzero(values >= 0)
        return [EnergyRecord(source=SOURCE, resource_id=resource_id, start=usage[k].start, end=usage[k].end,
                             energy_kwh=float(values[k]), power_w=float(values[k]) * 3.6e6 / gran, component=scope,
                             method=method + ": energy per granule (a negative rate is a reset, left out)")
                for k in keep.tolist()]
    if aggregation not in _COUNTER_AT:
        raise DataFormatError(f"{where}: aggregation {aggregation!r} of an energy counter gives no energy: ask "
                              "rate:sum (energy per granule) or last (the counter)", field="aggregation")
    t0 = usage[0].start
    secs = np.array([(u.start - t0).total_seconds() for u in usage]) + _COUNTER_AT[aggregation] * gran
    keep, energy, _resets = counter_intervals(secs, values)
    return [EnergyRecord(source=SOURCE, resource_id=resource_id, start=t0 + timedelta(seconds=float(secs[k])),
                         end=t0 + timedelta(seconds=float(secs[k + 1])), energy_kwh=float(e),
                         power_w=float(e) * 3.6e6 / float(secs[k + 1] - secs[k]), component=scope,
                         method=method + ": counter difference (a reset is left out)")
            for k, e in zip(keep.tolist(), energy.tolist(), strict=True)]


def _references(body: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    refs = body.get("references")
    return {str(r["id"]): r for r in refs if isinstance(r, Mapping) and r.get("id")} if isinstance(refs, list) else {}


def aggregates_to_energy(body: Any, *, unit: str | None = None, granularity: float | None = None,
                         where: str = "gnocchi aggregates") -> list[EnergyRecord]:
    """Energy records from a ``POST /v1/aggregates`` answer; series that are not power or energy are skipped.

    Units come from ``references`` (asked with ``details=true``), else ``unit``, else :data:`KNOWN_UNITS`
    by metric name. Of several aggregations of one power metric only ``mean`` is read.
    """
    series, skipped = _aggregate_series(body, unit, where)
    out: list[EnergyRecord] = []
    for rid, name, agg, u, points, component, at in series:
        if power_factor_w(u, where=at) is not None and agg != "mean":
            skipped.append(f"{name} {agg} [{u}]")
            continue
        out += measures_to_energy(points, resource_id=rid, metric=name, unit=u, aggregation=agg,
                                  granularity=granularity, component=component, where=at)
    if not out:
        raise DataFormatError(f"{where}: no power or energy series with a value"
                              + (f" (skipped: {', '.join(sorted(set(skipped)))})" if skipped else "")
                              + ": aggregate a power metric (W) with mean, or an energy metric (kWh, J); give --unit "
                              "when the answer has no references")
    return out


Series = tuple[str, str, str, str, Any, str | None, str]


def _aggregate_series(body: Any, unit: str | None, where: str) -> tuple[list[Series], list[str]]:
    """``(resource, metric, aggregation, unit, points, component, where)`` of every series in an answer."""
    if isinstance(body, list):  # groupby
        series: list[Series] = []
        skipped: list[str] = []
        for i, group in enumerate(body):
            if not isinstance(group, Mapping) or not isinstance(group.get("measures"), Mapping):
                raise DataFormatError(f"{where} group {i}: expected {{group, measures}}")
            keys = group.get("group")
            label = ",".join(f"{k}={v}" for k, v in sorted(keys.items())) if isinstance(keys, Mapping) else str(i)
            inner = group["measures"]
            inner = inner if "measures" in inner else {"measures": inner}
            s, k = _aggregate_series(inner, unit, f"{where} group {label}")
            series += [(label if rid == "aggregated" else rid, *rest) for rid, *rest in s]  # type: ignore[misc]
            skipped += k
        return series, skipped
    if not isinstance(body, Mapping) or not isinstance(body.get("measures"), Mapping):
        raise DataFormatError(f"{where}: expected an object with 'measures' (a POST /v1/aggregates answer)")
    refs = _references(body)
    measures = body["measures"]
    series, skipped = [], []

    def add(rid: str, name: str, agg: str, u: str, points: Any, component: str | None, at: str) -> None:
        if power_factor_w(u, where=at) is None and energy_factor_kwh(u, where=at) is None:
            skipped.append(f"{name} [{u or 'no unit'}]")
        else:
            series.append((rid, name, agg, u, points, component, at))

    if isinstance(measures.get("aggregated"), list):
        units = {str(r.get("unit") or "") for r in refs.values()}
        names = sorted({str(r.get("name") or r["id"]) for r in refs.values()})
        u = unit or (units.pop() if len(units) == 1 else "")
        comps = {component_from_name(n) for n in names}
        add("aggregated", "aggregated" + (f"({','.join(names)})" if names else ""), "mean", u,
            measures["aggregated"], comps.pop() if len(comps) == 1 else None, f"{where} aggregated")
        return series, skipped
    for outer, by in measures.items():
        if not isinstance(by, Mapping):
            raise DataFormatError(f"{where}: measures[{str(outer)[:60]!r}] is not an object")
        ref = refs.get(str(outer), {})
        for name, inner in by.items():
            if isinstance(inner, list):  # metric id -> aggregation -> points
                mname = str(ref.get("name") or outer)
                rid = str(ref.get("resource_id") or outer)
                add(rid, mname, str(name), unit or str(ref.get("unit") or "") or KNOWN_UNITS.get(mname, ""), inner,
                    None, f"{where} metric {outer}")
            elif isinstance(inner, Mapping):  # resource id -> metric -> aggregation -> points
                for agg, points in inner.items():
                    add(str(outer), str(name), str(agg), unit or KNOWN_UNITS.get(str(name), ""), points, None,
                        f"{where} {outer} {name}")
            else:
                raise DataFormatError(f"{where}: measures[{str(outer)[:60]!r}][{str(name)[:60]!r}] is not a list or "
                                      "an object")
    return series, skipped


def read_gnocchi(paths: Sequence[str | os.PathLike[str]], *, unit: str | None = None,
                 granularity: float | None = None, resource_id: str | None = None, metric: str | None = None,
                 aggregation: str = "mean") -> tuple[list[EnergyRecord], list[ArchivePolicy]]:
    """Energy records from saved Gnocchi bodies, and the archive policies met among them.

    Each file is a measures list, an aggregates answer, a metric (``GET /v1/metric/{id}``) or an archive
    policy. A metric file gives the measures files their unit, name, resource and policy (one metric file
    at most, or name each series yourself); an asked ``granularity`` is checked against the policy.
    """
    measures: list[tuple[Any, str]] = []
    aggregates: list[tuple[Any, str]] = []
    metrics: list[MetricInfo] = []
    policies: list[ArchivePolicy] = []
    for path in paths:
        doc, where = load_saved_json(path, _FORMAT)
        if isinstance(doc, list) and (not doc or isinstance(doc[0], list)):
            measures.append((doc, where))
        elif isinstance(doc, list) or (isinstance(doc, Mapping) and "measures" in doc):
            aggregates.append((doc, where))
        elif isinstance(doc, Mapping) and "definition" in doc:
            policies.append(parse_archive_policy(doc, where=where))
        elif isinstance(doc, Mapping) and "archive_policy" in doc and "id" in doc:
            metrics.append(parse_metric(doc, where=where))
        else:
            raise DataFormatError(f"is none of {_FORMAT}", path=where)
    if len(metrics) > 1 and measures:
        raise InputError(f"{len(metrics)} metric files for {len(measures)} measures files: read each metric with its "
                         "measures on its own (or give --unit and --metric)", field="file")
    info = metrics[0] if metrics else None
    if info is not None and info.archive_policy is not None:
        policies.append(info.archive_policy)
    for policy in policies:
        if granularity is not None and not any(math.isclose(g, granularity) for g in policy.granularities_s):
            raise InputError(f"granularity {granularity:g} s is not kept by archive policy {policy.describe()}",
                             field="granularity")
    out: list[EnergyRecord] = []
    for doc, where in measures:
        name = metric or (info.name if info else "")
        u = unit or (info.unit if info else "") or KNOWN_UNITS.get(name, "")
        if not u:
            raise DataFormatError("a measures list carries no unit: give --unit (W, kW, kWh, J...) or the metric's "
                                  "GET /v1/metric/<id> answer beside it", path=where, field="unit")
        rid = resource_id or (info.resource_id if info and info.resource_id else None) or \
            (info.id if info else Path(where).stem)
        recs = measures_to_energy(doc, resource_id=rid, metric=name or Path(where).stem, unit=u,
                                  aggregation=aggregation, granularity=granularity, where=where)
        if not recs:
            raise DataFormatError("every measure is null: no power or energy reading in the file", path=where)
        out += recs
    for doc, where in aggregates:
        out += aggregates_to_energy(doc, unit=unit, granularity=granularity, where=where)
    if not out and not policies and not metrics:
        raise InputError("no Gnocchi body given", field="file")
    return out, policies


class GnocchiClient(_TokenClient):
    """Read resources, measures and aggregates from Gnocchi; ``base_url`` defaults to the catalog's."""

    name = "gnocchi"

    def __init__(self, base_url: str | None = None, auth: KeystoneAuth | None = None, *, interface: str = "public",
                 region: str | None = None, timeout_s: float = 10.0, retries: int = 1,
                 transport: httpx.BaseTransport | None = None, user_agent: str = USER_AGENT) -> None:
        if base_url is None:
            if auth is None:
                raise InputError("Gnocchi needs its URL (--url) or Keystone credentials to find it in the catalog")
            base_url = auth.endpoint("metric", interface=interface, region=region)
        http = HttpSession(base_url, label="gnocchi", timeout_s=timeout_s, retries=retries, transport=transport,
                           user_agent=user_agent, auth_hint=_AUTH_HINT + " and your role in the project")
        super().__init__(http, auth)

    def resources(self, resource_type: str = "generic", *, limit: int = 1000) -> list[dict[str, Any]]:
        """Every resource of ``resource_type`` (paged by ``limit``/``marker``)."""
        out: list[dict[str, Any]] = []
        marker = None
        while True:
            page = require_list(self._call("GET", f"/v1/resource/{resource_type}",
                                           params={"limit": limit, "marker": marker}),
                                f"gnocchi resources of type {resource_type}")
            out += [r for r in page if isinstance(r, dict)]
            if len(page) < limit or not page:
                return out
            marker = require(page[-1], "id", "gnocchi resource")

    def measures(self, metric_id: str, *, start: object = None, stop: object = None, granularity: float | None = None,
                 aggregation: str = "mean", resource_id: str | None = None, metric_name: str | None = None,
                 unit: str | None = None) -> list[UsageRecord]:
        """Measures of one metric by id."""
        points = self._call("GET", f"/v1/metric/{metric_id}/measures",
                            params=_span(start, stop, granularity, aggregation))
        name = metric_name or metric_id
        return parse_measures(points, resource_id=resource_id or metric_id, metric=name,
                              unit=unit if unit is not None else KNOWN_UNITS.get(name, ""), aggregation=aggregation,
                              where=f"gnocchi measures of metric {metric_id}")

    def resource_measures(self, resource_type: str, resource_id: str, metric_name: str, *, start: object = None,
                          stop: object = None, granularity: float | None = None, aggregation: str = "mean",
                          unit: str | None = None) -> list[UsageRecord]:
        """Measures of a resource's named metric (``cpu``, ``memory.usage``...)."""
        points = self._call("GET", f"/v1/resource/{resource_type}/{resource_id}/metric/{metric_name}/measures",
                            params=_span(start, stop, granularity, aggregation))
        return parse_measures(points, resource_id=resource_id, metric=metric_name,
                              unit=unit if unit is not None else KNOWN_UNITS.get(metric_name, ""),
                              aggregation=aggregation, where=f"gnocchi {resource_type}/{resource_id}/{metric_name}")

    def aggregates(self, operations: str | Sequence[Any], *, resource_type: str | None = None, search: Any = None,
                   start: object = None, stop: object = None, granularity: float | None = None,
                   groupby: Sequence[str] = (), fill: str | float | None = None, unit: str = "") -> list[UsageRecord]:
        """``POST /v1/aggregates``: on-the-fly aggregation across metrics or resources found by ``search``."""
        body: dict[str, Any] = {"operations": operations}
        if resource_type is not None:
            body["resource_type"] = resource_type
            body["search"] = search if search is not None else {}
        params = _span(start, stop, granularity, None)
        if groupby:
            params["groupby"] = list(groupby)
        if fill is not None:
            params["fill"] = fill
        label = operations if isinstance(operations, str) else "aggregated"
        return parse_aggregates(self._call("POST", "/v1/aggregates", params=params, json=body), label=label,
                                unit=unit)

    def metric(self, metric_id: str) -> MetricInfo:
        """``GET /v1/metric/{id}``: the metric's name, unit, resource and archive policy."""
        try:
            return parse_metric(self._call("GET", f"/v1/metric/{metric_id}"), where=f"gnocchi metric {metric_id}")
        except DataFormatError as exc:
            raise SourceError(str(exc)) from None

    def archive_policy(self, name: str) -> ArchivePolicy:
        """``GET /v1/archive_policy/{name}``: the resolutions the policy keeps."""
        try:
            return parse_archive_policy(self._call("GET", f"/v1/archive_policy/{name}"),
                                        where=f"gnocchi archive policy {name}")
        except DataFormatError as exc:
            raise SourceError(str(exc)) from None

    def power(self, metric_id: str, *, start: object = None, stop: object = None, granularity: float | None = None,
              aggregation: str = "mean", unit: str | None = None) -> list[EnergyRecord]:
        """Energy records of one power or energy metric: its unit and archive policy are fetched first.

        Without ``granularity`` the policy's finest is asked; a granularity the policy does not keep is
        refused before the measures are fetched.
        """
        info = self.metric(metric_id)
        policy = info.archive_policy
        if policy is None and info.archive_policy_name:
            policy = self.archive_policy(info.archive_policy_name)
        if policy is not None:
            if granularity is None:
                granularity = policy.finest_s
            elif not any(math.isclose(g, granularity) for g in policy.granularities_s):
                raise InputError(f"granularity {granularity:g} s is not kept by archive policy {policy.describe()}",
                                 field="granularity")
        points = self._call("GET", f"/v1/metric/{metric_id}/measures",
                            params=_span(start, stop, granularity, aggregation))
        try:
            return measures_to_energy(points, resource_id=info.resource_id or info.id, metric=info.name,
                                      unit=unit or info.unit or KNOWN_UNITS.get(info.name, ""),
                                      aggregation=aggregation, granularity=granularity,
                                      where=f"gnocchi measures of metric {metric_id}")
        except DataFormatError as exc:
            raise SourceError(str(exc)) from None

    def usage(self, resource_type: str = "instance", metrics: Sequence[str] = ("cpu", "memory.usage"), *,
              start: object = None, stop: object = None, granularity: float | None = None,
              aggregation: str = "mean", resource_ids: Sequence[str] = ()) -> list[UsageRecord]:
        """The named metrics of every resource of a type (or of ``resource_ids``) as usage records."""
        wanted = set(resource_ids)
        out: list[UsageRecord] = []
        for r in self.resources(resource_type):
            rid = str(r.get("id"))
            if wanted and rid not in wanted and str(r.get("original_resource_id")) not in wanted:
                continue
            links = r.get("metrics") if isinstance(r.get("metrics"), Mapping) else {}
            for name in metrics:
                metric_id = links.get(name)
                if metric_id:
                    out += self.measures(str(metric_id), start=start, stop=stop, granularity=granularity,
                                         aggregation=aggregation, resource_id=rid, metric_name=name)
        return out


def _span(start: object, stop: object, granularity: float | None, aggregation: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    begin = utc_datetime(start, where="--start") if start is not None else None
    end = utc_datetime(stop, where="--stop") if stop is not None else None
    if begin is not None and end is not None and end <= begin:
        raise InputError(f"stop {end.isoformat()} is not after start {begin.isoformat()}: give start < stop")
    if begin is not None:
        params["start"] = begin.isoformat()
    if end is not None:
        params["stop"] = end.isoformat()
    if granularity is not None:
        if not granularity > 0:
            raise InputError(f"granularity {granularity} must be a positive number of seconds")
        params["granularity"] = granularity
    if aggregation is not None:
        params["aggregation"] = aggregation
    return params
