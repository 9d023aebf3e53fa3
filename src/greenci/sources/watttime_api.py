"""WattTime API v3 client: marginal operating emissions rate (MOER) per grid region.

Authentication is two-step: ``GET /login`` with HTTP basic auth returns ``{"token": ...}`` (valid
about 30 minutes), then data calls carry ``Authorization: Bearer <token>``. A 401 on a data call
means the token expired, so the client logs in again once and repeats the call.

* ``GET /v3/historical?region=&start=&end=&signal_type=co2_moer`` (at most ~32 days a request, so
  longer spans go in 30-day pieces; the end is inclusive);
* ``GET /v3/forecast?region=&signal_type=co2_moer``;

both answer ``{"data": [{"point_time", "value"}], "meta": {"region", "signal_type", "units", ...}}``.
Historical forecasts (``/v3/forecast/historical``) nest one level deeper,
``{"data": [{"generated_at", "forecast": [{"point_time", "value"}]}]}``; that shape is read too
(the newest forecast is used). Values are converted to g/kWh from ``meta.units``
(``lbs_co2_per_mwh`` x 0.45359237). ``co2_moer`` is a marginal signal, ``co2_aoer`` an average one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np

from greenci.accounting import Signal
from greenci.config import DEFAULT_WATTTIME_URL, Secret, Settings, as_secret
from greenci.errors import AuthenticationError, InputError, SourceError
from greenci.grid import IntensitySeries
from greenci.http import (
    USER_AGENT,
    HttpSession,
    HttpSourceClient,
    parse_times,
    require,
    require_list,
)
from greenci.sources.points import check_intensities, intensity_or_gap, series_from_points
from greenci.timeutil import chunks, iso, resolve_span, span_text

HISTORICAL_MAX_S = 30 * 86400
TOKEN_LIFETIME_S = 25 * 60  # WattTime tokens last 30 min; renew a little early
LBS_PER_MWH_TO_G_PER_KWH = 0.45359237
# meta.units -> factor to g/kWh
UNIT_FACTORS: dict[str, float] = {
    "lbs_co2_per_mwh": LBS_PER_MWH_TO_G_PER_KWH,
    "lb_co2_per_mwh": LBS_PER_MWH_TO_G_PER_KWH,
    "kg_co2_per_mwh": 1.0,
    "g_co2_per_kwh": 1.0,
}
SIGNAL_TYPES: dict[str, Signal] = {"co2_moer": "marginal", "co2_aoer": "average"}


class WattTimeClient(HttpSourceClient):
    """History and forecast of one WattTime region (e.g. ``CAISO_NORTH``)."""

    name = "watttime"

    def __init__(self, username: str, password: str | Secret, *, base_url: str = DEFAULT_WATTTIME_URL,
                 signal_type: str = "co2_moer", timeout_s: float = 10.0, retries: int = 2,
                 backoff_s: float = 0.5, max_backoff_s: float = 30.0,
                 transport: httpx.BaseTransport | None = None, user_agent: str = USER_AGENT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        secret = as_secret(password)
        if not username or not secret:
            raise InputError("WattTime username or password is empty: set GREENCI_WATTTIME_USERNAME and "
                             "GREENCI_WATTTIME_PASSWORD")
        if signal_type not in SIGNAL_TYPES:
            raise InputError(f"WattTime signal_type {signal_type!r} is not an emissions rate greenci reads: "
                             f"use one of {', '.join(SIGNAL_TYPES)}")
        self.username = username
        self._password = secret
        self.signal_type = signal_type
        self._token: Secret | None = None
        self._token_at = 0.0
        self._clock = clock
        http = HttpSession(
            base_url, label="watttime-api", timeout_s=timeout_s, retries=retries, backoff_s=backoff_s,
            max_backoff_s=max_backoff_s, transport=transport, user_agent=user_agent,
            auth_hint="GREENCI_WATTTIME_USERNAME / GREENCI_WATTTIME_PASSWORD (or [sources.watttime]) and "
                      "that your WattTime plan covers this region and signal",
        )
        http.add_basic_auth_secret(username, secret)
        super().__init__(http)

    @classmethod
    def from_settings(cls, settings: Settings, transport: httpx.BaseTransport | None = None) -> WattTimeClient:
        """A client from :class:`~greenci.config.Settings`; missing credentials are a ConfigError."""
        username, password = settings.require_watttime_credentials()
        return cls(username, password, base_url=settings.watttime_url, timeout_s=settings.timeout_s,
                   retries=settings.retries, backoff_s=settings.backoff_s, transport=transport)

    def __repr__(self) -> str:
        return f"WattTimeClient(username={self.username!r}, base_url={self.base_url!r})"

    # ------------------------------------------------------------------ public API
    def login(self) -> None:
        """Exchange username and password for a bearer token (done on demand; public for checks)."""
        payload = self._http.get_json("/login", auth=(self.username, self._password.reveal()))
        token = require(payload, "token", "watttime-api login")
        if not isinstance(token, str) or not token:
            raise SourceError("watttime-api login: field 'token' is empty: check the account is active")
        self._token = Secret(token)
        self._token_at = self._clock()
        self._http.add_secret(self._token)

    def history(self, region: str, start: object = None, end: object = None) -> IntensitySeries:
        """Historical MOER of ``region`` over ``[start, end)`` (default: the last 24 h), in g/kWh."""
        reg = _region(region)
        begin, stop = resolve_span(start, end)
        times: list[np.ndarray] = []
        values: list[np.ndarray] = []
        for a, b in chunks(begin, stop, HISTORICAL_MAX_S):
            payload = self._get("/v3/historical", {"region": reg, "start": iso(a), "end": iso(b),
                                                   "signal_type": self.signal_type})
            t, v = self._points(payload, reg, "historical")
            times.append(t)
            values.append(v)
        return series_from_points(reg, np.concatenate(times), np.concatenate(values),
                                  signal=SIGNAL_TYPES[self.signal_type], source=f"watttime-api:{reg}",
                                  span=span_text(begin, stop), before=stop)

    def forecast(self, region: str, horizon_hours: int | None = None) -> IntensitySeries:
        """The region's newest MOER forecast in g/kWh (``horizon_hours`` up to 72 where the plan allows)."""
        reg = _region(region)
        params: dict[str, Any] = {"region": reg, "signal_type": self.signal_type}
        if horizon_hours is not None:
            params["horizon_hours"] = int(horizon_hours)
        payload = self._get("/v3/forecast", params)
        t, v = self._points(payload, reg, "forecast")
        return series_from_points(reg, t, v, signal=SIGNAL_TYPES[self.signal_type],
                                  source=f"watttime-api:{reg}", span="in the current forecast")

    # ------------------------------------------------------------------ internals
    def _bearer(self) -> str:
        if self._token is None or self._clock() - self._token_at > TOKEN_LIFETIME_S:
            self.login()
        assert self._token is not None
        return self._token.reveal()

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        """A data call; on 401 (expired token) log in once more and repeat it."""
        token = self._bearer()
        try:
            return self._http.get_json(path, params=params, headers={"Authorization": f"Bearer {token}"})
        except AuthenticationError as exc:
            if getattr(exc, "status_code", None) != 401:
                raise
        self._token = None
        return self._http.get_json(path, params=params, headers={"Authorization": f"Bearer {self._bearer()}"})

    def _points(self, payload: Any, region: str, endpoint: str) -> tuple[np.ndarray, np.ndarray]:
        where = f"watttime-api {endpoint} for region {region}"
        data = require_list(require(payload, "data", where), where + " field 'data'")
        meta = require(payload, "meta", where)
        units = require(meta, "units", where + " field 'meta'")
        factor = UNIT_FACTORS.get(str(units).lower())
        if factor is None:
            raise SourceError(f"{where}: meta.units {units!r} is not an emissions rate greenci converts "
                              f"(known: {', '.join(UNIT_FACTORS)}): request signal_type co2_moer")
        signal_type = meta.get("signal_type") if isinstance(meta, dict) else None
        if signal_type is not None and signal_type != self.signal_type:
            raise SourceError(f"{where}: meta.signal_type is {signal_type!r}, asked for {self.signal_type!r}")
        if data and isinstance(data[0], dict) and "forecast" in data[0]:
            data = _newest_nested_forecast(data, where)
        stamps, values = [], []
        for i, item in enumerate(data):
            at = f"{where} data item {i}"
            stamps.append(require(item, "point_time", at))
            values.append(intensity_or_gap(require(item, "value", at), at + " field 'value'"))
        raw = np.asarray(values, dtype=np.float64)
        converted = raw * factor
        check_intensities(converted, lambda i: f"{where} data item {i} field 'value'",
                          (lambda i: f"{raw[i]:g} {units}") if factor != 1.0 else (lambda i: None))
        times = parse_times(stamps, where + " field 'point_time'")
        return times, converted


def _newest_nested_forecast(data: list, where: str) -> list:
    """From ``[{"generated_at", "forecast": [...]}, ...]`` the forecast generated last."""
    best, best_at = None, None
    for i, item in enumerate(data):
        at = f"{where} data item {i}"
        inner = require_list(require(item, "forecast", at), at + " field 'forecast'")
        generated = item.get("generated_at") if isinstance(item, dict) else None
        stamp = parse_times([generated], at + " field 'generated_at'")[0] if generated else None
        if best is None or (stamp is not None and (best_at is None or stamp >= best_at)):
            best, best_at = inner, stamp
    return best or []


def _region(region: str) -> str:
    if not isinstance(region, str) or not region.strip():
        raise InputError(f"region {region!r} is empty: name a WattTime region, e.g. CAISO_NORTH")
    return region.strip()


__all__ = ["HISTORICAL_MAX_S", "LBS_PER_MWH_TO_G_PER_KWH", "SIGNAL_TYPES", "UNIT_FACTORS", "WattTimeClient"]
