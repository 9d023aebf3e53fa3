"""Credentials and connection settings for the carbon-intensity APIs.

Settings come from environment variables and an optional TOML file; the environment wins, so a CI
secret can override a checked-in default. The file is ``$GREENCI_CONFIG`` or
``~/.config/greenci/config.toml`` (``$XDG_CONFIG_HOME`` respected)::

    [sources.electricitymaps]
    token = "..."              # or GREENCI_ELECTRICITYMAPS_TOKEN
    url = "https://api.electricitymaps.com"

    [sources.watttime]
    username = "..."           # or GREENCI_WATTTIME_USERNAME
    password = "..."           # or GREENCI_WATTTIME_PASSWORD

    [sources.carbon-aware-sdk]
    url = "http://localhost:8080"   # or GREENCI_CARBON_AWARE_SDK_URL
    signal = "marginal"

    [http]
    timeout_s = 10
    retries = 2

    [intensity]
    max_g_per_kwh = 2500       # or GREENCI_MAX_INTENSITY_G_PER_KWH

``max_g_per_kwh`` is the plausibility bound every intensity reader (files and API answers) applies: a
value above it, like a negative or non-finite one, is refused with the file (or source), row and column,
because it is a unit mix-up or a corrupted cell rather than a grid. The default, 2,500 gCO2eq/kWh, is
well above the dirtiest grids (coal: about 1,000 direct, 1,200 life-cycle); raise it for a source in
another unit (e.g. WattTime lbs/MWh read as g/kWh) only after checking the unit.

Tokens and passwords are held as :class:`Secret`, whose ``str`` and ``repr`` are ``***``, so they
cannot leak through logs, reprs or error messages by accident; only ``.reveal()`` gives the value.
Reading settings has no side effect and nothing is read at import.
"""

from __future__ import annotations

import hmac
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from greenci.errors import ConfigError

_MASK = "***"

DEFAULT_ELECTRICITYMAPS_URL = "https://api.electricitymaps.com"
DEFAULT_WATTTIME_URL = "https://api.watttime.org"
DEFAULT_UKGRID_URL = "https://api.carbonintensity.org.uk"
#: the default plausibility bound for carbon intensity, gCO2eq/kWh (see the module docstring)
DEFAULT_MAX_INTENSITY_G_PER_KWH = 2500.0
MAX_INTENSITY_ENV = "GREENCI_MAX_INTENSITY_G_PER_KWH"


