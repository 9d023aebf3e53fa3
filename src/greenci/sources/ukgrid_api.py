"""UK Carbon Intensity API client (NESO / National Grid, api.carbonintensity.org.uk, no key needed).

Regions are ``GB`` (national) or ``GB-<regionid>`` (1 North Scotland ... 14 South East England,
15 England, 16 Scotland, 17 Wales, 18 GB). Half-hourly data:

* national ``/intensity/{from}/{to}`` and forecast ``/intensity/{from}/fw48h`` ->
  ``{"data": [{"from", "to", "intensity": {"forecast", "actual", "index"}}]}``;
* regional ``/regional/intensity/{from}/{to}/regionid/{id}`` and
  ``/regional/intensity/{from}/fw48h/regionid/{id}`` ->
  ``{"data": {"regionid", "shortname", "data": [{"from", "to", "intensity": {"forecast", "index"},
  "generationmix": [...]}]}}``.

National history uses ``actual`` (the outturn estimate) and leaves a NaN gap where it is null; it
never substitutes the forecast, so history stays history. Regional data has no ``actual`` at all:
the published regional values are model estimates, so regional history is their ``forecast``
field with every point marked ``estimated``. Forecasts use ``forecast``. Times are the slot starts
(``from``); a range is asked one minute late because the API returns the slot that ends at
``from`` as well, and long spans go in pieces of 13 days (the API allows 14).
"""

from __future__ import annotations

import re

import httpx
import numpy as np

from greenci.config import DEFAULT_UKGRID_URL, Settings
from greenci.errors import InputError, SourceError
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
from greenci.timeutil import chunks, resolve_span, span_text, utc_now

RANGE_MAX_S = 13 * 86400
REGION_IDS = range(1, 19)
_REGION_RE = re.compile(r"^GB(?:-(\d{1,2}))?$", re.IGNORECASE)
_NUDGE = np.timedelta64(60, "s")


def parse_region(region: str) -> int | None:
    """``None`` for ``GB`` (national), the region id for ``GB-<id>``; anything else is an InputError."""
    m = _REGION_RE.match(region.strip()) if isinstance(region, str) else None
    if m is None or (m.group(1) is not None and int(m.group(1)) not in REGION_IDS):
        raise InputError(f"UK grid region {region!r} is unknown: use GB (national) or GB-1 .. GB-18 "
                         "(e.g. GB-13 London, GB-16 Scotland)")
    return None if m.group(1) is None else int(m.group(1))


def _stamp(t: np.datetime64) -> str:
    """The API's path time format, ``YYYY-MM-DDThh:mmZ``."""
    return str(np.datetime64(t, "m")) + "Z"


class UKGridClient(HttpSourceClient):
    """History and 48 h forecast for Great Britain or one of its regions; average signal."""

    name = "ukgrid"

    def __init__(self, *, base_url: str = DEFAULT_UKGRID_URL, timeout_s: float = 10.0, retries: int = 2,
                 backoff_s: float = 0.5, max_backoff_s: float = 30.0,
                 transport: httpx.BaseTransport | None = None, user_agent: str = USER_AGENT) -> None:
        super().__init__(HttpSession(
            base_url, label="ukgrid-api", timeout_s=timeout_s, retries=retries, backoff_s=backoff_s,
            max_backoff_s=max_backoff_s, transport=transport, user_agent=user_agent,
            auth_hint="the base URL (GREENCI_UKGRID_URL): the public API needs no key",
        ))

    @classmethod
    def from_settings(cls, settings: Settings, transport: httpx.BaseTransport | None = None) -> UKGridClient:
        return cls(base_url=settings.ukgrid_url, timeout_s=settings.timeout_s, retries=settings.retries,
                   backoff_s=settings.backoff_s, transport=transport)

    # ------------------------------------------------------------------ public API
    def history(self, region: str, start: object = None, end: object = None) -> IntensitySeries:
        """Half-hourly intensity over ``[start, end)`` (default: the last 24 h); see module notes."""
        rid = parse_region(region)
        name = _name(rid)
        begin, stop = resolve_span(start, end)
        items: list = []
        for a, b in chunks(begin, stop, RANGE_MAX_S):
            span = f"{_stamp(a + _NUDGE)}/{_stamp(b + _NUDGE)}"
            if rid is None:
                payload = self._http.get_json(f"/intensity/{span}")
                items.extend(self._national_items(payload))
            else:
                payload = self._http.get_json(f"/regional/intensity/{span}/regionid/{rid}")
                items.extend(self._regional_items(payload, rid))
        field = "actual" if rid is None else "forecast"
        return self._series(name, items, field, span_text(begin, stop), before=stop,
                            estimated=rid is not None)

    def forecast(self, region: str) -> IntensitySeries:
        """The next 48 h of forecast intensity from the current half-hour."""
        rid = parse_region(region)
        now = utc_now()
        slot = np.datetime64(int(now.astype(np.int64)) // 1800 * 1800, "s")
        if rid is None:
            items = self._national_items(self._http.get_json(f"/intensity/{_stamp(slot + _NUDGE)}/fw48h"))
        else:
            items = self._regional_items(
                self._http.get_json(f"/regional/intensity/{_stamp(slot + _NUDGE)}/fw48h/regionid/{rid}"), rid)
        return self._series(_name(rid), items, "forecast", "in the current 48 h forecast", estimated=False)

    # ------------------------------------------------------------------ internals
    def _national_items(self, payload: object) -> list:
        where = "ukgrid-api national intensity"
        return require_list(require(payload, "data", where), where + " field 'data'")

    def _regional_items(self, payload: object, rid: int) -> list:
        where = f"ukgrid-api regional intensity for region {rid}"
        region = require(payload, "data", where)
        if isinstance(region, list):  # some regional endpoints wrap the one region in a list
            matches = [r for r in region if isinstance(r, dict) and r.get("regionid") == rid]
            if not matches:
                raise SourceError(f"{where}: field 'data' holds no entry for regionid {rid}")
            region = matches[0]
        regionid = require(region, "regionid", where + " field 'data'")
        if regionid != rid:
            raise SourceError(f"{where}: answered for regionid {regionid!r}, asked for {rid}")
        return require_list(require(region, "data", where + " field 'data'"), where + " field 'data.data'")

    def _series(self, name: str, items: list, field: str, span: str, *, before: np.datetime64 | None = None,
                estimated: bool) -> IntensitySeries:
        where = f"ukgrid-api {name}"
        stamps, values = [], []
        for i, item in enumerate(items):
            at = f"{where} item {i}"
            stamps.append(require(item, "from", at))
            intensity = require(item, "intensity", at)
            if field == "actual" and isinstance(intensity, dict):
                value = intensity.get("actual")  # absent or null: not measured yet, a gap
            else:
                value = require(intensity, field, at + " field 'intensity'")
            values.append(intensity_or_gap(value, f"{at} field 'intensity.{field}'"))
        check_intensities(np.asarray(values, dtype=np.float64), lambda i: f"{where} item {i} field 'intensity.{field}'")
        times = parse_times(stamps, where + " field 'from'")
        flags = np.full(len(values), estimated, dtype=bool) if estimated else None
        return series_from_points(name, times, np.asarray(values, dtype=np.float64), signal="average",
                                  source=f"ukgrid-api:{name}", span=span, estimated=flags, before=before)


def _name(rid: int | None) -> str:
    return "GB" if rid is None else f"GB-{rid}"


__all__ = ["RANGE_MAX_S", "UKGridClient", "parse_region"]
