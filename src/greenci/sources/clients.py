"""One interface over the carbon-intensity APIs, and a factory that builds a client by name.

The planner and the CLI ask for "history of region R over [start, end)" and "the current forecast
of R"; which API answers is configuration. Client modules are imported only when asked for, so
importing this module stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from greenci.errors import InputError

if TYPE_CHECKING:
    import httpx

    from greenci.config import Settings
    from greenci.grid import IntensitySeries

CLIENT_NAMES: tuple[str, ...] = ("electricitymaps", "watttime", "ukgrid", "carbon-aware-sdk")


@runtime_checkable
class IntensityClient(Protocol):
    """What every API client offers: a named source of history and forecasts per region."""

    name: str

    def history(self, region: str, start: object = None, end: object = None) -> IntensitySeries:
        """Intensity of ``region`` over ``[start, end)`` (times UTC; default the last 24 h)."""
        ...

    def forecast(self, region: str) -> IntensitySeries:
        """The newest forecast for ``region``."""
        ...


def make_client(name: str, settings: Settings | None = None,
                transport: httpx.BaseTransport | None = None) -> IntensityClient:
    """The client called ``name`` configured from ``settings`` (default: environment and config file).

    Missing credentials raise :class:`~greenci.errors.ConfigError` here, before any request, with
    the variable and config key to set. ``transport`` replaces the network (tests, proxies).
    """
    key = name.strip().lower().replace("_", "-") if isinstance(name, str) else name
    if key not in CLIENT_NAMES:
        raise InputError(f"intensity source {name!r} is unknown: use one of {', '.join(CLIENT_NAMES)}")
    if settings is None:
        from greenci.config import load_settings

        settings = load_settings()
    if key == "electricitymaps":
        from greenci.sources.electricitymaps_api import ElectricityMapsClient

        return ElectricityMapsClient.from_settings(settings, transport=transport)
    if key == "watttime":
        from greenci.sources.watttime_api import WattTimeClient

        return WattTimeClient.from_settings(settings, transport=transport)
    if key == "ukgrid":
        from greenci.sources.ukgrid_api import UKGridClient

        return UKGridClient.from_settings(settings, transport=transport)
    from greenci.sources.carbon_aware_sdk import CarbonAwareSDKClient

    return CarbonAwareSDKClient.from_settings(settings, transport=transport)


__all__ = ["CLIENT_NAMES", "IntensityClient", "make_client"]