class Secret:
    """A credential whose text shows only as ``***``; call :meth:`reveal` where the value is sent."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"Secret wraps a str, got {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        """The real value: use it only to build a request, never to build a message."""
        return self._value

    def __repr__(self) -> str:
        return _MASK

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled: pass the settings, not the credential")


def as_secret(value: str | Secret | None) -> Secret | None:
    """``value`` as a Secret (None stays None), so callers may pass plain strings in code and tests."""
    if value is None or isinstance(value, Secret):
        return value
    return Secret(value)


# env var, file table, file key, attribute, kind
_FIELDS: tuple[tuple[str, str, str, str, str], ...] = (
    ("GREENCI_ELECTRICITYMAPS_TOKEN", "electricitymaps", "token", "electricitymaps_token", "secret"),
    ("GREENCI_ELECTRICITYMAPS_URL", "electricitymaps", "url", "electricitymaps_url", "url"),
    ("GREENCI_WATTTIME_USERNAME", "watttime", "username", "watttime_username", "str"),
    ("GREENCI_WATTTIME_PASSWORD", "watttime", "password", "watttime_password", "secret"),
    ("GREENCI_WATTTIME_URL", "watttime", "url", "watttime_url", "url"),
    ("GREENCI_UKGRID_URL", "ukgrid", "url", "ukgrid_url", "url"),
    ("GREENCI_CARBON_AWARE_SDK_URL", "carbon-aware-sdk", "url", "carbon_aware_sdk_url", "url"),
    ("GREENCI_CARBON_AWARE_SDK_SIGNAL", "carbon-aware-sdk", "signal", "carbon_aware_sdk_signal", "signal"),
)
_HTTP_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("GREENCI_HTTP_TIMEOUT_S", "timeout_s", "float"),
    ("GREENCI_HTTP_RETRIES", "retries", "int"),
    ("GREENCI_HTTP_BACKOFF_S", "backoff_s", "float"),
)
# env var, file key under [intensity], attribute, kind
_INTENSITY_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    (MAX_INTENSITY_ENV, "max_g_per_kwh", "max_intensity_g_per_kwh", "float"),
)
#: where each checked setting can be set, for messages: attribute -> (env var, `key` under [table])
_WHERE: dict[str, tuple[str, str, str]] = {
    **{key: (env, key, "http") for env, key, _kind in _HTTP_FIELDS},
    **{attr: (env, key, "intensity") for env, key, attr, _kind in _INTENSITY_FIELDS},
    "carbon_aware_sdk_signal": ("GREENCI_CARBON_AWARE_SDK_SIGNAL", "signal", "sources.carbon-aware-sdk"),
}
_TABLE_ALIASES = {"carbon_aware_sdk": "carbon-aware-sdk", "carbonawaresdk": "carbon-aware-sdk",
                  "uk-grid": "ukgrid", "uk_grid": "ukgrid"}


@dataclass(frozen=True)
class Settings:
    """Where each API lives and how to authenticate; build with :func:`load_settings`."""

    electricitymaps_token: Secret | None = None
    electricitymaps_url: str = DEFAULT_ELECTRICITYMAPS_URL
    watttime_username: str | None = None
    watttime_password: Secret | None = None
    watttime_url: str = DEFAULT_WATTTIME_URL
    ukgrid_url: str = DEFAULT_UKGRID_URL
    carbon_aware_sdk_url: str | None = None
    carbon_aware_sdk_signal: str = "marginal"
    timeout_s: float = 10.0
    retries: int = 2
    backoff_s: float = 0.5
    max_intensity_g_per_kwh: float = DEFAULT_MAX_INTENSITY_G_PER_KWH
    config_path: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "electricitymaps_token", as_secret(self.electricitymaps_token))
        object.__setattr__(self, "watttime_password", as_secret(self.watttime_password))
        if not self.timeout_s > 0 or not math.isfinite(self.timeout_s):
            raise ConfigError(f"HTTP timeout {self.timeout_s} s must be a number of seconds > 0: "
                              + self._where("timeout_s", "e.g. 10"))
        if self.retries < 0:
            raise ConfigError(f"HTTP retries {self.retries} must be >= 0: " + self._where("retries", "e.g. 2"))
        if not self.backoff_s >= 0 or not math.isfinite(self.backoff_s):
            raise ConfigError(f"HTTP backoff {self.backoff_s} s must be a number of seconds >= 0: "
                              + self._where("backoff_s", "e.g. 0.5"))
        if not (self.max_intensity_g_per_kwh > 0 and math.isfinite(self.max_intensity_g_per_kwh)):
            raise ConfigError(f"intensity bound {self.max_intensity_g_per_kwh} gCO2eq/kWh must be a number > 0: "
                              + self._where("max_intensity_g_per_kwh", "e.g. 2500"))
        if self.carbon_aware_sdk_signal not in ("average", "marginal"):
            raise ConfigError(
                f"carbon-aware-sdk signal {self.carbon_aware_sdk_signal!r} is unknown: "
                + self._where("carbon_aware_sdk_signal", "'marginal' (WattTime behind the SDK) or 'average' "
                              "(Electricity Maps behind the SDK)")
            )

    def _where(self, attr: str, example: str) -> str:
        """How to set ``attr``: its environment variable or its key in the config file (this one when known)."""
        env, key, table = _WHERE[attr]
        where = str(self.config_path) if self.config_path is not None else "the config file"
        return f"set {env} or `{key}` under [{table}] in {where} to {example}"

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields changed (tests, CLI flags)."""
        return replace(self, **changes)

    # ------------------------------------------------------------------ required credentials
    def require_electricitymaps_token(self) -> Secret:
        """The Electricity Maps token, or a ConfigError that says where to set it."""
        if not self.electricitymaps_token:
            raise ConfigError(_missing("Electricity Maps needs an API token",
                                       [("GREENCI_ELECTRICITYMAPS_TOKEN", "electricitymaps", "token")],
                                       self.config_path))
        return self.electricitymaps_token

    def require_watttime_credentials(self) -> tuple[str, Secret]:
        """WattTime username and password, or a ConfigError naming what is missing."""
        missing = []
        if not self.watttime_username:
            missing.append(("GREENCI_WATTTIME_USERNAME", "watttime", "username"))
        if not self.watttime_password:
            missing.append(("GREENCI_WATTTIME_PASSWORD", "watttime", "password"))
        if missing:
            raise ConfigError(_missing("WattTime needs a username and password", missing, self.config_path))
        assert self.watttime_username is not None and self.watttime_password is not None
        return self.watttime_username, self.watttime_password

    def require_carbon_aware_sdk_url(self) -> str:
        """Base URL of a running Carbon Aware SDK WebAPI (there is no public default)."""
        if not self.carbon_aware_sdk_url:
            raise ConfigError(_missing("the Carbon Aware SDK client needs the URL of a WebAPI deployment",
                                       [("GREENCI_CARBON_AWARE_SDK_URL", "carbon-aware-sdk", "url")],
                                       self.config_path))
        return self.carbon_aware_sdk_url


