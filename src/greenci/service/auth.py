"""Tenants, API tokens and scopes, and a rate limit per token.

A token is ``gci_<id>_<secret>``: the id finds its row, the secret is checked against a SHA-256 hash (the
secret is 32 random bytes, so a fast hash is enough; the plain token is shown once, when it is created,
and never stored). Scopes: ``submit`` (post jobs and report on them), ``read`` (read jobs, forecasts,
statistics), ``admin`` (every tenant's jobs). A tenant never sees or changes another tenant's jobs: they
answer 404, as if they did not exist.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import sqlalchemy as sa

from greenci.errors import InputError
from greenci.service.store import JobStore, tokens

SCOPES = ("submit", "read", "admin")
_TENANT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")

__all__ = ["SCOPES", "Caller", "RateLimiter", "TokenCache", "create_token", "list_tokens", "revoke_token",
           "verify_token"]


@dataclass(frozen=True)
class Caller:
    """Who is asking: the tenant, the token's id and scopes."""

    tenant: str
    token_id: str
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_tenant(name: str) -> str:
    if not name or len(name) > 64 or not set(name) <= _TENANT_CHARS:
        raise InputError(f"tenant {name!r} must be 1-64 characters of a-z, 0-9, '-', '_' or '.'", field="tenant")
    return name


def create_token(store: JobStore, tenant: str, scopes: tuple[str, ...] = ("submit", "read"), label: str = "") -> str:
    """A new token for ``tenant``; the only time its plain text exists."""
    check_tenant(tenant)
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise InputError(f"scopes {', '.join(bad) or '(none)'}: choose from {', '.join(SCOPES)}", field="scopes")
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with store.engine.begin() as c:
        c.execute(tokens.insert().values(id=token_id, tenant=tenant, hash=_hash(secret), scopes=",".join(scopes),
                                         label=label[:200], created_s=time.time()))
    return f"gci_{token_id}_{secret}"


def verify_token(store: JobStore, token: str) -> Caller | None:
    """The caller a token stands for, or None (unknown, malformed, revoked)."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "gci":
        return None
    with store.engine.connect() as c:
        row = c.execute(sa.select(tokens).where(tokens.c.id == parts[1])).first()
    if row is None or row.revoked_s is not None or not hmac.compare_digest(row.hash, _hash(parts[2])):
        return None
    return Caller(row.tenant, row.id, frozenset(row.scopes.split(",")))


def list_tokens(store: JobStore) -> list[dict]:
    with store.engine.connect() as c:
        return [{"id": r.id, "tenant": r.tenant, "scopes": r.scopes.split(","), "label": r.label,
                 "revoked": r.revoked_s is not None} for r in c.execute(sa.select(tokens).order_by(tokens.c.created_s))]


def revoke_token(store: JobStore, token_id: str) -> bool:
    with store.engine.begin() as c:
        done = bool(c.execute(tokens.update().where(tokens.c.id == token_id, tokens.c.revoked_s.is_(None))
                              .values(revoked_s=time.time())).rowcount)
    store.token_generation += 1  # caches of this process forget verified tokens at once
    return done


class TokenCache:
    """Verified tokens kept for ``ttl_s``: a request does not read the tokens table each time (revoking a
    token takes effect within ``ttl_s``: no answer is ever older). Unknown tokens are not kept.

    A token in use is read again *before* it expires: the first request after a random point between half
    and nine tenths of ``ttl_s`` is answered from the cache and hands the read to a background thread,
    whose answer starts a new ``ttl_s``. Why: a read in a request's own path (a worker thread that had to
    win the GIL back from the busy event loop) cost that request up to 9 ms, and with 64 clients each
    process paid it about 5 times a second, in bursts: enough to set the service's 99th percentile. The
    random point spreads the reads of tokens verified together (a fleet of clients that started together,
    or a service that just started). Only a token unseen for ``ttl_s`` (or never seen) is read while its
    request waits.
    """

    def __init__(self, store: JobStore, ttl_s: float = 10.0) -> None:
        self.store, self.ttl_s = store, float(ttl_s)
        # token -> (monotonic time to read it again, monotonic time it expires, caller)
        self._known: dict[str, tuple[float, float, Caller]] = {}
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()
        self._generation = store.token_generation
        self._reader: ThreadPoolExecutor | None = None  # one thread, started at the first refresh
        self.refreshes = 0  # reads made ahead of expiry (for the tests and the curious)

    def cached(self, token: str) -> Caller | None:
        """The caller of a token verified within ``ttl_s``; None when it must be read (:meth:`get`)."""
        now = time.monotonic()
        with self._lock:
            if self._generation != self.store.token_generation:  # a token was revoked in this process
                self._known.clear()
                self._generation = self.store.token_generation
            hit = self._known.get(token)
            if hit is None or now >= hit[1]:
                return None
            if now >= hit[0] and token not in self._refreshing:
                self._refreshing.add(token)
                if self._reader is None:
                    self._reader = ThreadPoolExecutor(1, thread_name_prefix="greenci-token-refresh")
                self._reader.submit(self._refresh, token)
            return hit[2]

    def get(self, token: str) -> Caller | None:
        """The caller a token stands for (from the cache, else read from the store), or None."""
        who = self.cached(token)
        return who if who is not None else self._read(token)

    def close(self) -> None:
        """Stop the background reads (the service's shutdown)."""
        if self._reader is not None:
            self._reader.shutdown(wait=True, cancel_futures=True)

    def _read(self, token: str) -> Caller | None:
        now = time.monotonic()
        generation = self.store.token_generation
        who = verify_token(self.store, token)
        with self._lock:
            if generation != self.store.token_generation:  # revoked while it was read: keep nothing
                return who
            if who is None:
                self._known.pop(token, None)
            else:
                if len(self._known) > 10_000:
                    self._known.clear()
                refresh_at = now + self.ttl_s * (0.5 + 0.4 * secrets.randbelow(1 << 16) / (1 << 16))
                self._known[token] = (refresh_at, now + self.ttl_s, who)
        return who

    def _refresh(self, token: str) -> None:
        try:
            self._read(token)
            self.refreshes += 1
        except Exception:  # noqa: BLE001 - the store failed: the entry expires as usual, and a request reads it
            pass
        finally:
            with self._lock:
                self._refreshing.discard(token)


class RateLimiter:
    """A token bucket per token: ``rate_per_s`` sustained, ``burst`` at once (per service process)."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate, self.burst = float(rate_per_s), float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> float:
        """0 when the request may go, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            level, last = self._buckets.get(key, (self.burst, now))
            level = min(self.burst, level + (now - last) * self.rate)
            if level >= 1:
                self._buckets[key] = (level - 1, now)
                return 0.0
            self._buckets[key] = (level, now)
            return (1 - level) / self.rate
