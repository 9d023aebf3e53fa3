"""The one HTTP layer every carbon-intensity API client stands on.

Why one layer: each API fails in the same few ways (bad credentials, quota, outages, slow networks,
surprising JSON), and a user should get the same clear, secret-free message whichever API it was.
:class:`HttpSession` wraps an :class:`httpx.Client` (base URL, timeout, user agent, and an optional
injected ``transport`` so tests can use a fake), retries 5xx/429 a bounded number of times with
exponential backoff, and maps every failure to :class:`~greenci.errors.SourceError` or
:class:`~greenci.errors.AuthenticationError`. The helpers below turn JSON into an
:class:`~greenci.grid.IntensitySeries` with the checks every client needs (fields present, times
parseable, sorted, deduplicated, not empty).
"""

from __future__ import annotations

import base64
import email.utils
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np

from greenci.config import Secret
from greenci.errors import AuthenticationError, InputError, SourceError

logger = logging.getLogger("greenci.http")

def package_version() -> str:
    """The installed distribution's version (package metadata), so no module imports the package face."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("greenci")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


USER_AGENT = f"greenci/{package_version()} (carbon-aware CI; python-httpx/{httpx.__version__})"
_EXCERPT_CHARS = 200
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class HttpSession:
    """An httpx client with error mapping, bounded retries and secret scrubbing.

    ``label`` names the API in every message (e.g. ``"electricitymaps-api"``); ``auth_hint`` is what
    the user should check when credentials are refused (e.g. ``"GREENCI_ELECTRICITYMAPS_TOKEN"``).
    ``sleep`` is injectable so tests never wait.
    """

    def __init__(self, base_url: str, *, label: str, timeout_s: float = 10.0, retries: int = 2,
                 backoff_s: float = 0.5, max_backoff_s: float = 30.0, user_agent: str = USER_AGENT,
                 transport: httpx.BaseTransport | None = None, headers: Mapping[str, str] | None = None,
                 secrets: Iterable[str | Secret | None] = (), auth_hint: str = "the credentials",
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InputError(f"{label}: base URL {base_url!r} is not an http(s) URL")
        if timeout_s <= 0:
            raise InputError(f"{label}: timeout_s {timeout_s} must be > 0 seconds")
        if retries < 0 or backoff_s < 0 or max_backoff_s < 0:
            raise InputError(f"{label}: retries, backoff_s and max_backoff_s must be >= 0")
        self.label = label
        self.base_url = base_url.rstrip("/")
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.auth_hint = auth_hint
        self._sleep = sleep
        self._secrets: set[str] = set()
        for s in secrets:
            self.add_secret(s)
        base_headers = {"User-Agent": user_agent, "Accept": "application/json"}
        base_headers.update(headers or {})
        self._client = httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(self.timeout_s),
                                    headers=base_headers, transport=transport, follow_redirects=False)

    # ------------------------------------------------------------------ secrets
    def add_secret(self, value: str | Secret | None) -> None:
        """Remember a value that must never appear in a message (tokens learnt at login, too)."""
        if value is None:
            return
        text = value.reveal() if isinstance(value, Secret) else str(value)
        if text:
            self._secrets.add(text)

    def add_basic_auth_secret(self, username: str, password: str | Secret) -> None:
        """Scrub a password and the base64 ``user:password`` an echoing server might send back."""
        pw = password.reveal() if isinstance(password, Secret) else password
        self.add_secret(pw)
        self.add_secret(base64.b64encode(f"{username}:{pw}".encode()).decode())

    def scrub(self, text: str) -> str:
        """``text`` with every known secret replaced by ``***`` (longest first)."""
        for s in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(s, "***")
        return text

    # ------------------------------------------------------------------ properties, lifecycle
    @property
    def host(self) -> str:
        """``host[:port]`` of the base URL, the part a user recognises in a message."""
        return httpx.URL(self.base_url).netloc.decode()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HttpSession(label={self.label!r}, base_url={self.base_url!r})"

    # ------------------------------------------------------------------ requests
    def get_json(self, path: str, *, params: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None, auth: tuple[str, str] | None = None) -> Any:
        """GET ``path`` and return its JSON body."""
        return self._json(self.request("GET", path, params=params, headers=headers, auth=auth), path)

    def post_json(self, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None,
                  headers: Mapping[str, str] | None = None, auth: tuple[str, str] | None = None) -> Any:
        """POST a JSON body to ``path`` and return the JSON answer."""
        return self._json(self.request("POST", path, json=json, params=params, headers=headers, auth=auth),
                          path)

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None, auth: tuple[str, str] | None = None,
                json: Any = None) -> httpx.Response:
        """Send one request with retries on 5xx/429/connection errors; raise mapped errors."""
        where = self._where(method, path)
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                response = self._client.request(method, path, params=_clean_params(params), headers=headers,
                                                auth=auth, json=json)
            except httpx.TimeoutException:
                raise SourceError(
                    f"{self.label}: {self.host} did not answer within {self.timeout_s:g} s (timeout) for "
                    f"{where}: check the network, or raise the timeout (GREENCI_HTTP_TIMEOUT_S)"
                ) from None
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                if attempt < self.retries:
                    self._wait(attempt, None, f"connection error ({type(exc).__name__})", where)
                    attempt += 1
                    continue
                raise SourceError(
                    f"{self.label}: cannot reach {self.host} for {where} "
                    f"({self.scrub(str(exc)) or type(exc).__name__}) after {attempt + 1} attempt(s): "
                    "check the network and the base URL"
                ) from None
            except httpx.HTTPError as exc:
                raise SourceError(f"{self.label}: request {where} failed: "
                                  f"{self.scrub(str(exc)) or type(exc).__name__}") from None
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            logger.debug("%s %s -> HTTP %d in %.0f ms", self.label, where, response.status_code, elapsed_ms)
            status = response.status_code
            if status < 300:
                return response
            if status in _RETRY_STATUSES and attempt < self.retries:
                retry_after = _retry_after_s(response.headers.get("Retry-After"))
                if retry_after is None or retry_after <= self.max_backoff_s:
                    self._wait(attempt, retry_after, f"HTTP {status}", where)
                    attempt += 1
                    continue
            raise self._status_error(response, where, attempt + 1)

    # ------------------------------------------------------------------ internals
    def _where(self, method: str, path: str) -> str:
        return self.scrub(f"{method} {path}")

    def _wait(self, attempt: int, retry_after: float | None, why: str, where: str) -> None:
        delay = min(self.max_backoff_s, self.backoff_s * (2 ** attempt))
        if retry_after is not None:
            delay = min(self.max_backoff_s, max(delay, retry_after))
        logger.warning("%s %s: %s, retry %d of %d in %.2f s", self.label, where, why, attempt + 1,
                       self.retries, delay)
        if delay > 0:
            self._sleep(delay)

    def _status_error(self, response: httpx.Response, where: str, attempts: int) -> SourceError:
        status = response.status_code
        if status in (401, 403):
            err = AuthenticationError(
                f"{self.label}: {self.host} refused the credentials (HTTP {status}) for {where}: "
                f"check {self.auth_hint}"
            )
            err.status_code = status  # type: ignore[attr-defined]  # lets a client re-login on 401 only
            return err
        if status == 429:
            retry_after = _retry_after_s(response.headers.get("Retry-After"))
            wait = (f"retry after {retry_after:g} s" if retry_after is not None
                    else "wait a while before retrying")
            return SourceError(f"{self.label}: rate limited by {self.host} (HTTP 429) for {where} after "
                               f"{attempts} attempt(s): {wait}, or lower the request rate")
        if 300 <= status < 400:
            target = self.scrub(response.headers.get("Location", "?"))
            return SourceError(f"{self.label}: {where} was redirected (HTTP {status}) to {target}: "
                               "set the API base URL to the final address")
        kind = "server error" if status >= 500 else "request refused"
        return SourceError(f"{self.label}: {kind}, HTTP {status} for {where} after {attempts} attempt(s): "
                           f"{self._excerpt(response) or '(empty body)'}")

    def _excerpt(self, response: httpx.Response) -> str:
        try:
            text = response.text
        except Exception:  # undecodable body: say so rather than fail while reporting a failure
            return "(undecodable body)"
        text = self.scrub(re.sub(r"\s+", " ", text).strip())
        return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "…"

    def _json(self, response: httpx.Response, path: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise SourceError(
                f"{self.label}: {self._where(response.request.method, path)} answered HTTP "
                f"{response.status_code} with a body that is not JSON: {self._excerpt(response) or '(empty)'}"
            ) from None


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if params is None:
        return None
    return {k: v for k, v in params.items() if v is not None}


def _retry_after_s(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None when absent or odd."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# ====================================================================== JSON shape helpers
def require(obj: Any, key: str, where: str) -> Any:
    """``obj[key]``, or a SourceError naming the missing field and the fields that were there."""
    if not isinstance(obj, Mapping):
        raise SourceError(f"{where}: expected a JSON object with field {key!r}, got {_kind(obj)}")
    if key not in obj:
        present = ", ".join(repr(k) for k in list(obj)[:8]) or "none"
        raise SourceError(f"{where}: response has no field {key!r} (fields present: {present}): "
                          "the API changed or the base URL points at another service")
    return obj[key]


def require_list(value: Any, where: str) -> list[Any]:
    """``value`` if it is a JSON array, else a SourceError saying what it was."""
    if not isinstance(value, list):
        raise SourceError(f"{where}: expected a JSON array, got {_kind(value)}")
    return value


def number_or_nan(value: Any, where: str) -> float:
    """A JSON number as float; null becomes NaN (a gap); anything else is a shape error."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SourceError(f"{where}: expected a number or null, got {_kind(value)} {str(value)[:40]!r}")
    return float(value)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def parse_times(values: Sequence[Any], where: str) -> np.ndarray:
    """ISO 8601 strings (any offset, any fraction) as UTC ``datetime64[s]``; naive means UTC."""
    import pandas as pd

    if not all(isinstance(v, str) for v in values):
        bad = next(v for v in values if not isinstance(v, str))
        raise SourceError(f"{where}: expected an ISO 8601 time string, got {_kind(bad)} {str(bad)[:40]!r}")
    try:
        parsed = pd.to_datetime(list(values), utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise SourceError(f"{where}: a time is not ISO 8601 ({exc})") from None
    if parsed.isna().any():
        raise SourceError(f"{where}: a time is empty")
    return parsed.tz_localize(None).to_numpy().astype("datetime64[s]")


class HttpSourceClient:
    """Shared lifecycle of the API clients: close the HTTP session, use as a context manager."""

    name: str = "http"

    def __init__(self, http: HttpSession) -> None:
        self._http = http

    @property
    def base_url(self) -> str:
        return self._http.base_url

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def __enter__(self) -> HttpSourceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._http.base_url!r})"


__all__ = [
    "USER_AGENT",
    "HttpSession",
    "HttpSourceClient",
    "number_or_nan",
    "parse_times",
    "require",
    "require_list",
]
