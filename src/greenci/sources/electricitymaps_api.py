"""Electricity Maps API v3 client: average (grid-mix) carbon intensity per zone.

Endpoints (``auth-token`` header):

* ``GET /v3/carbon-intensity/history?zone=DE`` -> ``{"zone", "history": [{"zone", "carbonIntensity",
  "datetime", "updatedAt", "createdAt", "emissionFactorType", "isEstimated", "estimationMethod"}]}``,
  the last 24 hours (free tier);
* ``GET /v3/carbon-intensity/past-range?zone=&start=&end=`` -> ``{"zone", "data": [...same items]}``,
  at most 10 days per hourly request, so longer spans are fetched in pieces;
* ``GET /v3/carbon-intensity/forecast?zone=`` -> ``{"zone", "forecast": [{"carbonIntensity",
  "datetime"}], "updatedAt"}``.

Values are gCO2eq/kWh of the consumed mix (lifecycle factors unless ``emission_factor_type="direct"``);
``isEstimated`` travels in the series' ``estimated`` mask; a null intensity is a gap (NaN).
"""

from __future__ import annotations

import httpx
import numpy as np

from greenci.config import DEFAULT_ELECTRICITYMAPS_URL, Secret, Settings, as_secret
from greenci.errors import InputError
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

PAST_RANGE_MAX_S = 10 * 86400
_EMISSION_FACTOR_TYPES = ("lifecycle", "direct")


class ElectricityMapsClient(HttpSourceClient):
    """History and forecast of one Electricity Maps zone (e.g. ``DE``, ``FR``, ``US-CAL-CISO``)."""

    name = "electricitymaps"

    def __init__(self, token: str | Secret, *, base_url: str = DEFAULT_ELECTRICITYMAPS_URL,
                 timeout_s: float = 10.0, retries: int = 2, backoff_s: float = 0.5,
                 max_backoff_s: float = 30.0, emission_factor_type: str | None = None,
                 disable_estimations: bool = False, transport: httpx.BaseTransport | None = None,
                 user_agent: str = USER_AGENT) -> None:
        secret = as_secret(token)
        if not secret:
            raise InputError("Electricity Maps token is empty: set GREENCI_ELECTRICITYMAPS_TOKEN")
        if emission_factor_type is not None and emission_factor_type not in _EMISSION_FACTOR_TYPES:
            raise InputError(f"emission_factor_type {emission_factor_type!r} is unknown: use 'lifecycle' or 'direct'")
        self._token = secret
        self.emission_factor_type = emission_factor_type
        self.disable_estimations = disable_estimations
        super().__init__(HttpSession(
            base_url, label="electricitymaps-api", timeout_s=timeout_s, retries=retries, backoff_s=backoff_s,
            max_backoff_s=max_backoff_s, transport=transport, user_agent=user_agent, secrets=[secret],
            auth_hint="the token in GREENCI_ELECTRICITYMAPS_TOKEN (or [sources.electricitymaps] token) and "
                      "that your plan covers this endpoint and zone",
        ))

    @classmethod
    def from_settings(cls, settings: Settings,
                      transport: httpx.BaseTransport | None = None) -> ElectricityMapsClient:
        """A client from :class:`~greenci.config.Settings`; a missing token is a ConfigError."""
        return cls(settings.require_electricitymaps_token(), base_url=settings.electricitymaps_url,
                   timeout_s=settings.timeout_s, retries=settings.retries, backoff_s=settings.backoff_s,
                   transport=transport)

    # ------------------------------------------------------------------ public API
    def history(self, region: str, start: object = None, end: object = None) -> IntensitySeries:
        """Measured intensity of ``region``; with no span, the last 24 h from ``/history``.

        With a span, ``/past-range`` is called in pieces of at most 10 days.
        """
        zone = _zone(region)
        if start is None and end is None:
            payload = self._get("/v3/carbon-intensity/history", {"zone": zone})
            items = require_list(require(payload, "history", self._where("history", zone)),
                                 self._where("history", zone) + " field 'history'")
            return self._series(zone, items, "in the last 24 h", "history")
        begin, stop = resolve_span(start, end)
        items: list = []
        for a, b in chunks(begin, stop, PAST_RANGE_MAX_S):
            payload = self._get("/v3/carbon-intensity/past-range", {"zone": zone, "start": iso(a), "end": iso(b)})
            where = self._where("past-range", zone)
            items.extend(require_list(require(payload, "data", where), where + " field 'data'"))
        # the API's range end is inclusive; greenci spans are [start, end)
        return self._series(zone, items, span_text(begin, stop), "past-range", before=stop)

    def forecast(self, region: str) -> IntensitySeries:
        """The zone's current forecast (typically 24-72 h ahead, hourly)."""
        zone = _zone(region)
        payload = self._get("/v3/carbon-intensity/forecast", {"zone": zone})
        where = self._where("forecast", zone)
        items = require_list(require(payload, "forecast", where), where + " field 'forecast'")
        return self._series(zone, items, "in the current forecast", "forecast")

    # ------------------------------------------------------------------ internals
    def _where(self, endpoint: str, zone: str) -> str:
        return f"electricitymaps-api {endpoint} for zone {zone}"

    def _get(self, path: str, params: dict) -> object:
        params = dict(params)
        if self.emission_factor_type:
            params["emissionFactorType"] = self.emission_factor_type
        if self.disable_estimations:
            params["disableEstimations"] = "true"
        return self._http.get_json(path, params=params, headers={"auth-token": self._token.reveal()})

    def _series(self, zone: str, items: list, span: str, endpoint: str,
                before: np.datetime64 | None = None) -> IntensitySeries:
        where = self._where(endpoint, zone)
        stamps, values, estimated = [], [], []
        for i, item in enumerate(items):
            at = f"{where} item {i}"
            stamps.append(require(item, "datetime", at))
            values.append(intensity_or_gap(require(item, "carbonIntensity", at), at + " field 'carbonIntensity'"))
            estimated.append(bool(item.get("isEstimated") or False))
        check_intensities(np.asarray(values, dtype=np.float64), lambda i: f"{where} item {i} field 'carbonIntensity'")
        times = parse_times(stamps, where + " field 'datetime'")
        return series_from_points(zone, times, np.asarray(values), signal="average",
                                  source=f"electricitymaps-api:{zone}", span=span,
                                  estimated=np.asarray(estimated, dtype=bool), before=before)


def _zone(region: str) -> str:
    if not isinstance(region, str) or not region.strip():
        raise InputError(f"zone {region!r} is empty: name an Electricity Maps zone, e.g. DE or US-CAL-CISO")
    return region.strip()


__all__ = ["PAST_RANGE_MAX_S", "ElectricityMapsClient"]