def _missing(what: str, items: list[tuple[str, str, str]], path: Path | None) -> str:
    where = str(path) if path is not None else "~/.config/greenci/config.toml"
    parts = [f"set {env} or `{key}` under [sources.{table}]" for env, table, key in items]
    return f"{what}: " + "; ".join(parts) + f" in {where}"


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$GREENCI_CONFIG``, else ``$XDG_CONFIG_HOME/greenci/config.toml``, else ``~/.config/...``."""
    env = os.environ if env is None else env
    if env.get("GREENCI_CONFIG"):
        return Path(env["GREENCI_CONFIG"]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "greenci" / "config.toml"


def load_settings(env: Mapping[str, str] | None = None, path: str | Path | None = None) -> Settings:
    """Settings from the config file overlaid by environment variables (env wins).

    ``env`` defaults to ``os.environ``; ``path`` to :func:`default_config_path`. A file named
    explicitly (argument or ``$GREENCI_CONFIG``) must exist; the default file is optional.
    """
    env = os.environ if env is None else env
    explicit = path is not None or bool(env.get("GREENCI_CONFIG"))
    cfg_path = Path(path).expanduser() if path is not None else default_config_path(env)
    file_values: dict[str, Any] = {}
    used_path: Path | None = None
    if cfg_path.is_file():
        file_values = _read_file(cfg_path)
        used_path = cfg_path
    elif explicit:
        raise ConfigError(f"config file {cfg_path} does not exist: create it or unset GREENCI_CONFIG")

    fields = [(env_name, f"sources.{table}", key, attr, kind) for env_name, table, key, attr, kind in _FIELDS]
    fields += [(env_name, "http", key, key, kind) for env_name, key, kind in _HTTP_FIELDS]
    fields += [(env_name, "intensity", key, attr, kind) for env_name, key, attr, kind in _INTENSITY_FIELDS]
    values: dict[str, Any] = {}
    for env_name, table, key, attr, kind in fields:
        raw = env.get(env_name)
        origin = env_name
        if raw is None or raw == "":  # an empty variable falls back to the file
            raw = file_values.get(f"{table}.{key}")
            origin = f"`{key}` under [{table}] in {used_path}"
        if raw is not None:
            values[attr] = _convert(raw, kind, origin)
    return Settings(config_path=used_path, **values)


def _convert(raw: Any, kind: str, origin: str) -> Any:
    if kind == "secret":
        if not isinstance(raw, str):
            raise ConfigError(f"{origin} must be a string")
        return Secret(raw)
    if kind in ("str", "url", "signal"):
        if not isinstance(raw, str):
            raise ConfigError(f"{origin} must be a string, got {type(raw).__name__}")
        if kind == "url" and not raw.startswith(("http://", "https://")):
            raise ConfigError(f"{origin} {raw!r} is not an http(s) URL: write e.g. https://api.example.org")
        return raw.rstrip("/") if kind == "url" else raw
    try:
        if isinstance(raw, bool):
            raise ValueError
        return int(raw) if kind == "int" else float(raw)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{origin} {raw!r} is not a {'whole ' if kind == 'int' else ''}number: "
                          f"write e.g. {'2' if kind == 'int' else '10.5'}") from None


def max_intensity_g_per_kwh(env: Mapping[str, str] | None = None) -> float:
    """The plausibility bound for carbon intensity (gCO2eq/kWh) every reader applies.

    ``GREENCI_MAX_INTENSITY_G_PER_KWH``, else ``max_g_per_kwh`` under ``[intensity]`` in the config file,
    else 2,500. Read afresh on every call (it is cheap), so a changed variable takes effect at once.
    """
    return load_settings(env).max_intensity_g_per_kwh


def bound_hint() -> str:
    """How a user raises the intensity bound, for messages."""
    return f"raise the bound with {MAX_INTENSITY_ENV} (or `max_g_per_kwh` under [intensity] in the config file)"


def _read_file(path: Path) -> dict[str, Any]:
    """The file's known keys flattened to ``sources.<table>.<key>`` / ``http.<key>``; typos refused."""
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    out: dict[str, Any] = {}
    allowed: dict[str, set[str]] = {}
    for _env, table, key, _attr, _kind in _FIELDS:
        allowed.setdefault(table, set()).add(key)
    sources = doc.get("sources", {})
    if not isinstance(sources, dict):
        raise ConfigError(f"config file {path}: `sources` must be a table of [sources.<name>] tables, e.g. "
                          "[sources.electricitymaps]")
    for name, table in sources.items():
        canonical = _TABLE_ALIASES.get(name, name)
        shown = f"[sources.{name}]" if name.strip() else f"a [sources.{name!r}] table with an empty name"
        if canonical not in allowed:
            raise ConfigError(
                f"config file {path}: {shown} is unknown: use one of "
                + ", ".join(f"[sources.{t}]" for t in sorted(allowed))
            )
        if not isinstance(table, dict):
            raise ConfigError(f"config file {path}: `{name}` under [sources] must be a table: write it as "
                              f"[sources.{canonical}] with its keys below")
        for key, value in table.items():
            if key not in allowed[canonical]:
                raise ConfigError(
                    f"config file {path}: key `{key}` under [sources.{name}] is unknown: use "
                    + ", ".join(f"`{k}`" for k in sorted(allowed[canonical]))
                )
            out[f"sources.{canonical}.{key}"] = value
    for table_name, fields in (("http", [key for _env, key, _kind in _HTTP_FIELDS]),
                               ("intensity", [key for _env, key, _attr, _kind in _INTENSITY_FIELDS])):
        table = doc.get(table_name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"config file {path}: `{table_name}` must be a table: write it as [{table_name}] "
                              "with its keys below")
        for key, value in table.items():
            if key not in fields:
                raise ConfigError(f"config file {path}: key `{key}` under [{table_name}] is unknown: use "
                                  + ", ".join(f"`{k}`" for k in sorted(fields)))
            out[f"{table_name}.{key}"] = value
    known = ("sources", "http", "intensity")
    for name, value in doc.items():
        if name not in known:
            what = f"table [{name}]" if isinstance(value, dict) else f"key `{name}` at the top"
            raise ConfigError(f"config file {path}: {what} is unknown: greenci reads "
                              + ", ".join(f"[{k}]" for k in ("sources.<name>", "http", "intensity"))
                              + "; move the setting under one of them or remove it")
    return out


__all__ = [
    "DEFAULT_ELECTRICITYMAPS_URL",
    "DEFAULT_MAX_INTENSITY_G_PER_KWH",
    "DEFAULT_UKGRID_URL",
    "DEFAULT_WATTTIME_URL",
    "Secret",
    "MAX_INTENSITY_ENV",
    "Settings",
    "as_secret",
    "bound_hint",
    "default_config_path",
    "load_settings",
    "max_intensity_g_per_kwh",
]
