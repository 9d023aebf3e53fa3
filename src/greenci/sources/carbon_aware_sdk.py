"""Green Software Foundation Carbon Aware SDK WebAPI client, and a reader for its saved JSON.

The SDK is a service you deploy (there is no public instance), fed by WattTime or Electricity Maps;
it answers in g/kWh:

* ``GET /emissions/bylocation?location=&time=&toTime=`` -> ``[{"location", "time", "rating",
  "duration"}]`` (``duration`` is a .NET TimeSpan, ``"00:05:00"`` or ``"1.00:00:00"``; ISO 8601
  ``"PT5M"`` and plain minutes are read too);
* ``GET /emissions/forecasts/current?location=`` -> ``[{"location", "dataStartAt", "dataEndAt",
  "windowSize", "optimalDataPoints": [...], "forecastData": [{"location", "timestamp", "duration",
  "value"}]}]`` (``duration`` in minutes).

Which signal the numbers are depends on the SDK's data source, which the API does not say: WattTime
gives marginal rates, Electricity Maps average ones. The client takes it from settings
(``GREENCI_CARBON_AWARE_SDK_SIGNAL``, default ``marginal``) so the label stays honest.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from greenci.accounting import Signal, check_signal
from greenci.config import Settings
from greenci.errors import DataFormatError, InputError, SourceError
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
from greenci.timeutil import iso, resolve_span, span_text

_TIMESPAN_RE = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?$")
_ISO_DURATION_RE = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration_s(value: Any, where: str = "duration") -> float:
    """Seconds from a .NET TimeSpan (``"00:05:00"``, ``"1.02:00:00"``), ISO 8601 (``"PT5M"``) or minutes."""
    if isinstance(value, bool):
        raise SourceError(f"{where}: expected a duration, got a boolean")
    if isinstance(value, (int, float)):
        seconds = float(value) * 60.0  # the WebAPI's forecast DTOs give whole minutes
    elif isinstance(value, str):
        text = value.strip()
        m = _TIMESPAN_RE.match(text)
        if m:
            days, hours, minutes, secs, frac = m.groups()
            seconds = (int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(secs)
                       + (float("0." + frac) if frac else 0.0))
        else:
            m = _ISO_DURATION_RE.match(text.upper())
            if not m or text.upper() in ("P", "PT") or text.upper().endswith("T"):
                raise SourceError(f"{where}: {value!r} is not a duration: expected e.g. '00:05:00' or 'PT5M'")
            parts = {k: float(v) if v else 0.0 for k, v in m.groupdict().items()}
            seconds = parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
    else:
        raise SourceError(f"{where}: expected a duration, got {type(value).__name__}")
    if not seconds > 0:
        raise SourceError(f"{where}: duration {value!r} must be positive")
    return seconds


class CarbonAwareSDKClient(HttpSourceClient):
    """Emissions history and current forecast for one SDK location (e.g. ``eastus``, ``westeurope``)."""

    name = "carbon-aware-sdk"

    def __init__(self, base_url: str, *, signal: Signal = "marginal", timeout_s: float = 10.0,
                 retries: int = 2, backoff_s: float = 0.5, max_backoff_s: float = 30.0,
                 transport: httpx.BaseTransport | None = None, user_agent: str = USER_AGENT) -> None:
        self.signal: Signal = check_signal(signal)
        super().__init__(HttpSession(
            base_url, label="carbon-aware-sdk", timeout_s=timeout_s, retries=retries, backoff_s=backoff_s,
            max_backoff_s=max_backoff_s, transport=transport, user_agent=user_agent,
            auth_hint="the WebAPI deployment at GREENCI_CARBON_AWARE_SDK_URL (it should need no credentials)",
        ))

    @classmethod
    def from_settings(cls, settings: Settings,
                      transport: httpx.BaseTransport | None = None) -> CarbonAwareSDKClient:
        """A client from settings; a missing WebAPI URL is a ConfigError."""
        return cls(settings.require_carbon_aware_sdk_url(), signal=check_signal(settings.carbon_aware_sdk_signal),
                   timeout_s=settings.timeout_s, retries=settings.retries, backoff_s=settings.backoff_s,
                   transport=transport)

    def history(self, region: str, start: object = None, end: object = None) -> IntensitySeries:
        """Observed emissions of ``region`` over ``[start, end)`` (default: the last 24 h)."""
        location = _location(region)
        begin, stop = resolve_span(start, end)
        payload = self._http.get_json("/emissions/bylocation",
                                      params={"location": location, "time": iso(begin), "toTime": iso(stop)})
        return emissions_series(payload, region=location, signal=self.signal,
                                source=f"carbon-aware-sdk:{location}", span=span_text(begin, stop), before=stop)

    def forecast(self, region: str) -> IntensitySeries:
        """The most recent forecast the SDK holds for ``region``."""
        location = _location(region)
        payload = self._http.get_json("/emissions/forecasts/current", params={"location": location})
        return forecast_series(payload, region=location, signal=self.signal,
                               source=f"carbon-aware-sdk:{location}")


# ====================================================================== shared parsing
def emissions_series(payload: Any, *, region: str, signal: Signal, source: str, span: str = "",
                     before: np.datetime64 | None = None) -> IntensitySeries:
    """``[{"location", "time", "rating", "duration"}]`` as a series (other locations are left out)."""
    where = f"{source} emissions"
    items = require_list(payload, where)
    items = _for_location(items, region, "location", where)
    times, values = _points(items, "time", "rating", where, f"{where} item")
    return series_from_points(region, times, values, signal=signal, source=source,
                              span=span or "in the response", before=before)


def forecast_series(payload: Any, *, region: str, signal: Signal, source: str) -> IntensitySeries:
    """The ``forecastData`` of the forecast for ``region`` (a list of forecasts or one forecast object)."""
    where = f"{source} forecast"
    forecasts = [payload] if isinstance(payload, dict) else require_list(payload, where)
    if not forecasts:
        raise SourceError(f"{source}: no data for {region}: the SDK returned no forecast")
    chosen = _for_location(forecasts, region, "location", where)
    if len(chosen) != 1:
        names = sorted({str(f.get("location")) for f in chosen if isinstance(f, dict)})
        raise SourceError(f"{where}: {len(chosen)} forecasts ({', '.join(names)}) and none is for {region!r}")
    points = require_list(require(chosen[0], "forecastData", where), where + " field 'forecastData'")
    times, values = _points(points, "timestamp", "value", where, f"{where} forecastData item")
    return series_from_points(region, times, values, signal=signal, source=source, span="in the current forecast")


def _points(items: list, time_key: str, value_key: str, where: str, item_where: str) -> tuple[np.ndarray, np.ndarray]:
    """Times and values of SDK data points; a bad ``duration`` is refused even though only steps are used."""
    stamps, values = [], []
    for i, item in enumerate(items):
        at = f"{item_where} {i}"
        stamps.append(require(item, time_key, at))
        values.append(intensity_or_gap(require(item, value_key, at), f"{at} field '{value_key}'"))
        if isinstance(item, dict) and item.get("duration") is not None:
            parse_duration_s(item["duration"], at + " field 'duration'")
    out = np.asarray(values, dtype=np.float64)
    check_intensities(out, lambda i: f"{item_where} {i} field '{value_key}'")
    return parse_times(stamps, f"{where} field '{time_key}'"), out


def _for_location(items: list, region: str, key: str, where: str) -> list:
    """Items for ``region`` when names match; all items when the SDK reports one other name."""
    names = {str(it.get(key)) for it in items if isinstance(it, dict) and it.get(key) is not None}
    if len(names) <= 1:
        return items
    wanted = region.lower()
    picked = [it for it in items if isinstance(it, dict) and str(it.get(key, "")).lower() == wanted]
    if not picked:
        raise SourceError(f"{where}: locations {', '.join(sorted(names))} and none is {region!r}: "
                          "give one of them as the region", field="region")
    return picked


def _location(region: str) -> str:
    if not isinstance(region, str) or not region.strip():
        raise InputError(f"location {region!r} is empty: name a Carbon Aware SDK location, e.g. eastus")
    return region.strip()


def read_carbon_aware_json(path: str | Path, *, region: str | None = None,
                           signal: Signal = "marginal") -> IntensitySeries:
    """A series from WebAPI JSON saved to a file: an emissions list or a forecast (list or object).

    ``region`` picks one location when the file holds several; by default the file's only location.
    """
    p = Path(path)
    try:
        payload = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFormatError("file not found: give the path of a saved Carbon Aware SDK JSON answer",
                              path=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"cannot be read ({exc})", path=str(p)) from None
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"is not JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}",
                              path=str(p)) from None
    check_signal(signal)
    records = [payload] if isinstance(payload, dict) else payload
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        raise DataFormatError("expected a JSON array of emissions or forecast objects from the Carbon Aware "
                              "SDK WebAPI (/emissions/bylocation or /emissions/forecasts/current)", path=str(p))
    is_forecast = "forecastData" in records[0]
    if region is None:
        names = sorted({str(r.get("location")) for r in records if r.get("location") is not None})
        if len(names) > 1:
            raise DataFormatError(f"holds locations {', '.join(names)}: pick one of them (region)", path=str(p),
                                  field="region")
        if not names:
            raise DataFormatError("has no 'location' field: name the series' location (region)", path=str(p),
                                  field="region")
        region = names[0]
    source = f"carbon-aware-sdk-file:{p.name}"
    try:
        if is_forecast:
            return forecast_series(records, region=region, signal=signal, source=source)
        return emissions_series(records, region=region, signal=signal, source=source)
    except SourceError as exc:
        raise DataFormatError(str(exc), path=str(p)) from None


__all__ = ["CarbonAwareSDKClient", "emissions_series", "forecast_series", "parse_duration_s",
           "read_carbon_aware_json"]
