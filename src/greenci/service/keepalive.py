"""A keep-alive connection carries at most ``max_requests`` requests, then the service closes it.

Why: with ``--workers N`` the processes share one listening socket and a connection stays with the process
that accepted it. Clients that keep their connections open (a CI runner's agent, a load balancer's pool)
would pin the load where it first landed, however uneven; one worker saturates while another idles.
Closing a connection now and then (as nginx does after 1,000 requests) lets its client reconnect, and
the process with time to spare accepts first: the load spreads by itself. The cost is one TCP handshake
per ``max_requests`` requests.

Each connection draws its own limit, between half of ``max_requests`` and all of it. Why: clients that
connected together (a fleet that started together, a load test) would all reach the same count together
and reconnect in one burst, every ``max_requests`` requests; each reconnection lands on a process that
may not know its token (auth.TokenCache reads it while the request waits), and at 1,000 requests/s those
bursts were the service's worst milliseconds. Drawn limits spread the reconnections out after the first.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

__all__ = ["KeepAliveLimit"]

Scope = dict[str, Any]
_MAX_TRACKED = 50_000  # connections counted at once (a count forgotten early only delays one close)


class KeepAliveLimit:
    """ASGI middleware: ``Connection: close`` on the last response a connection may carry (its limit: drawn
    by ``draw(low, high)`` between ``ceil(max_requests / 2)`` and ``max_requests``, both included)."""

    def __init__(self, app: Any, max_requests: int = 100,
                 draw: Callable[[int, int], int] = random.Random().randint) -> None:
        if max_requests < 1:
            raise ValueError("max_requests must be at least 1")
        self.app, self.max_requests, self.draw = app, int(max_requests), draw
        self._counts: dict[tuple[Any, ...], tuple[int, int]] = {}  # connection -> (requests so far, its limit)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        client = scope.get("client")
        if scope["type"] != "http" or not client:
            await self.app(scope, receive, send)
            return
        key = (*client, *(scope.get("server") or ()))
        n, limit = self._counts.get(key) or (0, self.draw(-(-self.max_requests // 2), self.max_requests))
        n += 1
        if n < limit:
            if len(self._counts) >= _MAX_TRACKED:
                self._counts.clear()
            self._counts[key] = (n, limit)
            await self.app(scope, receive, send)
            return
        self._counts.pop(key, None)

        async def closing(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)
