"""One interface over the carbon-intensity APIs, and a factory that builds a client by name.

The planner and the CLI ask for "history of region R over [start, end)" and "the current forecast
of R"; which API answers is configuration. Client modules are imported only when asked for, so
importing this module stays light.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from greenci.errors import InputError

if TYPE_CHECKING:
    import httpx

    from greenci.config import Settings
    from greenci.grid import IntensitySeries



@dataclass(frozen=True)
class ClientEntry:
    """One intensity API: its name, the ``[sources.NAME]`` settings section it reads, and its class."""

    name: str
    section: str
    cls: str  # "module:Class", imported only when the client is built
    needs: str  # what a user must configure, for messages

    def build(self, settings: Settings, transport: httpx.BaseTransport | None) -> IntensityClient:
        module, name = self.cls.split(":")
        return getattr(importlib.import_module(module), name).from_settings(settings, transport=transport)


#: The registry of API clients; adding one is one module plus one line here.
CLIENTS: tuple[ClientEntry, ...] = (
    ClientEntry("electricitymaps", "electricitymaps", "greenci.sources.electricitymaps_api:ElectricityMapsClient",
                "GREENCI_ELECTRICITYMAPS_TOKEN"),
    ClientEntry("watttime", "watttime", "greenci.sources.watttime_api:WattTimeClient",
                "GREENCI_WATTTIME_USERNAME and GREENCI_WATTTIME_PASSWORD"),
    ClientEntry("ukgrid", "ukgrid", "greenci.sources.ukgrid_api:UKGridClient", "nothing (no key)"),
    ClientEntry("carbon-aware-sdk", "carbon-aware-sdk", "greenci.sources.carbon_aware_sdk:CarbonAwareSDKClient",
                "GREENCI_CARBON_AWARE_SDK_URL"),
)
CLIENT_NAMES: tuple[str, ...] = tuple(c.name for c in CLIENTS)


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
    entry = next((c for c in CLIENTS if c.name == key), None)
    if entry is None:
        raise InputError(f"intensity source {name!r} is unknown: use one of {', '.join(CLIENT_NAMES)}",
                         field="source")
    if settings is None:
        from greenci.config import load_settings

        settings = load_settings()
    return entry.build(settings, transport)


__all__ = ["CLIENTS", "CLIENT_NAMES", "ClientEntry", "IntensityClient", "make_client"]
