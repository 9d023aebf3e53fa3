"""A keep-alive connection carries at most ``max_requests`` requests, then the service closes it.

Why: with ``--workers N`` the processes share one listening socket and a connection stays with the process
that accepted it. Clients that keep their connections open (a CI runner's agent, a load balancer's pool)
would pin the load where it first landed, however uneven; one worker saturates while another idles.
Closing a connection now and then (as nginx does after 1,000 requests) lets its client reconnect, and
the process with time to spare accepts first: the load spreads by itself. The cost is one TCP handshake
per ``max_requests`` requests.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KeepAliveLimit"]

Scope = dict[str, Any]
_MAX_TRACKED = 50_000  # connections counted at once (a count forgotten early only delays one close)


class KeepAliveLimit:
    """ASGI middleware: ``Connection: close`` on every ``max_requests``-th response of a connection."""

    def __init__(self, app: Any, max_requests: int = 100) -> None:
        if max_requests < 1:
            raise ValueError("max_requests must be at least 1")
        self.app, self.max_requests = app, int(max_requests)
        self._counts: dict[tuple[Any, ...], int] = {}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        client = scope.get("client")
        if scope["type"] != "http" or not client:
            await self.app(scope, receive, send)
            return
        key = (*client, *(scope.get("server") or ()))
        n = self._counts.get(key, 0) + 1
        if n < self.max_requests:
            if len(self._counts) >= _MAX_TRACKED:
                self._counts.clear()
            self._counts[key] = n
            await self.app(scope, receive, send)
            return
        self._counts.pop(key, None)

        async def closing(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)
