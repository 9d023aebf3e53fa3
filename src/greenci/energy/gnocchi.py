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
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import httpx

from greenci.config import Secret, as_secret
from greenci.energy.records import MAX_SPAN_S, UsageRecord, utc_datetime
from greenci.errors import AuthenticationError, InputError, SourceError
from greenci.http import USER_AGENT, HttpSession, HttpSourceClient, require, require_list

__all__ = ["KNOWN_UNITS", "SOURCE", "GnocchiClient", "KeystoneAuth", "parse_aggregates", "parse_measures"]

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
